package hints

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/permission"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
	"github.com/ctrace-dev/ctrace/tracer"
)

// A re-exec of the test binary with childEnv set makes one failing call
// (the value says which), prints its errno and stays until its stdin
// closes, so that the caller can still be looked at through /proc.
const childEnv = "HINTS_TEST_CALL"

func TestMain(m *testing.M) {
	testenv.ChildMain(childEnv, func(spec string) string { return strconv.Itoa(int(childCall(spec))) })
	os.Exit(m.Run())
}

func childCall(spec string) unix.Errno {
	what, arg, _ := strings.Cut(spec, ":")
	var err error
	switch what {
	case "write":
		var fd int
		if fd, err = unix.Open(arg, unix.O_WRONLY, 0); err == nil {
			_ = unix.Close(fd)
		}
	case "tmpfs":
		err = unix.Mount("none", arg, "tmpfs", 0, "")
	case "overlay":
		target, data, _ := strings.Cut(arg, "|")
		err = unix.Mount("overlay", target, "overlay", 0, data)
	case "seccomp":
		if err = denyUnshare(); err == nil {
			err = unix.Unshare(unix.CLONE_NEWNS)
		}
	}
	if e, ok := err.(unix.Errno); ok {
		return e
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return unix.EINVAL
	}
	return 0
}

// denyUnshare installs a seccomp filter that refuses unshare with EPERM.
func denyUnshare() error {
	const (
		ldAbsW   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeqK     = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		retK     = unix.BPF_RET | unix.BPF_K
		retAllow = 0x7fff0000 // SECCOMP_RET_ALLOW
		retErrno = 0x00050000 // SECCOMP_RET_ERRNO
	)
	prog := []unix.SockFilter{
		{Code: ldAbsW, K: 0}, // seccomp_data.nr
		{Code: jeqK, Jf: 1, K: unix.SYS_UNSHARE},
		{Code: retK, K: retErrno | uint32(unix.EPERM)},
		{Code: retK, K: retAllow},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	const setModeFilter, flagTsync = 1, 1
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, setModeFilter, flagTsync, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return e
	}
	return nil
}

// traced runs the tracer until the test ends and returns a function that
// waits for the failed call of a pid.
func traced(t *testing.T) func(pid int, syscall, path string) *tracer.Event {
	t.Helper()
	testenv.RequireRoot(t, "loading eBPF programs")
	tr, err := tracer.Open(tracer.Options{Syscalls: nil})
	if err != nil {
		t.Fatalf("tracer: %v", err)
	}
	var mu sync.Mutex
	var evs []*tracer.Event
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tr.Run(ctx, tracer.Sink{Event: func(ev *tracer.Event) {
			mu.Lock()
			evs = append(evs, ev.Clone())
			mu.Unlock()
		}})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = tr.Close()
	})
	return func(pid int, syscall, path string) *tracer.Event {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			for _, ev := range evs {
				if int(ev.Proc.PID) == pid && ev.Syscall == syscall && ev.Failed() && hasString(ev, path) {
					mu.Unlock()
					return ev
				}
			}
			mu.Unlock()
		}
		t.Fatalf("no failed %s from pid %d", syscall, pid)
		return nil
	}
}

func hasString(ev *tracer.Event, s string) bool {
	for i := range ev.Args {
		if ev.Args[i].Kind == tracer.KindString && ev.Args[i].Str == s {
			return true
		}
	}
	return s == ""
}

// call runs a child that makes one failing call under attr and returns
// its pid once the call has failed with want.
func call(t *testing.T, spec string, attr *syscall.SysProcAttr, want unix.Errno) int {
	t.Helper()
	line, cmd := testenv.StartChild(t, childEnv, spec, attr)
	if n, _ := strconv.Atoi(line); unix.Errno(n) != want {
		t.Fatalf("%s failed with %v, want %v", spec, unix.Errno(n), want)
	}
	return cmd.Process.Pid
}

func userNS(hostID int, cloneflags uintptr) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | cloneflags,
		Credential:  &syscall.Credential{Uid: 0, Gid: 0}, // root inside
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: hostID, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: hostID, Size: 1}},
	}
}

// tempDir is a directory others may search, removed at the end.
func tempDir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ctrace-hints-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	if err := os.Chmod(d, mode); err != nil {
		t.Fatal(err)
	}
	return d
}

// explain adds the permission reason as ctrace's permission stage does,
// while the caller still runs.
func explain(t *testing.T, ev *tracer.Event) {
	t.Helper()
	c, err := permission.FromProc("/proc", ev)
	if err != nil {
		t.Fatalf("caller: %v", err)
	}
	r, why := permission.Explain(ev, c)
	if r == nil {
		t.Fatalf("no permission reason: %s", why)
	}
	ev.Reasons = append(ev.Reasons, r)
}

func only(t *testing.T, hs []Hint, rule string) Hint {
	t.Helper()
	if len(hs) != 1 || hs[0].Rule != rule {
		t.Fatalf("hints %+v, want one %s", hs, rule)
	}
	t.Logf("hint: %s", hs[0].Text)
	return hs[0]
}

func TestRulesOnRealFailures(t *testing.T) {
	wait := traced(t)

	t.Run("userns-unmapped-owner", func(t *testing.T) {
		d := tempDir(t, 0o755)
		f := filepath.Join(d, "app.conf")
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		pid := call(t, "write:"+f, userNS(100000, 0), unix.EACCES)
		ev := wait(pid, "openat", f)
		explain(t, ev)
		h := only(t, For(ev, nil), "userns-unmapped-owner")
		if !strings.Contains(h.Text, f+" is owned by host uid 0, which the caller's user namespace") || !strings.Contains(h.Text, "0 -> 100000, 1 ids") {
			t.Errorf("text: %s", h.Text)
		}
	})

	t.Run("mount-needs-init-userns", func(t *testing.T) {
		target := tempDir(t, 0o755)
		pid := call(t, "tmpfs:"+target, userNS(100000, 0), unix.EPERM)
		ev := wait(pid, "mount", target)
		h := only(t, For(ev, nil), "mount-needs-init-userns")
		if !strings.Contains(h.Text, "belongs to the initial user namespace") {
			t.Errorf("text: %s", h.Text)
		}
	})

	t.Run("seccomp-profile", func(t *testing.T) {
		pid := call(t, "seccomp", nil, unix.EPERM)
		ev := wait(pid, "unshare", "")
		h := only(t, For(ev, nil), "seccomp-profile")
		if !strings.Contains(h.Text, "refuses unshare") {
			t.Errorf("text: %s", h.Text)
		}
	})

	t.Run("overlay-lowerdir-unreadable", func(t *testing.T) {
		// As unshare -Urm as nobody: root of a user namespace that maps
		// only uid 65534, mounting an overlay whose lowerdir lies under
		// a directory only root may search.
		top := tempDir(t, 0o755)
		closed := filepath.Join(top, "closed")
		lower := filepath.Join(closed, "lower")
		var dirs []string
		for _, d := range []string{lower, filepath.Join(top, "upper"), filepath.Join(top, "work"), filepath.Join(top, "merged")} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			dirs = append(dirs, d)
		}
		if err := os.Chmod(closed, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs[1:] {
			if err := os.Chown(d, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}
		data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", dirs[0], dirs[1], dirs[2])
		pid := call(t, "overlay:"+dirs[3]+"|"+data, userNS(65534, syscall.CLONE_NEWNS), unix.EACCES)
		ev := wait(pid, "mount", dirs[3])
		explain(t, ev)
		h := only(t, For(ev, nil), "overlay-lowerdir-unreadable")
		if !strings.Contains(h.Text, "lowerdir") || !strings.Contains(h.Text, closed+" (0:0 0700) refuses search") {
			t.Errorf("text: %s", h.Text)
		}
	})
}

// No rule speaks without its evidence.
func TestNoEvidenceNoHint(t *testing.T) {
	evs := []*tracer.Event{
		{Syscall: "openat", Family: tracer.FamilyOpen, Errno: unix.EACCES},
		{Syscall: "openat", Family: tracer.FamilyOpen, Errno: unix.EACCES, Reasons: []tracer.Reason{
			&permission.Reason{Path: "/etc", Need: "write", OwnerMapped: true}}},
		{Syscall: "mount", Family: tracer.FamilyMount, Errno: unix.EPERM, Proc: tracer.Proc{UID: 1000}, Reasons: []tracer.Reason{
			&tracer.CapabilityReason{Cap: "CAP_SYS_ADMIN", UserNS: 1, CallerUserNS: 1}}},
		{Syscall: "mount", Family: tracer.FamilyMount, Errno: unix.EACCES, Reasons: []tracer.Reason{
			&permission.Reason{Arg: "target", Path: "/mnt", Need: "search", OwnerMapped: true}}},
	}
	for _, ev := range evs {
		if hs := For(ev, nil); len(hs) != 0 {
			t.Errorf("%s %v: hints %+v", ev.Syscall, ev.Reasons, hs)
		}
	}
	// runc init's mkdirat of a mount point in a rootfs over a remapped
	// snapshot, refused EACCES for another cause than an unmapped
	// owner: the permission bits against a mapped owner, or a
	// read-only rootfs; and one without any reason found.
	sn := &tracer.Snapshot{Snapshotter: "overlayfs", Key: "seeds-1", Kind: "active", Container: "seeds-1",
		Labels: map[string]string{permission.LabelUIDMapping: "0:100000:65536"}}
	uidMap := tracer.IDMap{{Inside: 0, Outside: 100000, Count: 65536}}
	c := &correlate.Container{ID: "seeds-1", Namespace: "seeds", Snapshot: sn, UIDMap: uidMap, GIDMap: uidMap}
	runcInit := func(rs ...tracer.Reason) *tracer.Event {
		return &tracer.Event{Syscall: "mkdirat", Family: tracer.FamilyRuntime, Errno: unix.EACCES,
			Proc: tracer.Proc{Comm: "runc:[2:INIT]", UID: 100000, GID: 100000}, Reasons: rs}
	}
	rootfs := "/run/containerd/io.containerd.runtime.v2.task/seeds/seeds-1/rootfs"
	for _, ev := range []*tracer.Event{
		runcInit(&permission.Reason{Path: rootfs, Need: "write", OwnerUID: 100000, Mode: 0o555, OwnerMapped: true,
			CallerUID: 100001, CallerUIDMap: uidMap, Checked: permission.CheckedAfter, Via: permission.ViaNodeRootfs, Snapshot: sn}),
		runcInit(&permission.Reason{Path: rootfs, Need: "write", OwnerMapped: true, MountRO: true,
			CallerUID: 100000, CallerUIDMap: uidMap, Checked: permission.CheckedAfter, Via: permission.ViaSnapshotLayers, Snapshot: sn}),
		runcInit(),
	} {
		if hs := For(ev, c); len(hs) != 0 {
			t.Errorf("%s %v: hints %+v", ev.Syscall, ev.Reasons, hs)
		}
	}
}
