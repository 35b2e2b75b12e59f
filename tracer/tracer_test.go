package tracer

// Integration tests: the real programs in the real kernel, real failing
// syscalls made by child processes. They need root; in CI they must run.

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

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(triggerEnv); name != "" {
		runTriggerChild(name)
	}
	os.Exit(m.Run())
}

// collector gathers a running tracer's events.
type collector struct {
	mu     sync.Mutex
	events []Event
	bad    []error
	lost   uint64
}

func (c *collector) sink() Sink {
	return Sink{
		Event: func(ev *Event) {
			c.mu.Lock()
			c.events = append(c.events, *ev.Clone())
			c.mu.Unlock()
		},
		Lost: func(_, total uint64) {
			c.mu.Lock()
			c.lost = total
			c.mu.Unlock()
		},
		Malformed: func(_ []byte, err error) {
			c.mu.Lock()
			c.bad = append(c.bad, err)
			c.mu.Unlock()
		},
	}
}

func (c *collector) find(match func(*Event) bool) []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Event
	for i := range c.events {
		if match(&c.events[i]) {
			out = append(out, c.events[i])
		}
	}
	return out
}

// waitFor returns the first event that matches, or fails the test after
// the timeout, listing what the tracer did see from that pid.
func (c *collector) waitFor(t *testing.T, pid int, match func(*Event) bool) Event {
	t.Helper()
	// Generous: a passing test returns as soon as its event is read, and
	// under software emulation (the kernel matrix) a Go trigger's fork
	// and exec alone can take seconds when the host is busy.
	const within = 15 * time.Second
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if evs := c.find(match); len(evs) > 0 {
			return evs[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	var seen []string
	for _, ev := range c.find(func(e *Event) bool { return int(e.Proc.PID) == pid || int(e.Proc.PPID) == pid }) {
		seen = append(seen, describe(&ev))
	}
	t.Fatalf("no matching event from pid %d within %v; events from it and its children:\n%s", pid, within, strings.Join(seen, "\n"))
	return Event{}
}

func describe(ev *Event) string {
	var args []string
	for i := range ev.Args {
		args = append(args, ev.Args[i].Name+"="+ev.Args[i].String())
	}
	return fmt.Sprintf("%s(%s) = %d %s [%s pid=%d]", ev.Syscall, strings.Join(args, ", "), ev.Ret, unix.ErrnoName(ev.Errno), ev.Proc.Comm, ev.Proc.PID)
}

// startTracer opens a tracer and reads it until the test ends.
func startTracer(t *testing.T, opts Options) (*Tracer, *collector) {
	t.Helper()
	testenv.RequireRoot(t, "loading eBPF programs")
	tr, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	c := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx, c.sink()) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := tr.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if len(c.bad) > 0 {
			t.Errorf("malformed records: %v", c.bad)
		}
	})
	return tr, c
}

// child is a trigger process, held before its call until released.
type child struct {
	cmd  *exec.Cmd
	gate *os.File
	out  strings.Builder
	dir  string
	pid  int
}

// startTrigger starts the test binary as a trigger child. The child waits
// on its stdin until release, so the tracer can be told its pid first.
func startTrigger(t *testing.T, name string, env ...string) *child {
	t.Helper()
	dir := t.TempDir()
	// Triggers that drop privileges must still reach it.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if name == "openat_dirfd" {
		if err := os.WriteFile(filepath.Join(dir, "work"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := &child{dir: dir}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), triggerEnv+"="+name, triggerDirEnv+"="+dir, "CTRACE_GATE=1")
	c.cmd.Env = append(c.cmd.Env, env...)
	c.cmd.Stdout = &c.out
	c.cmd.Stderr = &c.out
	if attr, ok := triggerAttrs[name]; ok {
		c.cmd.SysProcAttr = attr()
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stdin = r
	c.gate = w
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start trigger %s: %v", name, err)
	}
	r.Close()
	c.pid = c.cmd.Process.Pid
	t.Cleanup(func() { c.gate.Close(); _ = c.cmd.Process.Kill(); _ = c.cmd.Wait() })
	return c
}

// release lets the child make its call and waits for it to exit.
func (c *child) release(t *testing.T) {
	t.Helper()
	if _, err := c.gate.Write([]byte{'\n'}); err != nil {
		t.Fatalf("release trigger: %v", err)
	}
	c.gate.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("trigger: %v\n%s", err, c.out.String())
	}
}

// runTrigger runs a trigger to completion and returns it.
func runTrigger(t *testing.T, name string, env ...string) *child {
	t.Helper()
	c := startTrigger(t, name, env...)
	c.release(t)
	return c
}

var testComm = func() string {
	c := filepath.Base(os.Args[0])
	if len(c) > 15 {
		c = c[:15]
	}
	return c
}()

func argMatches(got, want, dir string) bool {
	want = strings.ReplaceAll(want, "$DIR", dir)
	if w, ok := strings.CutPrefix(want, "~"); ok {
		return strings.Contains(got, w)
	}
	return got == want
}

func (sc *syscallCase) matches(ev *Event, c *child) bool {
	if int(ev.Proc.PID) != c.pid || ev.Syscall != sc.syscall || ev.Errno != sc.errno {
		return false
	}
	for i := range ev.Args {
		if want, ok := sc.args[ev.Args[i].Name]; ok && !argMatches(ev.Args[i].String(), want, c.dir) {
			return false
		}
	}
	return true
}

// TestSyscallFailures makes every traced syscall fail in a known way and
// checks the exact event, with each of the two ways exits reach ctrace's
// programs.
func TestSyscallFailures(t *testing.T) {
	t.Run("per-syscall", func(t *testing.T) {
		if _, err := SyscallEvents(); err != nil {
			t.Skipf("skipped: %v", err)
		}
		testSyscallFailures(t, false)
	})
	t.Run("raw", func(t *testing.T) { testSyscallFailures(t, true) })
}

func testSyscallFailures(t *testing.T, raw bool) {
	tr, col := startTracer(t, Options{RawDispatch: raw})
	if d := tr.Dispatch(); tr.raw != raw || d.Err != nil {
		t.Fatalf("dispatch %q (raw %v, %v), want raw %v", d.Mechanism, tr.raw, d.Err, raw)
	}
	attached := map[string]bool{}
	for _, s := range tr.Attached() {
		attached[s] = true
	}
	covered := map[string]bool{}
	for _, sc := range syscallCases {
		covered[sc.syscall] = true
		t.Run(sc.trigger, func(t *testing.T) {
			if !attached[sc.syscall] {
				t.Skipf("skipped: this kernel has no tracepoint for %s", sc.syscall)
			}
			c := runTrigger(t, sc.trigger)
			if got := strings.TrimSpace(c.out.String()); got == unix.ENOSYS.Error() {
				t.Skipf("skipped: this kernel has no %s (ENOSYS)", sc.syscall)
			}
			if got := strings.TrimSpace(c.out.String()); !strings.Contains(got, sc.errno.Error()) {
				t.Fatalf("trigger failed with %q, want %q: the test set-up is wrong", got, sc.errno.Error())
			}
			ev := col.waitFor(t, c.pid, func(ev *Event) bool { return sc.matches(ev, c) })
			if ev.Ret != -int64(sc.errno) {
				t.Errorf("ret = %d, want %d", ev.Ret, -int64(sc.errno))
			}
			wantComm := testComm
			if sc.comm != "" {
				wantComm = sc.comm
			}
			if ev.Proc.Comm != wantComm {
				t.Errorf("comm = %q, want %q", ev.Proc.Comm, wantComm)
			}
			if ev.Proc.TID == 0 || ev.Proc.PPID != uint32(os.Getpid()) {
				t.Errorf("tid = %d, ppid = %d, want a tid and ppid %d", ev.Proc.TID, ev.Proc.PPID, os.Getpid())
			}
			if ev.Proc.UID != sc.uid {
				t.Errorf("uid = %d, want %d", ev.Proc.UID, sc.uid)
			}
			checkNamespaces(t, &ev)
			if ev.Time.IsZero() || time.Since(ev.Time).Abs() > time.Minute {
				t.Errorf("time = %v, want about now", ev.Time)
			}
		})
	}
	for _, name := range Syscalls() {
		if !covered[name] {
			t.Errorf("no test case makes %s fail", name)
		}
	}
}

// checkNamespaces compares the event's namespaces with this process's: the
// trigger children share them (except the pivot_root child's mount ns).
func checkNamespaces(t *testing.T, ev *Event) {
	t.Helper()
	for _, ns := range []struct {
		name string
		got  uint32
	}{{"net", ev.Proc.NetNS}, {"pid", ev.Proc.PidNS}, {"user", ev.Proc.UserNS}} {
		var st unix.Stat_t
		if err := unix.Stat("/proc/self/ns/"+ns.name, &st); err != nil {
			t.Fatal(err)
		}
		if uint64(ns.got) != st.Ino {
			t.Errorf("%sns = %d, want %d", ns.name, ns.got, st.Ino)
		}
	}
	if ev.Proc.MntNS == 0 || ev.Proc.CgroupID == 0 {
		t.Errorf("mntns = %d, cgroup_id = %d, want both set", ev.Proc.MntNS, ev.Proc.CgroupID)
	}
}

// TestSuccessIsSilent: a successful call sends nothing by default, and is
// shown with All.
func TestSuccessIsSilent(t *testing.T) {
	for _, all := range []bool{false, true} {
		t.Run("all="+strconv.FormatBool(all), func(t *testing.T) {
			_, col := startTracer(t, Options{All: all, Syscalls: mustOps(t, "openat")})
			ok := runTrigger(t, "openat_ok")
			// A failing call after the successful one: once it is seen,
			// the success would have been seen too.
			fail := runTrigger(t, "openat_missing")
			col.waitFor(t, fail.pid, func(ev *Event) bool { return int(ev.Proc.PID) == fail.pid && ev.Failed() })
			time.Sleep(100 * time.Millisecond)
			got := col.find(func(ev *Event) bool {
				return int(ev.Proc.PID) == ok.pid && !ev.Failed() && len(ev.Args) > 1 && ev.Args[1].Str == "/dev/null"
			})
			if all && len(got) == 0 {
				t.Fatal("--all: the successful openat of /dev/null was not shown")
			}
			if !all && len(got) != 0 {
				t.Fatalf("a successful call was sent without --all: %s", describe(&got[0]))
			}
			if all && got[0].Ret < 0 {
				t.Fatalf("ret = %d, want a descriptor", got[0].Ret)
			}
		})
	}
}

func mustOps(t *testing.T, names ...string) []Op {
	t.Helper()
	ops, err := ParseSyscalls(names)
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

// TestFilters: each kernel-side filter lets through exactly what it should.
func TestFilters(t *testing.T) {
	type step struct {
		trigger string
		want    bool
	}
	cases := []struct {
		name  string
		opts  Options
		steps []step // the last one must pass: it proves the others would have arrived
	}{
		{"syscalls", Options{Syscalls: mustOps(t, "openat")},
			[]step{{"mount_missing_target", false}, {"chroot_missing", false}, {"openat_missing", true}}},
		{"family", Options{Syscalls: mustOps(t, "%namespace")},
			[]step{{"openat_missing", false}, {"setns_not_ns", true}}},
		{"errno", Options{Errnos: []unix.Errno{unix.EACCES, unix.EINVAL}},
			[]step{{"openat_missing", false}, {"chroot_missing", false}, {"execve_not_executable", true}}},
		{"comm", Options{Comms: []string{"no-such-comm"}, Syscalls: mustOps(t, "openat")},
			[]step{{"openat_missing", false}}},
		{"pid", Options{Follow: true, Syscalls: mustOps(t, "openat")},
			[]step{{"openat_missing", false}, {"openat_missing", true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, col := startTracer(t, tc.opts)
			var pids []int
			for _, st := range tc.steps {
				c := startTrigger(t, st.trigger)
				if st.want && tc.name == "pid" {
					if err := tr.Trace(uint32(c.pid)); err != nil {
						t.Fatal(err)
					}
				}
				c.release(t)
				pids = append(pids, c.pid)
				if st.want {
					col.waitFor(t, c.pid, func(ev *Event) bool { return int(ev.Proc.PID) == c.pid && ev.Failed() })
				}
			}
			if tc.name == "comm" {
				// Nothing can pass: give the kernel time to have sent it.
				time.Sleep(300 * time.Millisecond)
			}
			for i, st := range tc.steps {
				got := col.find(func(ev *Event) bool { return int(ev.Proc.PID) == pids[i] && ev.Failed() })
				if !st.want && len(got) > 0 {
					t.Errorf("%s: filtered out, but seen: %s", st.trigger, describe(&got[0]))
				}
			}
		})
	}
	t.Run("follow_exec_from_thread", func(t *testing.T) {
		tr, col := startTracer(t, Options{Follow: true, Syscalls: mustOps(t, "openat")})
		c := startTrigger(t, "exec_from_thread")
		if err := tr.Trace(uint32(c.pid)); err != nil {
			t.Fatal(err)
		}
		c.release(t)
		col.waitFor(t, c.pid, func(ev *Event) bool {
			return ev.Proc.PPID == uint32(c.pid) && ev.Args[1].Str == "/nonexistent/ctrace-after-thread-exec"
		})
	})
	t.Run("comm_match", func(t *testing.T) {
		_, col := startTracer(t, Options{Comms: []string{testComm}, Syscalls: mustOps(t, "openat")})
		c := runTrigger(t, "openat_missing")
		col.waitFor(t, c.pid, func(ev *Event) bool { return int(ev.Proc.PID) == c.pid && ev.Failed() })
	})
}

// TestBurstAccounting: every failure of a burst is either delivered or
// counted as lost, exactly, with a ring buffer small enough to overflow.
func TestBurstAccounting(t *testing.T) {
	const n = 10000
	for _, size := range []int{os.Getpagesize(), DefaultBufferSize} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			tr, col := startTracer(t, Options{Follow: true, Syscalls: mustOps(t, "openat"), BufferSize: size})
			c := startTrigger(t, "burst", "CTRACE_BURST="+strconv.Itoa(n))
			if err := tr.Trace(uint32(c.pid)); err != nil {
				t.Fatal(err)
			}
			c.release(t)
			isBurst := func(ev *Event) bool {
				return int(ev.Proc.PID) == c.pid && ev.Args[1].Str == "/nonexistent/ctrace-burst"
			}
			deadline := time.Now().Add(10 * time.Second)
			var got, lost int
			for time.Now().Before(deadline) {
				got = len(col.find(isBurst))
				lostBy, err := tr.LostByOp()
				if err != nil {
					t.Fatal(err)
				}
				lost = int(lostBy["openat"])
				if got+lost >= n {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Logf("ring buffer %d bytes: %d delivered, %d lost", size, got, lost)
			if got+lost != n {
				t.Fatalf("delivered %d + lost %d = %d, want exactly %d", got, lost, got+lost, n)
			}
		})
	}
}

// TestCloseDetaches: after Close no ctrace program is left in the kernel.
func TestCloseDetaches(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	tr, err := Open(Options{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	var ids []ebpf.ProgramID
	for name, p := range tr.coll.Programs {
		info, err := p.Info()
		if err != nil {
			t.Fatal(err)
		}
		id, ok := info.ID()
		if !ok {
			t.Fatalf("no id for program %s", name)
		}
		ids = append(ids, id)
	}
	if len(ids) < len(Syscalls()) {
		t.Fatalf("%d programs loaded, want at least %d", len(ids), len(Syscalls()))
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Programs are freed after an RCU grace period.
	deadline := time.Now().Add(5 * time.Second)
	for _, id := range ids {
		for {
			p, err := ebpf.NewProgramFromID(id)
			if errors.Is(err, os.ErrNotExist) {
				break
			}
			if err == nil {
				p.Close()
			}
			if time.Now().After(deadline) {
				t.Fatalf("program %d still loaded after Close (err=%v)", id, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestRuntimeCallsOnlyForRuntime: the runtime family's failures of any
// other process are not traced.
func TestRuntimeCallsOnlyForRuntime(t *testing.T) {
	_, col := startTracer(t, Options{})
	for name := range runtimeTriggers {
		t.Run(name, func(t *testing.T) {
			c := runTrigger(t, name, "CTRACE_AS_HOST=1")
			col.waitFor(t, c.pid, func(ev *Event) bool {
				return int(ev.Proc.PID) == c.pid && ev.Syscall == "openat" && ev.Args[1].Str == "/nonexistent/ctrace-marker"
			})
			for _, ev := range col.find(func(ev *Event) bool { return int(ev.Proc.PID) == c.pid }) {
				if ev.Family == FamilyRuntime {
					t.Errorf("traced a host process's %s: %s", ev.Syscall, describe(&ev))
				}
			}
		})
	}
}

// cgroup2Mount returns where this mount namespace has the cgroup v2
// hierarchy mounted, or "".
func cgroup2Mount() string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		// ... mount-point ... - fstype source options
		pre, post, ok := strings.Cut(line, " - ")
		if f, g := strings.Fields(pre), strings.Fields(post); ok && len(f) > 4 && len(g) > 0 && g[0] == "cgroup2" {
			return f[4]
		}
	}
	return ""
}

// TestCgroupPathOnce checks that every event of a cgroup carries its path
// while the kernel sends it only until the reader has it: the first
// failure from a new cgroup puts the cgroup's id in cgroups_known, and a
// later failure, whose record leaves the path out, still shows it.
func TestCgroupPathOnce(t *testing.T) {
	tr, col := startTracer(t, Options{Syscalls: []Op{bpfCtraceOpCTRACE_OP_OPENAT}})
	root := cgroup2Mount()
	if root == "" {
		t.Skip("skipped: no cgroup v2 hierarchy mounted")
	}
	name := fmt.Sprintf("ctrace-test-%d", os.Getpid())
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) })
	cg, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(cg.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	// A cgroup v2 id is its directory's inode number.
	id := st.Ino
	known := tr.coll.Maps["cgroups_known"]
	var one uint8
	if err := known.Lookup(id, &one); !errors.Is(err, ebpf.ErrKeyNotExist) {
		t.Fatalf("cgroups_known has the new cgroup before any record from it (%v)", err)
	}
	fail := func(path string) Event {
		t.Helper()
		cmd := exec.Command("cat", path)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
		if err := cmd.Run(); err == nil {
			t.Fatalf("cat %s succeeded", path)
		}
		return col.waitFor(t, cmd.Process.Pid, func(ev *Event) bool {
			return ev.Syscall == "openat" && len(ev.Args) > 1 && ev.Args[1].Str == path
		})
	}
	first := fail("/nonexistent/ctrace-cgroup-1")
	if first.Proc.CgroupID != id || first.Proc.Cgroup != "/"+name {
		t.Fatalf("first event: cgroup %d %q, want %d %q", first.Proc.CgroupID, first.Proc.Cgroup, id, "/"+name)
	}
	if err := known.Lookup(id, &one); err != nil {
		t.Fatalf("cgroups_known lacks the cgroup after its path was read: %v", err)
	}
	second := fail("/nonexistent/ctrace-cgroup-2")
	if second.Proc.CgroupID != id || second.Proc.Cgroup != "/"+name {
		t.Errorf("second event: cgroup %d %q, want %d %q", second.Proc.CgroupID, second.Proc.Cgroup, id, "/"+name)
	}
}
