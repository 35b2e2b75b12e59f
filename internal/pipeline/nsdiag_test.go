package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/idmap"
	"github.com/ctrace-dev/ctrace/internal/nslimit"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
	"github.com/ctrace-dev/ctrace/tracer"
)

// A re-exec of the test binary with childEnv set makes one failing call
// (the value says which), prints its errno and stays until its stdin
// closes, so that ctrace can look at it as it would at a live caller.
const childEnv = "PIPELINE_TEST_CALL"

func TestMain(m *testing.M) {
	testenv.ChildMain(childEnv, func(spec string) string { return strconv.Itoa(int(childCall(spec))) })
	os.Exit(m.Run())
}

func childCall(spec string) unix.Errno {
	what, arg, _ := strings.Cut(spec, ":")
	var err error
	switch what {
	case "newuser-limit": // root of its own user namespace: lower the limit to arg, keep one, make another
		if err = os.WriteFile("/proc/sys/user/max_user_namespaces", []byte(arg), 0); err != nil {
			break
		}
		var held *exec.Cmd
		if arg != "0" {
			held = exec.Command("/proc/self/exe", "-test.run=^$")
			held.Env = append(os.Environ(), childEnv+"=hold")
			held.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
			held.Stdin = os.Stdin // ends with this child
			if err = held.Start(); err != nil {
				break
			}
		}
		cmd := exec.Command("/proc/self/exe", "-test.run=^$")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
		err = cmd.Start()
	case "idmap": // DIR|USERNS|clone: idmap DIR's mount, a detached copy of it or itself
		parts := strings.Split(arg, "|")
		flags := uint(unix.OPEN_TREE_CLOEXEC)
		if parts[2] == "clone" {
			flags |= unix.OPEN_TREE_CLONE
		}
		var fd, ns int
		if fd, err = unix.OpenTree(unix.AT_FDCWD, parts[0], flags); err != nil {
			break
		}
		if ns, err = unix.Open(parts[1], unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			break
		}
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(ns)}
		if parts[2] == "propagation" {
			attr = unix.MountAttr{Propagation: 1}
		}
		err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr)
	case "newuser-forked": // a child of this one makes the user namespace
		// Go's fork runs the unshare in the forked child, which has one
		// thread: a direct unshare(CLONE_NEWUSER) from this multithreaded
		// process would fail EINVAL whatever the node's policy.
		cmd := exec.Command("/proc/self/exe", "-test.run=^$")
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWUSER}
		err = cmd.Run()
	case "seccomp-newuser":
		if err = denyUnshare(); err == nil {
			err = unix.Unshare(unix.CLONE_NEWUSER)
		}
	case "hold":
	}
	var e unix.Errno
	if errors.As(err, &e) {
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

// rootNS is a child's SysProcAttr: root of a user namespace of its own,
// mapped to the host's root.
func rootNS() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}}
}

// traced runs the real tracer, each event through stages and the Hints
// stage, until the test ends; the function it returns waits for the
// failed call of syscall by pid (by a child of -pid when negative: a
// caller gone by now) and returns the event as the sinks see it.
func traced(t *testing.T, stages ...Stage) func(pid int, syscall string) *Event {
	t.Helper()
	return trace(t, stages...).wait
}

// tracing is a running tracer and the failed calls it has seen.
type tracing struct {
	t   *testing.T
	mu  sync.Mutex
	evs []*Event
}

func trace(t *testing.T, stages ...Stage) *tracing {
	t.Helper()
	testenv.RequireRoot(t, "loading eBPF programs")
	ops, err := tracer.ParseSyscalls([]string{"unshare", "clone", "clone3", "mount_setattr", "fsmount"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tracer.Open(tracer.Options{Syscalls: ops})
	if err != nil {
		t.Fatalf("tracer: %v", err)
	}
	tg := &tracing{t: t}
	sink := sinkFunc(func(ev *Event) {
		tg.mu.Lock()
		tg.evs = append(tg.evs, &Event{Event: ev.Event.Clone(), Hints: ev.Hints})
		tg.mu.Unlock()
	})
	p := New(append(stages, NewHints(true)), sink)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx, tracer.Sink{Event: p.Process}) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = p.Close(context.Background())
		_ = tr.Close()
	})
	return tg
}

// take removes and returns the first failed call of syscall by pid (by a
// child of -pid when negative) seen so far, or nil.
func (tg *tracing) take(pid int, syscall string) *Event {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	for i, ev := range tg.evs {
		if (int(ev.Proc.PID) == pid || int(ev.Proc.PPID) == -pid) && ev.Syscall == syscall && ev.Failed() {
			tg.evs = append(tg.evs[:i:i], tg.evs[i+1:]...)
			return ev
		}
	}
	return nil
}

// wait waits for the failed call take would return.
func (tg *tracing) wait(pid int, syscall string) *Event {
	tg.t.Helper()
	return tg.waitT(tg.t, pid, syscall)
}

// waitT is wait failing t, a subtest, when the call does not come.
func (tg *tracing) waitT(t *testing.T, pid int, syscall string) *Event {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ev := tg.take(pid, syscall); ev != nil {
			return ev
		}
	}
	t.Fatalf("no failed %s from pid %d", syscall, pid)
	return nil
}

type sinkFunc func(*Event)

func (f sinkFunc) Write(ev *Event) { f(ev) }
func (sinkFunc) Close() error      { return nil }

func call(t *testing.T, spec string, attr *syscall.SysProcAttr, want unix.Errno) int {
	t.Helper()
	line, cmd := testenv.StartChild(t, childEnv, spec, attr)
	if n, _ := strconv.Atoi(line); unix.Errno(n) != want {
		t.Fatalf("%s failed with %v, want %v", spec, unix.Errno(n), want)
	}
	return cmd.Process.Pid
}

func nsReason(t *testing.T, ev *Event) *nslimit.Reason {
	t.Helper()
	r, ok := tracer.FirstReason[*nslimit.Reason](ev.Event)
	if !ok {
		t.Fatalf("%s %v: reasons %v, no ns_limit reason (%s)", ev.Syscall, ev.Errno, ev.Reasons, ev.NoReason)
	}
	return r
}

func hint(ev *Event, rule string) bool {
	for _, h := range ev.Hints {
		if h.Rule == rule {
			return true
		}
	}
	return false
}

// repeat is how many times each real failure is made: the reason must be
// there every time, not most.
const repeat = 20

// TestNSLimitReal makes namespace creations fail for real and holds the
// reason and hint to them, every time: a limit of 0 in the caller's own
// user namespace (a live caller; a caller gone, its parent left), the
// nesting depth, and the negative cases (a limit reached that is not 0,
// a seccomp refusal).
func TestNSLimitReal(t *testing.T) {
	wait := traced(t, NewNSLimit(""))
	t.Run("limit 0, live caller", func(t *testing.T) {
		for range repeat {
			pid := call(t, "newuser-limit:0", rootNS(), unix.ENOSPC)
			ev := wait(pid, "clone")
			r := nsReason(t, ev)
			if r.Cause != nslimit.CauseLimit || r.Sysctl != "user.max_user_namespaces" || r.Value != "0" || !r.CallerOwn ||
				r.Level != 1 || r.UserNS != ev.Proc.UserNS {
				t.Fatalf("reason %+v", r)
			}
			if !hint(ev, "ns-limit") {
				t.Fatalf("hints %+v, want ns-limit", ev.Hints)
			}
		}
		t.Logf("%s", nsReason(t, wait(call(t, "newuser-limit:0", rootNS(), unix.ENOSPC), "clone")).Text(nil))
	})
	t.Run("limit 0, caller gone", func(t *testing.T) {
		unshare := lookPath(t, "unshare")
		for range repeat {
			sh := exec.Command(unshare, "-Ur", "sh", "-c",
				"echo 0 > /proc/sys/user/max_user_namespaces; unshare -U true 2>/dev/null; echo $?; read x")
			pid, stop := startLine(t, sh, "1")
			ev := wait(-pid, "unshare")
			r := nsReason(t, ev)
			if int(ev.Proc.PPID) != pid || r.Cause != nslimit.CauseLimit || r.Value != "0" || !r.CallerOwn {
				t.Fatalf("reason %+v from %d, parent %d (sh %d)", r, ev.Proc.PID, ev.Proc.PPID, pid)
			}
			stop()
		}
	})
	t.Run("depth", func(t *testing.T) {
		unshare := lookPath(t, "unshare")
		for range repeat {
			args := []string{}
			for range nslimit.MaxDepth - 1 {
				args = append(args, "-Ur", unshare)
			}
			args = append(args, "-Ur", "sh", "-c", "unshare -U true 2>/dev/null; echo $?; read x")
			pid, stop := startLine(t, exec.Command(unshare, args...), "1")
			ev := wait(-pid, "unshare")
			r := nsReason(t, ev)
			if r.Cause != nslimit.CauseDepth || r.Level != nslimit.MaxDepth || r.UserNS != ev.Proc.UserNS {
				t.Fatalf("reason %+v", r)
			}
			if !hint(ev, "ns-limit") {
				t.Fatalf("hints %+v, want ns-limit", ev.Hints)
			}
			stop()
		}
	})
	t.Run("negative: a limit of 1 reached", func(t *testing.T) {
		for range repeat {
			pid := call(t, "newuser-limit:1", rootNS(), unix.ENOSPC)
			ev := wait(pid, "clone")
			if len(ev.Reasons) != 0 || len(ev.Hints) != 0 || !strings.Contains(ev.NoReason, "user.max_user_namespaces=1") {
				t.Fatalf("reasons %v, hints %v, no reason %q: want none, and why", ev.Reasons, ev.Hints, ev.NoReason)
			}
		}
	})
	t.Run("negative: seccomp", func(t *testing.T) {
		for range repeat {
			pid := call(t, "seccomp-newuser", nil, unix.EPERM)
			ev := wait(pid, "unshare")
			if _, ok := tracer.FirstReason[*nslimit.Reason](ev.Event); ok || hint(ev, "ns-limit") || hint(ev, "userns-policy") {
				t.Fatalf("reasons %v, hints %v: want no ns_limit", ev.Reasons, ev.Hints)
			}
		}
	})
}

// TestIDMapReal idmaps mounts for real: a ramfs refuses (every time),
// tmpfs takes a detached copy (6.3+) and refuses an attached mount for
// being attached, and an EINVAL without MOUNT_ATTR_IDMAP gets no reason.
func TestIDMapReal(t *testing.T) {
	wait := traced(t, NewIDMap(""))
	_, holder := testenv.StartChild(t, childEnv, "hold", rootNS())
	userns := fmt.Sprintf("/proc/%d/ns/user", holder.Process.Pid)
	mnt := func(fstype string) string {
		d := t.TempDir()
		if err := unix.Mount("none", d, fstype, 0, ""); err != nil {
			t.Fatalf("mount %s: %v", fstype, err)
		}
		t.Cleanup(func() { _ = unix.Unmount(d, unix.MNT_DETACH) })
		return d
	}
	ramfs, tmpfs := mnt("ramfs"), mnt("tmpfs")
	get := func(t *testing.T, ev *Event) *idmap.Reason {
		t.Helper()
		r, ok := tracer.FirstReason[*idmap.Reason](ev.Event)
		if !ok {
			t.Fatalf("reasons %v, no idmap reason (%s)", ev.Reasons, ev.NoReason)
		}
		return r
	}
	t.Run("ramfs", func(t *testing.T) {
		for range repeat {
			pid := call(t, "idmap:"+ramfs+"|"+userns+"|clone", nil, unix.EINVAL)
			ev := wait(pid, "mount_setattr")
			if r := get(t, ev); r.Cause != idmap.CauseUnsupported || r.FSType != "ramfs" {
				t.Fatalf("reason %+v", r)
			}
			if !hint(ev, "idmap-unsupported-fs") {
				t.Fatalf("hints %+v", ev.Hints)
			}
		}
	})
	t.Run("tmpfs detached", func(t *testing.T) {
		if minor := kernelVersion(t); minor < 603 {
			t.Skipf("skipped: tmpfs takes idmapped mounts from 6.3; this kernel is %d.%d", minor/100, minor%100)
		}
		call(t, "idmap:"+tmpfs+"|"+userns+"|clone", nil, 0)
	})
	t.Run("negative: tmpfs attached", func(t *testing.T) {
		if minor := kernelVersion(t); minor < 603 {
			t.Skipf("skipped: tmpfs takes idmapped mounts from 6.3; this kernel is %d.%d", minor/100, minor%100)
		}
		for range repeat {
			pid := call(t, "idmap:"+tmpfs+"|"+userns+"|attached", nil, unix.EINVAL)
			ev := wait(pid, "mount_setattr")
			if r := get(t, ev); r.Cause != idmap.CauseAttached || r.FSType != "tmpfs" {
				t.Fatalf("reason %+v", r)
			}
			if hint(ev, "idmap-unsupported-fs") {
				t.Fatalf("hints %+v: want no idmap-unsupported-fs", ev.Hints)
			}
		}
	})
	t.Run("negative: no MOUNT_ATTR_IDMAP", func(t *testing.T) {
		for range repeat {
			pid := call(t, "idmap:"+ramfs+"|"+userns+"|propagation", nil, unix.EINVAL)
			ev := wait(pid, "mount_setattr")
			if len(ev.Reasons) != 0 || len(ev.Hints) != 0 {
				t.Fatalf("reasons %v, hints %v: want none", ev.Reasons, ev.Hints)
			}
		}
	})
}

// kernelVersion returns the running kernel as major*100+minor.
func kernelVersion(t *testing.T) int {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var major, minor int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor)
	return major*100 + minor
}

func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("skipped: %s (util-linux) is not installed: %v", name, err)
	}
	return filepath.Clean(p)
}

// startLine starts cmd, waits for its first line, which must be want, and
// returns its pid and what ends it.
func startLine(t *testing.T, cmd *exec.Cmd, want string) (int, func()) {
	t.Helper()
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 64)
	n, _ := out.Read(b)
	if got := strings.TrimSpace(string(b[:n])); got != want {
		t.Fatalf("%v printed %q, want %q", cmd.Args[:2], got, want)
	}
	stop := func() { _ = in.Close(); _ = cmd.Wait() }
	t.Cleanup(stop)
	return cmd.Process.Pid, stop
}
