// Package eventtest builds the decoded events that tests of the stages and
// sinks after the tracer feed them. It is apart from package testenv,
// which the tracer's own tests import, because it imports the tracer.
package eventtest

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/tracer"
)

// Call is a syscall of `mount` (pid 4242, uid 0) at at that failed with
// errno, or succeeded with 0, without arguments: a process's line as a
// container or the summary shows it, whatever the call.
func Call(syscall string, errno unix.Errno, at time.Time) *tracer.Event {
	return &tracer.Event{Time: at, Syscall: syscall, Ret: -int64(errno), Errno: errno,
		Proc: tracer.Proc{PID: 4242, TID: 4242, Comm: "mount"}}
}
