package xlat

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// ArgKind says how an argument's raw value is read and printed.
type ArgKind uint8

// Argument kinds. A record's fields can refine the kind: an fsconfig value
// is a string, a path or bytes depending on the command.
const (
	KindInt    ArgKind = iota // a signed int, in decimal
	KindSize                  // an unsigned size, in decimal
	KindPtr                   // a user address that ctrace does not read
	KindFlags                 // a flag set or enum, printed by name
	KindMode                  // a file mode, in octal
	KindString                // a user string
	KindFD                    // a file descriptor, with what it refers to
	KindStruct                // a user struct, decoded field by field
	KindBytes                 // raw user bytes without a known layout
	KindArgv                  // a NULL-terminated array of strings
)

// Arg is one decoded syscall argument: the value that strace prints
// between the parentheses. The tracer fills it in; AppendTo prints it.
type Arg struct {
	Name string
	Kind ArgKind
	// Raw is the register value.
	Raw uint64
	// Text is the symbolic form of a KindFlags or KindMode value.
	Text string
	// Str is the string of a KindString argument, or for KindFD what the
	// descriptor refers to ("" when unknown).
	Str string
	// Argv holds a KindArgv argument's strings.
	Argv []string
	// Fields holds a KindStruct argument's decoded fields.
	Fields []Field
	// Bytes holds a KindBytes argument.
	Bytes []byte
	// Read is set when the kernel sent the memory the argument points to
	// (or, for a descriptor, what it refers to).
	Read bool
	// Truncated marks memory cut short by one of ctrace's limits.
	Truncated bool
	// Fault marks memory the kernel could not read.
	Fault bool
	// After marks a value read from the new image after a successful exec.
	After bool
	// Unused marks an argument the call ignores, which strace leaves out
	// (open's mode without O_CREAT or O_TMPFILE).
	Unused bool
}

// Int returns the register as the C int the syscall takes.
func (a *Arg) Int() int64 { return int64(int32(uint32(a.Raw))) }

// IsATFDCWD reports whether a descriptor argument is AT_FDCWD.
func (a *Arg) IsATFDCWD() bool { return a.Kind == KindFD && a.Int() == unix.AT_FDCWD }

// String renders the argument as strace does.
func (a *Arg) String() string { return string(a.AppendTo(nil)) }

// AppendTo appends the argument as String renders it.
func (a *Arg) AppendTo(b []byte) []byte {
	switch a.Kind {
	case KindInt:
		return strconv.AppendInt(b, a.Int(), 10)
	case KindSize:
		return strconv.AppendUint(b, a.Raw, 10)
	case KindFlags, KindMode:
		return append(b, a.Text...)
	case KindFD:
		if a.IsATFDCWD() {
			return append(b, "AT_FDCWD"...)
		}
		b = strconv.AppendInt(b, a.Int(), 10)
		if a.Str != "" {
			b = append(b, '<')
			b = AppendEscaped(b, a.Str)
			b = append(b, '>')
		}
		return b
	case KindString:
		if a.Raw == 0 {
			return append(b, "NULL"...)
		}
		if !a.Read || a.Fault {
			return AppendPtr(b, a.Raw)
		}
		b = AppendQuote(b, a.Str)
		if a.Truncated {
			b = append(b, "..."...)
		}
		return b
	case KindStruct:
		if a.Raw == 0 {
			return append(b, "NULL"...)
		}
		if !a.Read || a.Fault {
			return AppendPtr(b, a.Raw)
		}
		return AppendFields(b, a.Fields)
	case KindBytes:
		if !a.Read || a.Fault {
			return AppendPtr(b, a.Raw)
		}
		b = AppendQuote(b, a.Bytes)
		if a.Truncated {
			b = append(b, "..."...)
		}
		return b
	case KindArgv:
		if a.Raw == 0 && !a.After {
			return append(b, "NULL"...)
		}
		if !a.Read || (a.Fault && len(a.Argv) == 0) {
			return AppendPtr(b, a.Raw)
		}
		b = append(b, '[')
		for i, s := range a.Argv {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = AppendQuote(b, s)
		}
		if a.Truncated {
			b = append(b, ", ..."...)
		}
		return append(b, ']')
	}
	return AppendPtr(b, a.Raw)
}

func ptr(v uint64) string { return string(AppendPtr(nil, v)) }

// AppendPtr appends a user address as strace prints one: "NULL" or hex.
func AppendPtr(b []byte, v uint64) []byte {
	if v == 0 {
		return append(b, "NULL"...)
	}
	return strconv.AppendUint(append(b, "0x"...), v, 16)
}

// Quote quotes s as strace quotes C strings: printable ASCII as is, the
// usual escapes, and octal for other bytes.
func Quote(s string) string { return string(AppendQuote(nil, s)) }

// AppendQuote appends s quoted as Quote quotes it.
func AppendQuote[S string | []byte](b []byte, s S) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s, true)
	return append(b, '"')
}

// AppendEscaped appends s as Quote writes it between the quotes, but
// without them and with '"' left alone: for the strings a text line
// prints bare (a process name, a container's name, a path in a reason, a
// kernel log line). All of them come from the traced node, where anyone
// may name a process "\x1b[2J\nFAKE": escaped, a control character can
// neither drive the reader's terminal nor start a line of its own.
func AppendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '\\' {
			return appendEscaped(append(b, s[:i]...), s[i:], false)
		}
	}
	return append(b, s...)
}

// Escaped returns s as AppendEscaped appends it.
func Escaped(s string) string { return string(AppendEscaped(nil, s)) }

// appendEscaped escapes s as strace does (string_quote in its util.c):
// the usual C escapes, and octal for other bytes, in three digits when an
// octal digit follows so that "\x1b" "1" reads back as two bytes, not one.
// Octal (ESC is \33) is strace's default, and what the arguments on the
// same line have always used; strace -x's hex would be a second notation.
// Bytes from 0x80 up are escaped too: UTF-8 names print as octal, which
// also keeps out the 8-bit controls (0x9b is CSI on some terminals).
// quote also escapes '"'.
func appendEscaped[S string | []byte](b []byte, s S, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			if quote {
				b = append(b, '\\')
			}
			b = append(b, c)
		case '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, `\n`...)
		case '\t':
			b = append(b, `\t`...)
		case '\r':
			b = append(b, `\r`...)
		case '\v':
			b = append(b, `\v`...)
		case '\f':
			b = append(b, `\f`...)
		default:
			if c >= ' ' && c <= '~' {
				b = append(b, c)
				break
			}
			b = append(b, '\\')
			if i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '7' {
				b = append(b, '0'+c>>6, '0'+c>>3&7)
			} else if c>>3 != 0 {
				if c>>6 != 0 {
					b = append(b, '0'+c>>6)
				}
				b = append(b, '0'+c>>3&7)
			}
			b = append(b, '0'+c&7)
		}
	}
	return b
}
