package xlat

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestErrnoMessageTable(t *testing.T) {
	for e := unix.Errno(0); e < 4096; e++ {
		if got, want := ErrnoMessage(e), makeErrnoMessage(e); got != want {
			t.Fatalf("errno %d: %q, want %q", e, got, want)
		}
	}
	if got := ErrnoMessage(unix.ENOENT); got != "No such file or directory" {
		t.Fatalf("ENOENT: %q", got)
	}
}

func TestErrnoNames(t *testing.T) {
	for _, tc := range []struct {
		e    unix.Errno
		name string
	}{{unix.EPERM, "EPERM"}, {unix.EHWPOISON, "EHWPOISON"}, {600, "E600"}} {
		if got := ErrnoName(tc.e); got != tc.name {
			t.Errorf("ErrnoName(%d) = %q, want %q", tc.e, got, tc.name)
		}
		e, ok := ParseErrno(tc.name)
		if want := tc.e < 600; ok != want || (ok && e != tc.e) {
			t.Errorf("ParseErrno(%q) = %d, %v", tc.name, e, ok)
		}
	}
	if _, ok := ParseErrno("ENOSUCH"); ok {
		t.Error("ParseErrno(ENOSUCH) succeeded")
	}
	// What --errno's usage message lists: every name once, EPERM first.
	if n := ErrnoNames(); n[:6] != "EPERM," || len(n) < 500 {
		t.Errorf("ErrnoNames() = %q", n)
	}
}
