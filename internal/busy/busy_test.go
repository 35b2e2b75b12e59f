package busy_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/busy"
	"github.com/ctrace-dev/ctrace/internal/hints"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
	"github.com/ctrace-dev/ctrace/tracer"
)

// rounds is how often each case is made: the reason must come every
// time, not most times.
const rounds = 20

// traced is the real tracer, reading this process's failing umount2 and
// rmdir calls into events.
type traced struct{ evs chan *tracer.Event }

func startTracer(t *testing.T) *traced {
	t.Helper()
	testenv.RequireRoot(t, "loading eBPF programs and mounting")
	ops, err := tracer.ParseSyscalls([]string{"umount2", "rmdir", "unlinkat"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tracer.Open(tracer.Options{Syscalls: ops, Errnos: []unix.Errno{unix.EBUSY},
		PIDs: []uint32{uint32(os.Getpid())}, IncludeSelf: true})
	if err != nil {
		t.Fatalf("tracer: %v", err)
	}
	tc := &traced{evs: make(chan *tracer.Event, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tr.Run(ctx, tracer.Sink{Event: func(ev *tracer.Event) {
			tc.evs <- ev.Clone()
		}})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := tr.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return tc
}

// next returns the next traced event of syscall on path.
func (tc *traced) next(t *testing.T, syscall, path string) *tracer.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-tc.evs:
			for _, a := range ev.Args {
				if ev.Syscall == syscall && a.Kind == tracer.KindString && a.Str == path {
					return ev
				}
			}
		case <-timeout:
			t.Fatalf("no %s of %s traced", syscall, path)
		}
	}
}

// mount mounts a tmpfs on dir, and unmounts it when the test ends.
func mount(t *testing.T, dir string, shared bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("ctrace-busy", dir, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	if shared {
		if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// hold starts a process whose working directory is dir, in a mount
// namespace of its own when propagation is set (unshare(1)'s
// --propagation: slave or private); it is killed when the test ends.
// It returns once the process is in dir.
func hold(t *testing.T, dir, propagation string) *exec.Cmd {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	script := "cd " + dir + " && touch " + ready + " && exec sleep 600"
	var cmd *exec.Cmd
	if propagation == "" {
		cmd = exec.Command("sh", "-c", script)
	} else {
		cmd = exec.Command("unshare", "-m", "--propagation", propagation, "sh", "-c", script)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; ; i++ {
		if _, err := os.Stat(ready); err == nil {
			// sh execs sleep right after: wait for the name.
			if c, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/comm"); string(c) == "sleep\n" {
				return cmd
			}
		}
		if i == 500 {
			t.Fatal("the holder did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mntNS(t *testing.T, pid int) uint64 {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(pid)+"/ns/mnt", &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// diagnose runs the finder on ev, naming the container whose task is
// the process task.
func diagnose(ev *tracer.Event, task int) *busy.Reason {
	f := busy.Finder{Proc: "/proc", Containers: func() []*correlate.Container {
		return []*correlate.Container{{ID: "holder", Namespace: "default", TaskPID: uint32(task)}}
	}}
	f.Diagnose(ev)
	r, _ := tracer.FirstReason[*busy.Reason](ev)
	return r
}

func hintOf(ev *tracer.Event) string {
	for _, h := range hints.For(ev, nil) {
		if h.Rule == "busy-mount" {
			return h.Text
		}
	}
	return ""
}

// TestUmountHeldByCwd: a tmpfs that a process has its working directory
// on; umount2 fails EBUSY and the reason names the process.
func TestUmountHeldByCwd(t *testing.T) {
	tc := startTracer(t)
	for i := range rounds {
		dir := filepath.Join(t.TempDir(), "m")
		mount(t, dir, false)
		h := hold(t, dir, "")
		if err := unix.Unmount(dir, 0); err != unix.EBUSY {
			t.Fatalf("round %d: umount2: %v, want EBUSY", i, err)
		}
		ev := tc.next(t, "umount2", dir)
		r := diagnose(ev, h.Process.Pid)
		if r == nil {
			t.Fatalf("round %d: no busy reason (%s)", i, ev.NoReason)
		}
		if len(r.Holders) != 1 || r.Holders[0].PID != h.Process.Pid || r.Holders[0].How != "cwd" || r.Holders[0].Copy ||
			r.Holders[0].Container == nil || r.Mount.FSType != "tmpfs" || r.Mount.Point != dir {
			t.Fatalf("round %d: reason %+v", i, r)
		}
		text := r.Text(ev)
		if want := "pid " + strconv.Itoa(h.Process.Pid) + " (sleep): cwd " + dir + ", container default/holder"; !strings.Contains(text, want) {
			t.Fatalf("round %d: %q lacks %q", i, text, want)
		}
		if hint := hintOf(ev); !strings.Contains(hint, "umount -l "+dir) {
			t.Fatalf("round %d: hint %q", i, hint)
		}
		_ = h.Process.Kill()
		_ = h.Wait()
	}
}

// TestUmountHeldInSlaveCopy: the mount's parent is shared, and another
// mount namespace (unshare --propagation slave) has a process on its
// copy: the node's umount2 reaches the copy and fails EBUSY, and the
// reason names that namespace's process.
func TestUmountHeldInSlaveCopy(t *testing.T) {
	tc := startTracer(t)
	for i := range rounds {
		top := t.TempDir()
		mount(t, top, true)
		dir := filepath.Join(top, "m")
		mount(t, dir, false)
		h := hold(t, dir, "slave")
		if mntNS(t, h.Process.Pid) == mntNS(t, os.Getpid()) {
			t.Fatal("the holder shares this mount namespace")
		}
		if err := unix.Unmount(dir, 0); err != unix.EBUSY {
			t.Fatalf("round %d: umount2: %v, want EBUSY", i, err)
		}
		ev := tc.next(t, "umount2", dir)
		r := diagnose(ev, h.Process.Pid)
		if r == nil {
			t.Fatalf("round %d: no busy reason (%s)", i, ev.NoReason)
		}
		if len(r.Holders) != 1 || r.Holders[0].PID != h.Process.Pid || !r.Holders[0].Copy ||
			r.Holders[0].MountNS != mntNS(t, h.Process.Pid) || r.Holders[0].Point != dir {
			t.Fatalf("round %d: reason %+v", i, r)
		}
		if hint := hintOf(ev); !strings.Contains(hint, "nsenter -t "+strconv.Itoa(h.Process.Pid)+" -m umount -l "+dir) {
			t.Fatalf("round %d: hint %q", i, hint)
		}
		_ = h.Process.Kill()
		_ = h.Wait()
	}
}

// TestRmdirOfMountPoint: a runtime process's rmdir of a directory a
// tmpfs is mounted on fails EBUSY; the reason names the mount, the
// process in a slave namespace that holds its copy (the unmount it needs
// first would fail), and a private namespace's copy, which outlives the
// unmount.
func TestRmdirOfMountPoint(t *testing.T) {
	tc := startTracer(t)
	for i := range rounds {
		top := t.TempDir()
		mount(t, top, true)
		dir := filepath.Join(top, "m")
		mount(t, dir, false)
		slave := hold(t, dir, "slave")
		private := hold(t, "/", "private")
		// containerd's os.Remove is unlinkat(AT_FDCWD, path,
		// AT_REMOVEDIR); rmdir(2) is the other way.
		call := []string{"unlinkat", "rmdir"}[i%2]
		if sysRmdir == 0 {
			call = "unlinkat"
		}
		if err := rmdirAsRuntime(dir, call == "rmdir"); err != unix.EBUSY {
			t.Fatalf("round %d: %s: %v, want EBUSY", i, call, err)
		}
		ev := tc.next(t, call, dir)
		if ev.Proc.Comm != "runc:[2:INIT]" {
			t.Fatalf("comm %q", ev.Proc.Comm)
		}
		r := diagnose(ev, private.Process.Pid)
		if r == nil {
			t.Fatalf("round %d: no busy reason (%s)", i, ev.NoReason)
		}
		if !r.Removing || r.Mount.Point != dir || len(r.Holders) != 1 || r.Holders[0].PID != slave.Process.Pid {
			t.Fatalf("round %d: reason %+v", i, r)
		}
		var found bool
		for _, c := range r.Copies {
			found = found || (c.MountNS == mntNS(t, private.Process.Pid) && c.Container != nil && c.Container.ID == "holder")
		}
		if !found {
			t.Fatalf("round %d: the private copy is not named: %+v", i, r.Copies)
		}
		if hint := hintOf(ev); !strings.HasPrefix(hint, "unmount it before removing it (umount "+dir+"), which pid "+
			strconv.Itoa(slave.Process.Pid)) {
			t.Fatalf("round %d: hint %q", i, hint)
		}
		for _, h := range []*exec.Cmd{slave, private} {
			_ = h.Process.Kill()
			_ = h.Wait()
		}
	}
}

// rmdirAsRuntime removes dir from a thread named as runc init, with
// rmdir(2) or unlinkat(2): both are traced for container runtime
// processes only.
func rmdirAsRuntime(dir string, rmdir bool) error {
	errc := make(chan error)
	go func() {
		// The thread ends with the goroutine, its name with it.
		runtime.LockOSThread()
		name := []byte("runc:[2:INIT]\x00")
		if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0); err != nil {
			errc <- err
			return
		}
		if !rmdir {
			errc <- unix.Unlinkat(unix.AT_FDCWD, dir, unix.AT_REMOVEDIR)
			return
		}
		p, err := unix.BytePtrFromString(dir)
		if err != nil {
			errc <- err
			return
		}
		if _, _, e := unix.Syscall(sysRmdir, uintptr(unsafe.Pointer(p)), 0, 0); e != 0 {
			errc <- e
			return
		}
		errc <- nil
	}()
	return <-errc
}

// TestHolderGone: when what held the mount let go before the finder
// looked, there is no reason, no hint, and --explain says why.
func TestHolderGone(t *testing.T) {
	tc := startTracer(t)
	dir := filepath.Join(t.TempDir(), "m")
	mount(t, dir, false)
	h := hold(t, dir, "")
	if err := unix.Unmount(dir, 0); err != unix.EBUSY {
		t.Fatalf("umount2: %v, want EBUSY", err)
	}
	ev := tc.next(t, "umount2", dir)
	_ = h.Process.Kill()
	_ = h.Wait()
	if r := diagnose(ev, 0); r != nil {
		t.Fatalf("reason %+v with the holder gone", r)
	}
	if !strings.Contains(ev.NoReason, "nothing held "+dir) {
		t.Errorf("NoReason %q", ev.NoReason)
	}
	if hint := hintOf(ev); hint != "" {
		t.Errorf("hint %q", hint)
	}
}
