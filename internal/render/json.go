package render

import (
	"strconv"
	"unicode/utf8"
)

// Helpers that append JSON to a byte slice, for the event renderer: it
// writes one object per event into a reused buffer, without the
// allocations of a generic encoder. The output is what zerolog's encoder
// writes for the same calls, which the renderer used before: keys and
// strings escaped alike, a comma before every key but the first of an
// object, and invalid UTF-8 replaced by \ufffd.

// jsonSafe marks the bytes that go into a JSON string as they are.
var jsonSafe = func() (t [256]bool) {
	for i := 0x20; i <= 0x7e; i++ {
		t[i] = i != '\\' && i != '"'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a quoted JSON string.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if !jsonSafe[s[i]] {
			b = appendJSONEscaped(b, s, i)
			return append(b, '"')
		}
	}
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONEscaped appends s from i on, where the first byte that needs
// escaping is, without the closing quote; s[:i] needs none.
func appendJSONEscaped(b []byte, s string, i int) []byte {
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

// jsonKey appends a key and its colon, with a comma unless the key is the
// first of its object.
func jsonKey(b []byte, key string) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = appendJSONString(b, key)
	return append(b, ':')
}

// jsonKeyLit is jsonKey for a key that needs no escaping, given quoted
// and with its colon, as in `"pid":`: most keys are such constants, and
// are then not scanned for every event.
func jsonKeyLit(b []byte, quoted string) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	return append(b, quoted...)
}

func jsonStrLit(b []byte, quoted, v string) []byte {
	return appendJSONString(jsonKeyLit(b, quoted), v)
}

func jsonIntLit(b []byte, quoted string, v int64) []byte {
	return strconv.AppendInt(jsonKeyLit(b, quoted), v, 10)
}

func jsonUintLit(b []byte, quoted string, v uint64) []byte {
	return strconv.AppendUint(jsonKeyLit(b, quoted), v, 10)
}

func jsonBoolLit(b []byte, quoted string, v bool) []byte {
	return strconv.AppendBool(jsonKeyLit(b, quoted), v)
}

func jsonStr(b []byte, key, v string) []byte {
	return appendJSONString(jsonKey(b, key), v)
}

func jsonInt(b []byte, key string, v int64) []byte {
	return strconv.AppendInt(jsonKey(b, key), v, 10)
}

func jsonUint(b []byte, key string, v uint64) []byte {
	return strconv.AppendUint(jsonKey(b, key), v, 10)
}

func jsonNull(b []byte, key string) []byte {
	return append(jsonKey(b, key), "null"...)
}

// jsonStrs appends a list of strings; nil is [], as zerolog wrote it.
func jsonStrs(b []byte, key string, vs []string) []byte {
	b = append(jsonKey(b, key), '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, v)
	}
	return append(b, ']')
}
