package tracer

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/testing/ctrdtest"
)

// TestDefaultProfileMarksNothing runs a container's process under the
// runtime's default seccomp profile (the CRI's RuntimeDefault), as runc
// installs it, and checks that its traced calls, which the profile allows
// whatever their arguments, left no entry mark: the task has no entry
// storage at all. A control container whose profile decides openat by an
// argument shows the mark is made where it is needed. Both failures carry
// no seccomp reason: neither profile refused them.
func TestDefaultProfileMarksNothing(t *testing.T) {
	if os.Getenv("CTRACE_VM_GUEST") != "" {
		t.Skip("the kernel matrix's guests have no containerd (docs/kernels.md); the host suite runs this")
	}
	if missing := ctrdtest.Missing(); len(missing) > 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("missing %s", strings.Join(missing, ", "))
		}
		t.Skipf("missing %s (build/deps.sh test installs them)", strings.Join(missing, ", "))
	}
	if !taskMarks() {
		t.Skip("this kernel keeps entry marks in a hash map, not beside the task: nothing to look up by pidfd")
	}
	tr, col := startTracer(t, Options{})
	// What ctrace check says, found from the kernel's BTF at Open.
	if !strings.Contains(feature(tr, "seccomp").Mechanism, "none for calls the filters allow") {
		t.Skip("this kernel has no seccomp action cache (5.11+): every call of a filtered task is marked")
	}
	marks := tr.coll.Maps["entry_marks"]
	if marks == nil || marks.Type() != ebpf.TaskStorage {
		t.Fatalf("entry_marks is %v, want task storage", marks)
	}
	d := ctrdtest.StartFor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The shell's own open fails (a regular builtin's redirection: a
	// special one's would end the shell), then it becomes sleep: every
	// traced call is the container's init task's.
	const missing = "/nonexistent-ctrace-mark"
	args := []string{"/bin/sh", "-c", "true < " + missing + " 2>/dev/null; exec sleep 60"}
	for _, c := range []struct {
		name    string
		profile oci.SpecOpts
		marked  bool
	}{
		{"runtime-default", seccomp.WithDefaultProfile(), false},
		{"openat-by-argument", openatByArgument(), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := d.Run(ctx, ctrdtest.RunOptions{ID: c.name, Args: args, Keep: true, Spec: []oci.SpecOpts{c.profile}})
			if err != nil {
				t.Fatal(err)
			}
			if res.StartErr != nil {
				t.Fatalf("start: %v", res.StartErr)
			}
			defer d.Remove(ctx, "default", c.name)
			pid := int(res.Task.Pid())
			ev := col.waitFor(t, pid, func(ev *Event) bool {
				return int(ev.Proc.PID) == pid && ev.Syscall == "openat" && strings.Contains(ev.Args[1].Str, missing)
			})
			if ev.Errno != unix.ENOENT || len(ev.Reasons) != 0 {
				t.Errorf("openat: errno %v, reasons %+v; want ENOENT and none", ev.Errno, ev.Reasons)
			}
			fd, err := unix.PidfdOpen(pid, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			var mark uint32
			err = marks.Lookup(uint32(fd), &mark)
			switch {
			case c.marked && err != nil:
				t.Errorf("no entry storage for pid %d (%v), though its profile decides openat by an argument", pid, err)
			case !c.marked && err == nil:
				t.Errorf("pid %d has entry storage (mark %d), though its profile allows its traced calls whatever their arguments", pid, mark)
			case !c.marked && !errors.Is(err, ebpf.ErrKeyNotExist):
				t.Errorf("look up pid %d's entry storage: %v", pid, err)
			}
		})
	}
}

// openatByArgument is a profile that allows everything, but looks at
// openat's mode to do so: the kernel cannot tell in advance that openat
// is always let through, so ctrace marks its entries.
func openatByArgument() oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		eperm := uint(unix.EPERM)
		s.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{
				Names:    []string{"openat"},
				Action:   specs.ActErrno,
				ErrnoRet: &eperm,
				// A mode no open here passes.
				Args: []specs.LinuxSeccompArg{{Index: 3, Value: 0o7777777, Op: specs.OpEqualTo}},
			}},
		}
		return nil
	}
}
