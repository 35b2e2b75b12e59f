package hints

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/binfmt"
	"github.com/ctrace-dev/ctrace/internal/permission"
	"github.com/ctrace-dev/ctrace/tracer"
)

// The exec rules speak only on an exec reason of their problem: an
// execve's ENOENT or ENOEXEC with another cause, or none found, gets no
// exec hint.
func TestExecHintsNeedTheReason(t *testing.T) {
	exec := func(errno unix.Errno, rs ...tracer.Reason) *tracer.Event {
		return &tracer.Event{Syscall: "execve", Family: tracer.FamilyExec, Errno: errno, Reasons: rs}
	}
	for _, ev := range []*tracer.Event{
		exec(unix.ENOENT),
		exec(unix.ENOEXEC),
		exec(unix.EACCES, &permission.Reason{Path: "/x", Need: "exec", OwnerMapped: true, MountNoexec: true}),
		exec(unix.ENOENT, &tracer.KernelLogReason{Message: "m"}),
	} {
		for _, h := range For(ev, nil) {
			t.Errorf("%v %v: hint %s", ev.Errno, ev.Reasons, h.Rule)
		}
	}
	// Each problem gets its own rule, and only it.
	for problem, rule := range map[string]string{
		binfmt.InterpreterMissing: "exec-interpreter-missing",
		binfmt.ForeignMachine:     "exec-foreign-machine",
		binfmt.UnknownFormat:      "exec-unknown-format",
	} {
		ev := exec(unix.ENOENT, &binfmt.Reason{Path: "/a", File: "/a", Problem: problem, Format: "elf", Interpreter: "/l",
			Machine: "aarch64", NodeMachine: "x86_64", Head: "x"})
		hs := For(ev, nil)
		if len(hs) != 1 || hs[0].Rule != rule {
			t.Errorf("%s: hints %+v, want %s alone", problem, hs, rule)
		}
	}
}
