package permission

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestGoneOr: a /proc file that vanished while read is a gone process,
// anything else is the error it is.
func TestGoneOr(t *testing.T) {
	_, missing := os.ReadFile("/proc/self/nonexistent-ctrace")
	for _, tc := range []struct {
		err  error
		gone bool
	}{
		{missing, true},
		{&os.PathError{Op: "read", Path: "/proc/1/uid_map", Err: unix.ESRCH}, true},
		{&os.PathError{Op: "open", Path: "/proc/1/uid_map", Err: unix.EACCES}, false},
	} {
		if got := goneOr(tc.err); (got == ErrGone) != tc.gone {
			t.Errorf("goneOr(%v) = %v, want gone %v", tc.err, got, tc.gone)
		}
	}
}
