package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/check"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// TestWithoutTracefs: on a node without tracefs mounted (a fresh machine,
// a container not given the node's), ctrace reads the syscall
// tracepoints' ids from a tracefs instance of its own, never attached to
// the mount tree, and uses the per-syscall tracepoints: check says so,
// run reports a failure through them, the node's mount table is as it was
// and no program stays loaded. Without CAP_SYS_ADMIN as well (the
// DaemonSet without its tracefs volume) no instance can be made, and
// ctrace falls back to the raw dispatchers, says so, and still reports
// failures. ctrace runs in a mount namespace of its own, private, with
// every tracefs and debugfs unmounted (see noTracefsTrigger).
func TestWithoutTracefs(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	before := testenv.KernelFSMounts(readFile(t, "/proc/self/mountinfo"))
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in := func(env []string, args ...string) func(context.Context) *exec.Cmd {
		return func(ctx context.Context) *exec.Cmd {
			c := exec.CommandContext(ctx, self, append([]string{bin}, args...)...)
			c.Env = append(os.Environ(), append(env, triggerEnv+"=notracefs")...)
			// Unshareflags, unlike Cloneflags, also makes the new
			// namespace's mounts private: no unmount there reaches
			// the node's.
			c.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
			return c
		}
	}
	check := func(t *testing.T, env []string) check.Report {
		t.Helper()
		p := startCmd(t, runLimit, in(env, "check", "-o", "json"))
		code := p.wait(t)
		var rep check.Report
		if err := json.Unmarshal([]byte(p.stdout.String()), &rep); err != nil || code != 0 {
			t.Fatalf("check: exit status %d, %v\n%s\nstderr:\n%s", code, err, p.stdout, p.stderr)
		}
		t.Logf("tracefs %q, dispatch %q", rep.Tracefs, rep.Dispatch)
		return rep
	}
	const missing = "/nonexistent/ctrace-no-tracefs"
	failed := func(stdout string) bool {
		for _, ev := range events(t, stdout) {
			args, _ := ev["args"].(map[string]any)
			if ev["syscall"] == "openat" && args["path"] == missing {
				return true
			}
		}
		return false
	}

	t.Run("own-tracefs-instance", func(t *testing.T) {
		rep := check(t, nil)
		if !strings.HasPrefix(rep.Tracefs, "detached instance") {
			t.Errorf("tracefs = %q, want a detached instance", rep.Tracefs)
		}
		if !strings.HasPrefix(rep.Dispatch, "syscalls:sys_exit_") {
			t.Errorf("dispatch = %q, want the per-syscall tracepoints", rep.Dispatch)
		}
		for _, it := range rep.Items {
			if strings.HasPrefix(it.Name, "syscalls:") && (!it.OK || it.Mechanism != rep.Dispatch || strings.Contains(it.Detail, "not used")) {
				t.Errorf("%s: %+v, want ok through the per-syscall tracepoints", it.Name, it)
			}
		}

		// Tracing until the command is stopped: the programs are looked
		// at while ctrace holds them.
		p := startCmd(t, runLimit, in(quietEnv, "run", "-o", "json", "-e", "mount,openat", "--",
			"/bin/sh", "-c", "cat "+missing+" 2>/dev/null; exec sleep 60"))
		if err := p.stdout.waitFor(p.ctx, missing); err != nil {
			t.Fatalf("%v\nstderr:\n%s", err, p.stderr)
		}
		if !failed(p.stdout.String()) {
			t.Errorf("no failing openat of %s in:\n%s", missing, p.stdout)
		}
		if s := p.stderr.String(); strings.Contains(s, "runs ctrace's dispatcher") {
			t.Errorf("run fell back to the raw dispatcher:\n%s", s)
		}
		ids := progIDs(t, p.cmd.Process.Pid) // checks for tp_exit_mount and tp_sys_enter
		for _, name := range ids {
			if name == "sys_exit" || name == "sys_enter" {
				t.Errorf("ctrace holds the raw dispatcher %s: %v", name, ids)
			}
		}
		// ctrace passes SIGTERM on to the command and exits with it.
		if err := p.cmd.Process.Signal(unix.SIGTERM); err != nil {
			t.Fatal(err)
		}
		p.wait(t)
		waitUnloaded(t, ids)
	})

	t.Run("raw-without-CAP_SYS_ADMIN", func(t *testing.T) {
		env := []string{dropSysAdminEnv + "=1"}
		rep := check(t, env)
		if !strings.HasPrefix(rep.Tracefs, "not used") || !strings.Contains(rep.Tracefs, "fsopen(tracefs)") {
			t.Errorf("tracefs = %q, want not used, saying why a detached instance could not be made", rep.Tracefs)
		}
		for _, it := range rep.Items {
			if !strings.HasPrefix(it.Name, "syscalls:") {
				continue
			}
			if !it.OK || !strings.HasPrefix(it.Mechanism, "raw_tracepoint/sys_exit") || !strings.Contains(it.Detail, "no tracefs") {
				t.Errorf("%s: %+v, want ok through raw_tracepoint/sys_exit, saying no tracefs was reached", it.Name, it)
			}
		}
		p := startCmd(t, runLimit, in(append(env, quietEnv...), "run", "-o", "json", "-e", "openat", "--",
			"/bin/sh", "-c", "cat "+missing+" 2>/dev/null; exit 0"))
		if code := p.wait(t); code != 0 {
			t.Fatalf("run: exit status %d\nstderr:\n%s", code, p.stderr)
		}
		if !strings.Contains(p.stderr.String(), "raw_tracepoint/sys_exit") {
			t.Errorf("run did not say it falls back to the raw dispatcher:\n%s", p.stderr)
		}
		if !failed(p.stdout.String()) {
			t.Errorf("no failing openat of %s in:\n%s", missing, p.stdout)
		}
	})

	if after := testenv.KernelFSMounts(readFile(t, "/proc/self/mountinfo")); after != before {
		t.Errorf("the node's mounts of kernel file systems changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// dropSysAdminEnv, set for noTracefsTrigger, has it drop CAP_SYS_ADMIN
// before it runs ctrace.
const dropSysAdminEnv = "CTRACE_CLI_DROP_SYS_ADMIN"

// noTracefsTrigger, run as the test binary's trigger in a mount namespace
// of its own, unmounts every tracefs and debugfs there, drops
// CAP_SYS_ADMIN when dropSysAdminEnv asks, and execs its arguments.
func noTracefsTrigger() int {
	// Capabilities are a thread's: drop and exec on the same one.
	runtime.LockOSThread()
	// A mount can hide another at the same point: unmount until none is
	// left.
	for range 16 {
		points := fsMounts("tracefs", "debugfs")
		if len(points) == 0 {
			break
		}
		for i := len(points) - 1; i >= 0; i-- {
			_ = unix.Unmount(points[i], unix.MNT_DETACH)
		}
	}
	if points := fsMounts("tracefs", "debugfs"); len(points) > 0 {
		fmt.Fprintf(os.Stderr, "notracefs: still mounted: %v\n", points)
		return 1
	}
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, triggerEnv+"=") && !strings.HasPrefix(e, dropSysAdminEnv+"=") {
			env = append(env, e)
		}
	}
	if os.Getenv(dropSysAdminEnv) != "" {
		// Root's exec gets the bounding set as its capabilities.
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, unix.CAP_SYS_ADMIN, 0, 0, 0); err != nil {
			fmt.Fprintf(os.Stderr, "notracefs: drop CAP_SYS_ADMIN: %v\n", err)
			return 1
		}
	}
	err := unix.Exec(os.Args[1], os.Args[1:], env)
	fmt.Fprintf(os.Stderr, "notracefs: exec %v: %v\n", os.Args[1:], err)
	return 1
}

// fsMounts lists the mount points of this mount namespace's mounts of
// the given file system types.
func fsMounts(types ...string) []string {
	b, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		return []string{"(" + err.Error() + ")"}
	}
	var points []string
	for _, l := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		f, typ := strings.Fields(pre), strings.Fields(post)
		if ok && len(f) >= 5 && len(typ) > 0 && slices.Contains(types, typ[0]) {
			points = append(points, f[4])
		}
	}
	return points
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCheckFailsOnRequired: a required item that fails makes check fail
// (exit status 1) and say that run cannot work, as run itself would.
func TestCheckFailsOnRequired(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	p, code := runCtrace(t, nil, "check", "--host-root", "/nonexistent")
	if code != 1 {
		t.Errorf("check --host-root /nonexistent: exit status %d, want 1\nstdout:\n%s\nstderr:\n%s", code, p.stdout, p.stderr)
	}
	out := p.stdout.String()
	if !strings.Contains(out, "FAIL host-root") || !strings.Contains(out, "ctrace run cannot work on this node") {
		t.Errorf("check does not say what failed and that run cannot work:\n%s", out)
	}
	p, code = runCtrace(t, nil, "check", "-o", "json", "--host-root", "/nonexistent")
	var rep check.Report
	if err := json.Unmarshal([]byte(p.stdout.String()), &rep); err != nil || code != 1 || rep.CanRun {
		t.Errorf("check -o json: exit status %d, can_run %v, %v\n%s", code, rep.CanRun, err, p.stdout)
	}
}

// TestCheckLeavesMounts: check on a node without securityfs mounted still
// reads the lockdown mode and the LSMs, and leaves the mount table as it
// was. It runs in a mount namespace of its own with securityfs unmounted
// (see sameMountsTrigger), which compares the table before and after.
func TestCheckLeavesMounts(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	want := kernelLSMs(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := startCmd(t, runLimit, func(ctx context.Context) *exec.Cmd {
		c := exec.CommandContext(ctx, self, bin, "check", "-o", "json")
		c.Env = append(os.Environ(), triggerEnv+"=mounts")
		c.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		return c
	})
	code := p.wait(t)
	if code != 0 {
		t.Fatalf("exit status %d\nstderr:\n%s", code, p.stderr)
	}
	var rep check.Report
	if err := json.Unmarshal([]byte(p.stdout.String()), &rep); err != nil {
		t.Fatalf("%v\n%s", err, p.stdout)
	}
	if got := strings.Join(rep.LSMs, ","); got != want || rep.Lockdown == "" {
		t.Errorf("without securityfs mounted: lsms %q, lockdown %q; want lsms %q and a lockdown mode", got, rep.Lockdown, want)
	}
}

// kernelLSMs is the kernel's list of active LSMs, read without ctrace:
// from the node's securityfs, or, where the node has none mounted (a
// fresh machine), from one mounted in a private mount namespace that
// ends with the command reading it.
func kernelLSMs(t *testing.T) string {
	t.Helper()
	if b, err := os.ReadFile("/sys/kernel/security/lsm"); err == nil {
		return strings.TrimSpace(string(b))
	}
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		"mount -t securityfs securityfs /sys/kernel/security && cat /sys/kernel/security/lsm").Output()
	if err != nil {
		t.Fatalf("read the LSM list through a private securityfs mount: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// sameMountsTrigger, run as the test binary's trigger in a mount
// namespace of its own, unmounts securityfs there, runs its arguments,
// and exits 3 if the mount table changed meanwhile; else with their
// status.
func sameMountsTrigger() int {
	for range 4 {
		for _, p := range fsMounts("securityfs") {
			_ = unix.Unmount(p, unix.MNT_DETACH)
		}
	}
	if points := fsMounts("securityfs"); len(points) > 0 {
		fmt.Fprintf(os.Stderr, "mounts: securityfs still mounted: %v\n", points)
		return 1
	}
	before, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	before = []byte(testenv.KernelFSMounts(string(before)))
	c := exec.Command(os.Args[1], os.Args[2:]...)
	c.Stdout, c.Stderr = os.Stdout, os.Stderr
	c.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, triggerEnv+"=") })
	runErr := c.Run()
	after, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	after = []byte(testenv.KernelFSMounts(string(after)))
	if !bytes.Equal(before, after) {
		fmt.Fprintf(os.Stderr, "mounts: the mounts of kernel file systems changed:\nbefore:\n%s\nafter:\n%s", before, after)
		return 3
	}
	if runErr != nil {
		fmt.Fprintln(os.Stderr, runErr)
		return 1
	}
	return 0
}
