package permission

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/tracer"
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

// TestGoneFrom: a reaped process's /proc entry is gone; this process's,
// in the event's namespaces, is not.
func TestGoneFrom(t *testing.T) {
	reaped := exec.Command("true")
	if err := reaped.Run(); err != nil {
		t.Fatal(err)
	}
	self := &tracer.Event{Proc: tracer.Proc{MntNS: nsInode("/proc/self/ns/mnt")}}
	for _, tc := range []struct {
		dir  string
		gone bool
	}{
		{fmt.Sprintf("/proc/%d", reaped.Process.Pid), true},
		{fmt.Sprintf("/proc/%d", os.Getpid()), false},
	} {
		if got := goneFrom(tc.dir, self); got != tc.gone {
			t.Errorf("goneFrom(%s) = %v, want %v", tc.dir, got, tc.gone)
		}
	}
}
