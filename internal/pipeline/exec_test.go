package pipeline

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/binfmt"
	"github.com/ctrace-dev/ctrace/internal/permission"
	"github.com/ctrace-dev/ctrace/internal/testing/ctrdtest"
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
	if _, err := exectest.Build(rootfs, "/x"); err != nil {
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
	if _, err := exectest.Build("/", dir); err != nil {
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
	if _, err := exectest.Build(rootfs, "/x"); err != nil {
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
	// Named sleep in its argv: busybox (the kernel matrix's guests)
	// runs the applet its argv[0] names, and has none by the shim's
	// name. The kernel names the process by the file.
	shim.Args[0] = "sleep"
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

// TestExecRootfsUnmounted makes runc init's exec fail for real, in a
// container of an image without glibc, and holds the event until the
// task is deleted (`ctr task rm`, as `ctr run --rm` does before it
// deletes the container): the shim has unmounted the rootfs and removed
// the bundle, the caller is long gone. Only then does the stage read it,
// which is what a busy ctrace meets when the shim wins the race. The
// header is read in the container's snapshot layers, every time, and the
// reason says so. In every other round the container is deleted too, as
// `ctr run --rm` does next, and containerd's garbage collector removes
// its snapshot's upper layer: the header is read in the image's layers.
func TestExecRootfsUnmounted(t *testing.T) {
	if os.Getenv("CTRACE_VM_GUEST") != "" {
		t.Skip("the kernel matrix's guests have no containerd (docs/kernels.md); the host suite runs this")
	}
	if missing := ctrdtest.Missing(); len(missing) > 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("missing %s", strings.Join(missing, ", "))
		}
		t.Skipf("missing %s (build/deps.sh test installs them)", strings.Join(missing, ", "))
	}
	if _, err := exec.LookPath("ctr"); err != nil {
		t.Fatal("no ctr (Debian package containerd): build/deps.sh test installs it")
	}
	d := ctrdtest.StartFor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tree, err := ctrdtest.BuildRootfs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cases, err := exectest.Build(tree, "/x")
	if err != nil {
		t.Fatal(err)
	}
	const image = "ctrace.test/exec-unmounted:latest"
	if err := d.ImportTreeAs(ctx, "default", image, tree, []string{"/bin/sh"}); err != nil {
		t.Fatal(err)
	}
	res, err := correlate.Open(ctx, correlate.Options{Address: d.Address})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Close() })
	if !res.WaitConnected(ctx) {
		t.Fatalf("the resolver did not connect to %s", d.Address)
	}

	ops, err := tracer.ParseSyscalls([]string{"execve"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tracer.Open(tracer.Options{Syscalls: ops})
	if err != nil {
		t.Fatalf("tracer: %v", err)
	}
	var mu sync.Mutex
	var held []*tracer.Event
	tctx, tcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- tr.Run(tctx, tracer.Sink{Event: func(ev *tracer.Event) {
			if ev.Proc.Comm == "runc:[2:INIT]" && ev.Failed() {
				mu.Lock()
				held = append(held, ev.Clone())
				mu.Unlock()
			}
		}})
	}()
	t.Cleanup(func() { tcancel(); <-done; _ = tr.Close() })

	// runc looks a command up before it execs it: a file that is not
	// there fails the start without an execve, and is not a case here.
	entry := map[string]bool{"crlf": true, "glibc-in-image-without-glibc": true, "foreign-machine": true, "unknown-format": true}
	ctr := func(ctx context.Context, args ...string) ([]byte, error) {
		return exec.CommandContext(ctx, "ctr", append([]string{"--address", d.Address, "--namespace", "default"}, args...)...).CombinedOutput()
	}
	const repeat = 6
	for i := range repeat {
		for _, c := range cases {
			if !entry[c.Name] {
				continue
			}
			id := fmt.Sprintf("unmounted-%s-%d", c.Name, i)
			if out, err := ctr(ctx, "run", image, id, c.Path); err == nil {
				t.Fatalf("container %s ran %s: %s", id, c.Path, out)
			}
			t.Cleanup(func() { _, _ = ctr(context.Background(), "container", "rm", id) })
			if out, err := ctr(ctx, "task", "rm", id); err != nil && !strings.Contains(string(out), "not found") {
				t.Fatalf("ctr task rm %s: %v: %s", id, err, out)
			}
			// The task is deleted: nothing is mounted at its bundle.
			if mi, err := os.ReadFile("/proc/self/mountinfo"); err != nil || strings.Contains(string(mi), "/"+id+"/rootfs") {
				t.Fatalf("%s's rootfs is still mounted after its task was deleted (%v)", id, err)
			}
			ev := heldEvent(t, &mu, &held, res, id, c.Path)
			via := permission.ViaSnapshotLayers
			if i%2 == 1 {
				// And the container is deleted, as ctr run --rm
				// does next: its upper layer goes with it, and
				// the image's layers are what is left.
				via = binfmt.ViaImageLayers
				upper := res.Resolve(ev).RootfsLayers[0]
				if out, err := ctr(ctx, "container", "rm", id); err != nil {
					t.Fatalf("ctr container rm %s: %v: %s", id, err, out)
				}
				waitGone(t, upper)
			}
			s := NewExec("/proc", "/", res.Resolve)
			k := &keep{}
			s.Link(Next{h: k})
			s.Handle(&Event{Event: ev})
			r, ok := tracer.FirstReason[*binfmt.Reason](ev)
			if !ok {
				t.Fatalf("%s: no exec reason (NoReason %q)", id, ev.NoReason)
			}
			if r.Via != via || r.Problem != c.Problem || r.File != c.File ||
				r.Interpreter != c.Interpreter || r.CRLF != c.CRLF || r.Machine != c.Machine || r.Checked != permission.CheckedAfter {
				t.Fatalf("%s: reason %+v, want %+v via %s", id, r, c, via)
			}
		}
	}
}

// waitGone waits until containerd's garbage collector has removed dir, a
// deleted container's upper layer.
func waitGone(t *testing.T, dir string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return
		}
	}
	t.Fatalf("%s is still there 30 s after its container was deleted", dir)
}

// heldEvent waits for the held failed execve of path by container id's
// runc init, and for the resolver to name the container (it keeps a
// deleted one for the events read late) with its snapshot's layers.
func heldEvent(t *testing.T, mu *sync.Mutex, held *[]*tracer.Event, res *correlate.Resolver, id, path string) *tracer.Event {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		for i, ev := range *held {
			if ev.Syscall != "execve" || len(ev.Args) == 0 || ev.Args[0].Str != path {
				continue
			}
			if c := res.Resolve(ev); c != nil && c.ID == id && len(c.RootfsLayers) > 0 {
				*held = append((*held)[:i:i], (*held)[i+1:]...)
				mu.Unlock()
				return ev
			}
		}
		mu.Unlock()
	}
	t.Fatalf("no failed execve of %s by %s's runc init, named with its snapshot's layers", path, id)
	return nil
}
