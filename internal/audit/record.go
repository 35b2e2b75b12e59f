package audit

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Record types ctrace reads, by their names in include/uapi/linux/audit.h
// (the numbers are kernel ABI: 1300, 1302, 1307, 1320, 1327, 1400, 1423,
// 1424). The Landlock types exist since kernel 6.15.
const (
	TypeSyscall        = unix.AUDIT_SYSCALL         // the call, its number and exit
	TypePath           = unix.AUDIT_PATH            // one file the call looked up
	TypeCWD            = unix.AUDIT_CWD             // the working directory
	TypeEOE            = unix.AUDIT_EOE             // end of a multi-record event
	TypeProctitle      = unix.AUDIT_PROCTITLE       // the command line, in hex
	TypeAVC            = unix.AUDIT_AVC             // SELinux and AppArmor decisions
	TypeLandlockAccess = unix.AUDIT_LANDLOCK_ACCESS // a Landlock denial
	TypeLandlockDomain = unix.AUDIT_LANDLOCK_DOMAIN // a Landlock domain's status
)

// Bounds of one parsed record. A record the kernel sends is at most
// MAX_AUDIT_MESSAGE_LENGTH (8970) bytes; these hold more than any real
// record and stop a malformed one from costing more.
const (
	maxRecordText = 16 << 10
	maxFields     = 256
	maxWords      = 64
)

// Errors of ParseRecord.
var (
	ErrNoHeader = errors.New("record does not start with audit(SEC.MSEC:SERIAL)")
	ErrTooLarge = errors.New("record exceeds ctrace's limits")
)

// Field is one key=value pair of a record, in the order the kernel wrote
// it. Value is unquoted, and hex-encoded strings are decoded.
type Field struct {
	Key   string
	Value string
}

// Record is one audit record: one netlink message of the audit group.
type Record struct {
	Type uint16
	// Time is the event's time stamp: for records of a syscall, when
	// the call was entered, at the kernel's coarse clock resolution.
	Time time.Time
	// Serial identifies the event; all records of one event share it.
	Serial uint64
	Fields []Field
	// Words are the tokens that are not key=value, in order: SELinux
	// writes "avc: denied { mount } for" before its fields.
	Words []string
}

// Get returns the value of the first field named key.
func (r *Record) Get(key string) (string, bool) {
	for _, f := range r.Fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// get is Get without the flag.
func (r *Record) get(key string) string {
	v, _ := r.Get(key)
	return v
}

// int returns a decimal field as an integer.
func (r *Record) int(key string) (int64, bool) {
	v, ok := r.Get(key)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// ParseRecord parses the text of one audit record of type typ:
// "audit(1718000000.123:4567): key=value ...". It never panics; a record
// it cannot make sense of is an error.
func ParseRecord(typ uint16, text []byte) (Record, error) {
	r := Record{Type: typ}
	if len(text) > maxRecordText {
		return r, fmt.Errorf("%w: %d bytes of text", ErrTooLarge, len(text))
	}
	s := strings.TrimRight(string(text), "\x00\n ")
	rest, ok := strings.CutPrefix(s, "audit(")
	if !ok {
		return r, ErrNoHeader
	}
	stamp, rest, ok := strings.Cut(rest, "):")
	if !ok {
		return r, ErrNoHeader
	}
	var err error
	if r.Time, r.Serial, err = parseStamp(stamp); err != nil {
		return r, fmt.Errorf("%w: %v", ErrNoHeader, err)
	}
	if err := r.parseBody(rest); err != nil {
		return r, fmt.Errorf("type %d serial %d: %w", typ, r.Serial, err)
	}
	return r, nil
}

// parseStamp parses "SEC.MSEC:SERIAL".
func parseStamp(s string) (time.Time, uint64, error) {
	ts, serial, ok := strings.Cut(s, ":")
	if !ok {
		return time.Time{}, 0, errors.New("no serial")
	}
	sec, msec, ok := strings.Cut(ts, ".")
	if !ok || len(msec) != 3 {
		return time.Time{}, 0, fmt.Errorf("time stamp %q is not SEC.MSEC", ts)
	}
	sn, err1 := strconv.ParseInt(sec, 10, 64)
	mn, err2 := strconv.ParseUint(msec, 10, 16)
	n, err3 := strconv.ParseUint(serial, 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return time.Time{}, 0, err
	}
	if sn < 0 || sn > 1<<40 {
		return time.Time{}, 0, fmt.Errorf("seconds %d out of range", sn)
	}
	return time.Unix(sn, int64(mn)*int64(time.Millisecond)), n, nil
}

// parseBody splits the text after the header into fields and words.
// Values are unquoted "..." or '...' strings, or run to the next space;
// the kernel writes no escapes (a string that would need one is written
// in hex instead).
func (r *Record) parseBody(s string) error {
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			return nil
		}
		var tok string
		tok, s = nextToken(s)
		key, val, isField := strings.Cut(tok, "=")
		if !isField || key == "" {
			if len(r.Words) >= maxWords {
				return fmt.Errorf("%w: more than %d words", ErrTooLarge, maxWords)
			}
			r.Words = append(r.Words, tok)
			continue
		}
		if len(r.Fields) >= maxFields {
			return fmt.Errorf("%w: more than %d fields", ErrTooLarge, maxFields)
		}
		r.Fields = append(r.Fields, Field{Key: key, Value: unquote(key, val)})
	}
}

// nextToken returns the token at the start of s and what follows it. A
// quote that opens a value extends the token to the closing quote, spaces
// included; an unclosed quote runs to the end.
func nextToken(s string) (tok, rest string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ':
			return s[:i], s[i:]
		case '"', '\'':
			if i == 0 || s[i-1] == '=' {
				j := strings.IndexByte(s[i+1:], c)
				if j < 0 {
					return s, ""
				}
				i += j + 1
			}
		}
	}
	return s, ""
}

// hexKeys are the fields the kernel writes with audit_log_untrustedstring
// and friends: quoted when the string is plain, otherwise as upper-case
// hex, unquoted.
var hexKeys = map[string]bool{
	"comm": true, "exe": true, "path": true, "name": true, "cwd": true,
	"proctitle": true, "dev": true, "ocomm": true, "profile": true,
	"peer": true, "target": true, "fstype": true, "srcname": true,
	"data": true, "key": true, "info": true,
}

// unquote strips the quotes of a quoted value and decodes a hex one.
func unquote(key, v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	if v != "" && (v[0] == '"' || v[0] == '\'') {
		// An unclosed quote: keep what there is.
		return v[1:]
	}
	if hexKeys[key] && isUpperHex(v) {
		b, err := hex.DecodeString(v)
		if err == nil {
			// A command line's arguments are NUL-separated.
			return strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
		}
	}
	return v
}

func isUpperHex(s string) bool {
	if len(s) == 0 || len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}
