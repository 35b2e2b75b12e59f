// Package jsonw appends JSON to byte slices: the event renderer and the
// reason kinds write one object per event into a reused buffer, without
// the allocations of a generic encoder. The output is what zerolog's
// encoder writes for the same calls, which the renderer used before: keys
// and strings escaped alike, a comma before every key but the first of an
// object, and invalid UTF-8 replaced by \ufffd.
package jsonw

import (
	"strconv"
	"unicode/utf8"
)

// jsonSafe marks the bytes that go into a JSON string as they are.
var jsonSafe = func() (t [256]bool) {
	for i := 0x20; i <= 0x7e; i++ {
		t[i] = i != '\\' && i != '"'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// String appends s as a quoted JSON string.
func String(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if !jsonSafe[s[i]] {
			b = appendEscaped(b, s, i)
			return append(b, '"')
		}
	}
	b = append(b, s...)
	return append(b, '"')
}

// appendEscaped appends s from i on, where the first byte that needs
// escaping is, without the closing quote; s[:i] needs none.
func appendEscaped(b []byte, s string, i int) []byte {
	b = append(b, s[:i]...)
	start := i
	for i < len(s) {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		if jsonSafe[c] {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	return append(b, s[start:]...)
}

// Key appends a key and its colon, with a comma unless the key is the
// first of its object.
func Key(b []byte, key string) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = String(b, key)
	return append(b, ':')
}

// KeyLit is Key for a key that needs no escaping, given quoted
// and with its colon, as in `"pid":`: most keys are such constants, and
// are then not scanned for every event.
func KeyLit(b []byte, quoted string) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	return append(b, quoted...)
}

// StrLit appends a key given quoted with its colon (KeyLit) and a string.
func StrLit(b []byte, quoted, v string) []byte {
	return String(KeyLit(b, quoted), v)
}

// IntLit appends a quoted key (KeyLit) and a signed number.
func IntLit(b []byte, quoted string, v int64) []byte {
	return strconv.AppendInt(KeyLit(b, quoted), v, 10)
}

// UintLit appends a quoted key (KeyLit) and an unsigned number.
func UintLit(b []byte, quoted string, v uint64) []byte {
	return strconv.AppendUint(KeyLit(b, quoted), v, 10)
}

// BoolLit appends a quoted key (KeyLit) and a boolean.
func BoolLit(b []byte, quoted string, v bool) []byte {
	return strconv.AppendBool(KeyLit(b, quoted), v)
}

// Str appends a key, escaped as needed, and a string.
func Str(b []byte, key, v string) []byte {
	return String(Key(b, key), v)
}

// Int appends a key and a signed number.
func Int(b []byte, key string, v int64) []byte {
	return strconv.AppendInt(Key(b, key), v, 10)
}

// Uint appends a key and an unsigned number.
func Uint(b []byte, key string, v uint64) []byte {
	return strconv.AppendUint(Key(b, key), v, 10)
}

// Null appends a key and null.
func Null(b []byte, key string) []byte {
	return append(Key(b, key), "null"...)
}

// Strs appends a list of strings; nil is [], as zerolog wrote it.
func Strs(b []byte, key string, vs []string) []byte {
	b = append(Key(b, key), '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = String(b, v)
	}
	return append(b, ']')
}
