package xlat

import "testing"

func TestQuote(t *testing.T) {
	tests := map[string]string{
		"":             `""`,
		"a b":          `"a b"`,
		"q\"\\":        `"q\"\\"`,
		"\n\t\x01\xff": `"\n\t\1\377"`,
		"\x1b1\x008":   `"\0331\08"`, // an octal digit after an escape: three digits
	}
	for in, want := range tests {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}
