package tracer

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestArgStringMatchesReference renders varied arguments with AppendTo
// and with the string-building code it replaced, and wants the same text.
func TestArgStringMatchesReference(t *testing.T) {
	strs := []string{"", "/etc/passwd", "q\"\\", "\n\t\r\v\f\x00\x01\x1f\x7f\x80\xff", "caf\xc3\xa9", "a, b", "..."}
	rs := func(rnd *rand.Rand) string {
		if rnd.IntN(3) == 0 {
			b := make([]byte, rnd.IntN(12))
			for i := range b {
				b[i] = byte(rnd.IntN(256))
			}
			return string(b)
		}
		return strs[rnd.IntN(len(strs))]
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		a := Arg{
			Name: "x", Kind: ArgKind(rnd.IntN(int(KindArgv) + 2)), Text: rs(rnd), Str: rs(rnd),
			Read: rnd.IntN(4) != 0, Truncated: rnd.IntN(3) == 0, Fault: rnd.IntN(5) == 0, After: rnd.IntN(6) == 0,
		}
		switch rnd.IntN(4) {
		case 0:
		case 1:
			a.Raw = 0xffffff9c
		case 2:
			a.Raw = rnd.Uint64()
		default:
			a.Raw = uint64(rnd.IntN(5))
		}
		for range rnd.IntN(4) {
			a.Argv = append(a.Argv, rs(rnd))
		}
		if rnd.IntN(2) == 0 {
			a.Bytes = []byte(rs(rnd))
		}
		for range rnd.IntN(4) {
			f := structField{Name: rs(rnd), Value: rnd.Uint64()}
			switch rnd.IntN(3) {
			case 0:
				f.Text = rs(rnd)
			case 1:
				f.Name = structMore
			}
			a.Fields = append(a.Fields, f)
		}
		if got, want := a.String(), refString(&a); got != want {
			t.Fatalf("arg %d %+v:\n got %s\nwant %s", i, a, got, want)
		}
		if got, want := string(a.AppendTo([]byte("prefix"))), "prefix"+refString(&a); got != want {
			t.Fatalf("arg %d appended: %s, want %s", i, got, want)
		}
	}
	for c := range 256 {
		s := string([]byte{byte(c), 'a', byte(c)})
		if got, want := Quote(s), refQuote(s); got != want {
			t.Fatalf("Quote(%q) = %s, want %s", s, got, want)
		}
	}
}

// refString is Arg.String as it was before it appended to a buffer.
func refString(a *Arg) string {
	switch a.Kind {
	case KindInt:
		return strconv.FormatInt(a.Int(), 10)
	case KindSize:
		return strconv.FormatUint(a.Raw, 10)
	case KindFlags, KindMode:
		return a.Text
	case KindFD:
		if a.IsATFDCWD() {
			return "AT_FDCWD"
		}
		s := strconv.FormatInt(a.Int(), 10)
		if a.Str != "" {
			s += "<" + a.Str + ">"
		}
		return s
	case KindString:
		if a.Raw == 0 {
			return "NULL"
		}
		if !a.Read || a.Fault {
			return refPtr(a.Raw)
		}
		s := refQuote(a.Str)
		if a.Truncated {
			s += "..."
		}
		return s
	case KindStruct:
		if a.Raw == 0 {
			return "NULL"
		}
		if !a.Read || a.Fault {
			return refPtr(a.Raw)
		}
		return refStruct(a.Fields)
	case KindBytes:
		if !a.Read || a.Fault {
			return refPtr(a.Raw)
		}
		s := refQuote(string(a.Bytes))
		if a.Truncated {
			s += "..."
		}
		return s
	case KindArgv:
		if a.Raw == 0 && !a.After {
			return "NULL"
		}
		if !a.Read || (a.Fault && len(a.Argv) == 0) {
			return refPtr(a.Raw)
		}
		q := make([]string, len(a.Argv))
		for i, s := range a.Argv {
			q[i] = refQuote(s)
		}
		s := "[" + strings.Join(q, ", ")
		if a.Truncated {
			s += ", ..."
		}
		return s + "]"
	}
	return refPtr(a.Raw)
}

func refPtr(v uint64) string {
	if v == 0 {
		return "NULL"
	}
	return "0x" + strconv.FormatUint(v, 16)
}

// refQuote quotes s as strace quotes C strings: printable ASCII as is, the
// usual escapes, and octal for other bytes.
func refQuote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case '\v':
			b.WriteString(`\v`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if c < ' ' || c > '~' {
				fmt.Fprintf(&b, `\%o`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

func refStruct(fs []structField) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			b.WriteString(", ")
		}
		if f.Name == structMore {
			b.WriteString(structMore)
			continue
		}
		b.WriteString(f.Name)
		b.WriteByte('=')
		if f.Text != "" {
			b.WriteString(f.Text)
		} else {
			b.WriteString(strconv.FormatUint(f.Value, 10))
		}
	}
	b.WriteByte('}')
	return b.String()
}
