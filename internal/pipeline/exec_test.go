package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/binfmt"
	"github.com/ctrace-dev/ctrace/internal/permission"
	"github.com/ctrace-dev/ctrace/internal/testing/exectest"
	"github.com/ctrace-dev/ctrace/tracer"
)

// A caller gone before the stage looks (a shell's child whose exec
// failed, runc init) is read through its container's rootfs; runc's
// other processes, and a caller in no known container, get no reason
// and NoReason says why.
func TestExecGoneCaller(t *testing.T) {
	gone := exec.Command("/bin/true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	rootfs := t.TempDir()
	if _, err := exectest.Build(rootfs, "/x", "/bin/true", false); err != nil {
		t.Fatal(err)
	}
	event := func(comm string) *tracer.Event {
		return &tracer.Event{Syscall: "execve", Family: tracer.FamilyExec, Errno: unix.ENOENT, Ret: -2,
			Proc: tracer.Proc{PID: uint32(gone.Process.Pid), TID: uint32(gone.Process.Pid), Comm: comm,
				MntNS: 4026532901, UserNS: 4026532900},
			Args: []tracer.Arg{{Name: "path", Kind: tracer.KindString, Raw: 1, Str: "/x/crlf.sh", Read: true}}}
	}
	ctr := &correlate.Container{ID: "c1", Known: true, Rootfs: rootfs}
	for _, tt := range []struct {
		name, comm string
		c          *correlate.Container
		why        string // "" when a reason is wanted
	}{
		{"shell in container", "sh", ctr, ""},
		{"runc init", "runc:[2:INIT]", ctr, ""},
		{"runc", "runc", ctr, "container runtime process"},
		{"container without rootfs", "sh", &correlate.Container{ID: "c1", Known: true}, "rootfs is not known"},
		{"no container", "sh", nil, "no container"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewExec("/proc", "/", func(*tracer.Event) *correlate.Container { return tt.c })
			k := &keep{}
			s.Link(Next{h: k})
			s.Handle(&Event{Event: event(tt.comm)})
			ev := k.ev.Event
			r, ok := tracer.FirstReason[*binfmt.Reason](ev)
			if tt.why != "" {
				if ok || !strings.Contains(ev.NoReason, tt.why) {
					t.Fatalf("reasons %v, NoReason %q; want none and %q", ev.Reasons, ev.NoReason, tt.why)
				}
				return
			}
			if !ok || r.Interpreter != "/bin/sh\r" || !r.CRLF || r.Via != permission.ViaContainerRootfs {
				t.Fatalf("reason %+v (NoReason %q)", r, ev.NoReason)
			}
		})
	}
}

// A gone caller whose container is not known yet (it failed in the
// container's first milliseconds) is read through its parent's root,
// when the parent runs in its namespaces with its ids.
func TestExecGoneCallerParent(t *testing.T) {
	gone := exec.Command("/bin/true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := exectest.Build("/", dir, "/bin/true", true); err != nil {
		t.Fatal(err)
	}
	ns := func(kind string) uint32 {
		var st unix.Stat_t
		if err := unix.Stat("/proc/self/ns/"+kind, &st); err != nil {
			t.Fatal(err)
		}
		return uint32(st.Ino)
	}
	ev := &tracer.Event{Syscall: "execve", Family: tracer.FamilyExec, Errno: unix.ENOENT, Ret: -2,
		Proc: tracer.Proc{PID: uint32(gone.Process.Pid), TID: uint32(gone.Process.Pid), PPID: uint32(os.Getpid()), Comm: "sh",
			UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), MntNS: ns("mnt"), UserNS: ns("user")},
		Args: []tracer.Arg{{Name: "path", Kind: tracer.KindString, Raw: 1, Str: dir + "/crlf.sh", Read: true}}}
	// In a container ctrace does not know the rootfs of yet; the host's
	// own rule (the node's root) is not taken for a container's process.
	s := NewExec("/proc", "/", func(*tracer.Event) *correlate.Container { return &correlate.Container{ID: "c1"} })
	k := &keep{}
	s.Link(Next{h: k})
	s.Handle(&Event{Event: ev})
	r, ok := tracer.FirstReason[*binfmt.Reason](k.ev.Event)
	if !ok || r.Via != binfmt.ViaParent || r.Interpreter != "/bin/sh\r" {
		t.Fatalf("reason %+v (NoReason %q)", r, k.ev.NoReason)
	}
	// A parent in other namespaces does not stand for the caller.
	ev.Reasons, ev.NoReason = nil, ""
	ev.Proc.MntNS++
	s.Handle(&Event{Event: ev})
	if _, ok := tracer.FirstReason[*binfmt.Reason](k.ev.Event); ok || !strings.Contains(k.ev.NoReason, "rootfs is not known") {
		t.Fatalf("reasons %v, NoReason %q", k.ev.Reasons, k.ev.NoReason)
	}
}

// runc init gone before containerd told of its container is read through
// its parent, the shim, whose working directory is a task bundle: the
// container's bundle is beside it.
func TestExecGoneRuncInitBeforeContainerd(t *testing.T) {
	dir := t.TempDir()
	tasks := filepath.Join(dir, "io.containerd.runtime.v2.task", "default")
	rootfs := filepath.Join(tasks, "c1", "rootfs")
	if _, err := exectest.Build(rootfs, "/x", "/bin/true", false); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tasks, "c0"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A stand-in for the shim: its name and its working directory are
	// what the stage reads of it.
	shimBin := filepath.Join(dir, "containerd-shim-runc-v2")
	b, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shimBin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	shim := exec.Command(shimBin, "60")
	shim.Dir = filepath.Join(tasks, "c0")
	if err := shim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shim.Process.Kill(); _ = shim.Wait() })
	gone := exec.Command("/bin/true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	ev := &tracer.Event{Syscall: "execve", Family: tracer.FamilyExec, Errno: unix.ENOENT, Ret: -2,
		Proc: tracer.Proc{PID: uint32(gone.Process.Pid), TID: uint32(gone.Process.Pid), PPID: uint32(shim.Process.Pid),
			Comm: "runc:[2:INIT]", MntNS: 4026532901, UserNS: 4026532900},
		Args: []tracer.Arg{{Name: "path", Kind: tracer.KindString, Raw: 1, Str: "/x/crlf.sh", Read: true}}}
	for _, tt := range []struct {
		name string
		c    *correlate.Container
		want bool
	}{
		{"named by its cgroup", &correlate.Container{ID: "c1", Namespace: "default"}, true},
		{"another container", &correlate.Container{ID: "c2", Namespace: "default"}, false},
		{"an id that leaves the directory", &correlate.Container{ID: "../default/c1", Namespace: "default"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewExec("/proc", "/", func(*tracer.Event) *correlate.Container { return tt.c })
			k := &keep{}
			s.Link(Next{h: k})
			e := *ev
			e.Reasons, e.NoReason = nil, ""
			s.Handle(&Event{Event: &e})
			r, ok := tracer.FirstReason[*binfmt.Reason](&e)
			if ok != tt.want || (ok && (r.Via != permission.ViaContainerRootfs || !r.CRLF)) {
				t.Fatalf("reason %+v (NoReason %q), want one: %v", r, e.NoReason, tt.want)
			}
		})
	}
}
