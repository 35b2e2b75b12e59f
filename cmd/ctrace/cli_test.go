package main

// The ctrace binary, built once and driven as users drive it: its exit
// status, its stderr diagnostics and the events on its stdout. The test
// binary doubles as a traced command (see trigger) where a shell cannot
// make the calls a test needs.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
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

// Stamped into the binary under test, as the Makefile stamps releases.
const (
	testVersion = "v0.0.0-clitest"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
)

// bin is the ctrace binary that TestMain builds.
var bin string

// triggerEnv, when set, makes the test binary a traced command: it runs
// the named trigger instead of the tests.
const triggerEnv = "CTRACE_CLI_TRIGGER"

func TestMain(m *testing.M) {
	if name := os.Getenv(triggerEnv); name != "" {
		os.Exit(trigger(name))
	}
	dir, err := os.MkdirTemp("", "ctrace-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin, err = testenv.BuildCtrace(dir, "-X main.version="+testVersion+" -X main.commit="+testCommit)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Files the "filters" trigger fails on.
const (
	missingPath = "/nonexistent/ctrace-cli"
	notExecEnv  = "CTRACE_CLI_NOEXEC" // a file without execute permission
)

// trigger makes the calls a test traces, as the command of ctrace run, and
// returns the exit status.
func trigger(name string) int {
	switch name {
	case "metrics":
		return metricsTrigger()
	case "notracefs":
		return noTracefsTrigger()
	case "storm", "distinct":
		return otlpTrigger(name)
	case "mounts":
		return sameMountsTrigger()
	case "hostile":
		return hostileTrigger()
	case "filters":
		// mount: ENOENT, openat: ENOENT, execve: EACCES (even for root,
		// a file without any execute bit).
		_ = unix.Mount("none", missingPath, "tmpfs", 0, "")
		if fd, err := unix.Open(missingPath, unix.O_RDONLY, 0); err == nil {
			unix.Close(fd)
		}
		p := os.Getenv(notExecEnv)
		_ = unix.Exec(p, []string{p}, nil)
		return 0
	case "signals":
		// Counts the SIGINTs and SIGTERMs it gets until 300 ms after the
		// first, and exits with 64 + 8*SIGINTs + SIGTERMs.
		sigs := make(chan os.Signal, 16)
		signal.Notify(sigs, unix.SIGINT, unix.SIGTERM)
		fmt.Fprintln(os.Stderr, "trigger: waiting for signals")
		ints, terms := 0, 0
		var done <-chan time.Time
		timeout := time.After(runLimit)
		for {
			select {
			case s := <-sigs:
				if s == unix.SIGINT {
					ints++
				} else {
					terms++
				}
				if done == nil {
					done = time.After(300 * time.Millisecond)
				}
			case <-done:
				return 64 + 8*min(ints, 7) + min(terms, 7)
			case <-timeout:
				return 1
			}
		}
	}
	fmt.Fprintf(os.Stderr, "unknown trigger %q\n", name)
	return 1
}

// output collects what ctrace writes on one stream and lets a test wait
// for a line.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	close(o.changed)
	o.changed = make(chan struct{})
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor waits until a line containing s has been written, or ctx ends.
func (o *output) waitFor(ctx context.Context, s string) error {
	for {
		o.mu.Lock()
		found := bytes.Contains(o.buf.Bytes(), []byte(s))
		ch := o.changed
		o.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %q: %w", s, ctx.Err())
		}
	}
}

// proc is a running ctrace.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *output
	ctx            context.Context
	done           chan struct{}
	err            error // of Wait, once done is closed
	exited         time.Time
}

// start runs ctrace with args and env added to the test's environment. It
// is killed, and the test fails, if it runs longer than limit.
func start(t *testing.T, limit time.Duration, env []string, args ...string) *proc {
	t.Helper()
	return startCmd(t, limit, func(ctx context.Context) *exec.Cmd {
		c := exec.CommandContext(ctx, bin, args...)
		c.Env = append(os.Environ(), env...)
		return c
	})
}

// startCmd starts the command that cmd makes, ctrace or one that execs
// it, as start does.
func startCmd(t *testing.T, limit time.Duration, cmd func(context.Context) *exec.Cmd) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	p := &proc{stdout: newOutput(), stderr: newOutput(), ctx: ctx, done: make(chan struct{})}
	p.cmd = cmd(ctx)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	// Its own process group: a test can signal it as a terminal would.
	if p.cmd.SysProcAttr == nil {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	p.cmd.SysProcAttr.Setpgid = true
	// A traced command left behind must not keep the pipes, and so the
	// test, waiting.
	p.cmd.WaitDelay = 2 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start ctrace: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.exited = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = unix.Kill(-p.cmd.Process.Pid, unix.SIGKILL)
			<-p.done
		}
	})
	return p
}

// runLimit bounds one ctrace run of a test. It is far above what a run
// takes here (a second or two): under software emulation (the kernel
// matrix), with parallel tests loading their programs at once, getting
// ready alone took over 20 s. A passing test never waits for it.
const runLimit = 90 * time.Second

// waitReady waits for the line that says every program is attached.
func (p *proc) waitReady(t *testing.T) {
	t.Helper()
	if err := p.stderr.waitFor(p.ctx, "ready: tracing"); err != nil {
		t.Fatalf("no ready line: %v\nstderr:\n%s", err, p.stderr)
	}
}

// wait waits for ctrace to exit and returns its exit status.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	<-p.done
	if p.ctx.Err() != nil {
		t.Fatalf("ctrace %v did not finish in time\nstderr:\n%s", p.cmd.Args[1:], p.stderr)
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	case errors.Is(p.err, exec.ErrWaitDelay):
		t.Fatalf("ctrace exited, but something it started still holds its output")
	}
	t.Fatalf("ctrace: %v", p.err)
	return -1
}

// runCtrace runs ctrace to the end and returns its exit status.
func runCtrace(t *testing.T, env []string, args ...string) (*proc, int) {
	t.Helper()
	p := start(t, runLimit, env, args...)
	return p, p.wait(t)
}

// quietEnv keeps shells and coreutils from probing locale files and PATH
// entries, so that the only failures are the ones a test makes.
var quietEnv = []string{"LC_ALL=C", "LANG=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}

// events decodes ctrace's JSON output, one object a line.
func events(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON object: %q: %v", sc.Text(), err)
		}
		evs = append(evs, m)
	}
	return evs
}

// TestRunCommandJSON traces a shell and checks the one failure it makes,
// field by field against what the process really was, and that ctrace
// exits with the shell's status.
func TestRunCommandJSON(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	before := time.Now()
	p, code := runCtrace(t, quietEnv, "run", "-o", "json", "--",
		"/bin/sh", "-c", `echo "shell=$$" >&2; cat `+missingPath+`; exit 3`)
	after := time.Now()
	if code != 3 {
		t.Errorf("exit status %d, want the command's 3", code)
	}
	stderr := p.stderr.String()
	if !strings.Contains(stderr, "ready: tracing ") {
		t.Errorf("no ready line on stderr:\n%s", stderr)
	}
	var shell float64
	for _, l := range strings.Split(stderr, "\n") {
		if v, ok := strings.CutPrefix(l, "shell="); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("shell pid %q", v)
			}
			shell = float64(n)
		}
	}
	if shell == 0 {
		t.Fatalf("the shell did not run:\n%s", stderr)
	}
	evs := events(t, p.stdout.String())
	if len(evs) != 1 {
		t.Fatalf("%d events, want the one openat:\n%s\nstderr:\n%s", len(evs), p.stdout, stderr)
	}
	ev := evs[0]

	ts, _ := ev["time"].(string)
	if tm, err := time.Parse(time.RFC3339Nano, ts); err != nil || tm.Before(before) || tm.After(after) {
		t.Errorf("time %q (%v): not within the run (%v .. %v)", ts, err, before, after)
	}
	pr, _ := ev["proc"].(map[string]any)
	pid, _ := pr["pid"].(float64)
	if pid == 0 || pid == shell {
		t.Errorf("proc.pid %v: want cat's own pid, not 0 or the shell's %v", pid, shell)
	}
	wantProc := map[string]any{
		"pid": pid, "tid": pid, "ppid": shell, "comm": "cat",
		"uid": float64(os.Getuid()), "gid": float64(os.Getgid()),
		"cgroup_id": float64(ownCgroupID(t)),
		"mntns":     nsInode(t, "mnt"), "pidns": nsInode(t, "pid"),
		"netns": nsInode(t, "net"), "userns": nsInode(t, "user"),
	}
	if cg := ownCgroup(t); cg != "/" {
		wantProc["cgroup"] = cg
	}
	want := map[string]any{
		"time": ts, "syscall": "openat", "family": "open",
		"ret": -1.0, "errno": "ENOENT", "error": "No such file or directory",
		"args": map[string]any{
			"dirfd": map[string]any{"fd": -100.0, "at_fdcwd": true},
			"path":  missingPath,
			"flags": "O_RDONLY",
		},
		"proc":      wantProc,
		"reasons":   []any{},
		"container": nil,
	}
	if !reflect.DeepEqual(ev, want) {
		got, _ := json.MarshalIndent(ev, "", "  ")
		exp, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("event:\n%s\nwant:\n%s", got, exp)
	}
}

// ownCgroup is the test's cgroup v2 path, which cat inherits.
func ownCgroup(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	t.Fatalf("no cgroup v2 line in /proc/self/cgroup:\n%s", b)
	return ""
}

// ownCgroupID is the id bpf_get_current_cgroup_id() gives the test's
// processes: the inode number of the cgroup's directory in cgroup2.
func ownCgroupID(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if i := indexOf(f, "-"); i > 0 && i+1 < len(f) && f[i+1] == "cgroup2" {
			var st unix.Stat_t
			if err := unix.Stat(filepath.Join(f[4], ownCgroup(t)), &st); err != nil {
				t.Fatal(err)
			}
			return st.Ino
		}
	}
	t.Fatal("no cgroup2 mount")
	return 0
}

func indexOf(s []string, x string) int {
	for i, v := range s {
		if v == x {
			return i
		}
	}
	return -1
}

// nsInode is the inode of the test's namespace of a kind, as JSON numbers
// decode.
func nsInode(t *testing.T, kind string) float64 {
	t.Helper()
	l, err := os.Readlink("/proc/self/ns/" + kind)
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	if _, err := fmt.Sscanf(l, kind+":[%d]", &n); err != nil {
		t.Fatalf("%s: %v", l, err)
	}
	return float64(n)
}

// TestRunFilters: -e and --errno let through exactly the failures they
// select. The traced command fails in mount (ENOENT), openat (ENOENT) and
// execve (EACCES).
func TestRunFilters(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	noexec := filepath.Join(t.TempDir(), "not-executable")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := append([]string{triggerEnv + "=filters", notExecEnv + "=" + noexec}, quietEnv...)
	tests := []struct {
		name  string
		flags []string
		check func(ev map[string]any) bool // what every event must be
		want  string                       // the event that must be there: syscall errno
	}{
		{"syscall", []string{"-e", "mount"}, func(ev map[string]any) bool { return ev["syscall"] == "mount" }, "mount ENOENT"},
		{"family", []string{"-e", "%exec"}, func(ev map[string]any) bool { return ev["family"] == "exec" }, "execve EACCES"},
		{"errno", []string{"--errno", "EACCES"}, func(ev map[string]any) bool { return ev["errno"] == "EACCES" }, "execve EACCES"},
		{"both", []string{"-e", "openat,mount", "--errno", "enoent"}, func(ev map[string]any) bool {
			return ev["errno"] == "ENOENT" && (ev["syscall"] == "openat" || ev["syscall"] == "mount")
		}, "openat ENOENT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append(append([]string{"run", "-o", "json"}, tt.flags...), "--", self)
			p, code := runCtrace(t, env, args...)
			if code != 0 {
				t.Errorf("exit status %d, want 0\nstderr:\n%s", code, p.stderr)
			}
			found := false
			for _, ev := range events(t, p.stdout.String()) {
				line, _ := json.Marshal(ev)
				if !tt.check(ev) {
					t.Errorf("let through: %s", line)
				}
				if fmt.Sprint(ev["syscall"], " ", ev["errno"]) == tt.want && argsMention(ev, missingPath, noexec) {
					found = true
				}
			}
			if !found {
				t.Errorf("no %s event of the trigger in:\n%s", tt.want, p.stdout)
			}
		})
	}
}

// argsMention reports whether an event's path argument is one of paths.
func argsMention(ev map[string]any, paths ...string) bool {
	args, _ := ev["args"].(map[string]any)
	for _, k := range []string{"path", "target"} {
		for _, p := range paths {
			if args[k] == p {
				return true
			}
		}
	}
	return false
}

func TestRunUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want []string // all on stderr
	}{
		{[]string{"run", "-e", "mount,nosuchcall"}, []string{`"nosuchcall"`, "valid syscalls: mount,umount2,", "openat", "execveat"}},
		{[]string{"run", "-e", "%nosuchfamily"}, []string{"valid families: %mount"}},
		{[]string{"run", "--errno", "ENOTANERRNO"}, []string{`--errno: unknown errno "ENOTANERRNO"`, "names:\n  EPERM, ENOENT,", "EACCES", "EINVAL"}},
		{[]string{"run", "-o", "yaml"}, []string{"valid: text, json"}},
		{[]string{"run", "--nosuchflag"}, []string{"unknown flag"}},
		{[]string{"run", "--count", "-1"}, []string{"--count"}},
		{[]string{"run", "stray"}, []string{"put the command to trace after --"}},
		{[]string{"check", "-o", "xml"}, []string{"valid: text, json"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			p, code := runCtrace(t, nil, tt.args...)
			if code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(p.stderr.String(), w) {
					t.Errorf("stderr does not say %q:\n%s", w, p.stderr)
				}
			}
			if p.stdout.String() != "" {
				t.Errorf("stdout not empty: %q", p.stdout)
			}
		})
	}
}

// TestRunStops: --count, --duration and SIGTERM end a run with the right
// status; with a command, ctrace still exits with the command's status.
func TestRunStops(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	t.Run("count", func(t *testing.T) {
		t.Parallel()
		p, code := runCtrace(t, quietEnv, "run", "-o", "json", "--count", "1", "-e", "openat", "--",
			"/bin/sh", "-c", "cat /nonexistent/a /nonexistent/b /nonexistent/c 2>/dev/null; exit 5")
		if evs := events(t, p.stdout.String()); len(evs) != 1 {
			t.Errorf("%d events, want 1:\n%s", len(evs), p.stdout)
		}
		if code != 5 {
			t.Errorf("exit status %d, want the command's 5\nstderr:\n%s", code, p.stderr)
		}
	})
	t.Run("duration", func(t *testing.T) {
		t.Parallel()
		p := start(t, runLimit, nil, "run", "--duration", "1s", "-e", "pivot_root")
		p.waitReady(t)
		ready := time.Now()
		if code := p.wait(t); code != 0 {
			t.Errorf("exit status %d, want 0\nstderr:\n%s", code, p.stderr)
		}
		// The second starts just before the ready line.
		if d := p.exited.Sub(ready); d < 800*time.Millisecond || d > 15*time.Second {
			t.Errorf("exited %v after the ready line, want about 1s", d)
		}
	})
	t.Run("duration-with-command", func(t *testing.T) {
		t.Parallel()
		// Tracing stops after 1 s; the command goes on, and ctrace
		// waits for it rather than leaving it behind.
		p, code := runCtrace(t, quietEnv, "run", "--duration", "1s", "-e", "pivot_root", "--",
			"/bin/sh", "-c", "sleep 2; exit 6")
		if code != 6 {
			t.Errorf("exit status %d, want the command's 6\nstderr:\n%s", code, p.stderr)
		}
	})
	t.Run("SIGTERM", func(t *testing.T) {
		t.Parallel()
		p := start(t, runLimit, nil, "run", "-e", "mount")
		p.waitReady(t)
		ids := progIDs(t, p.cmd.Process.Pid)
		if len(ids) == 0 {
			t.Fatal("ctrace holds no eBPF program")
		}
		if err := p.cmd.Process.Signal(unix.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t); code != 0 {
			t.Errorf("after SIGTERM: exit status %d, want 0\nstderr:\n%s", code, p.stderr)
		}
		waitUnloaded(t, ids)
	})
}

// waitUnloaded fails the test if a program of ids is still loaded 10 s
// after the ctrace that held it exited.
func waitUnloaded(t *testing.T, ids map[ebpf.ProgramID]string) {
	t.Helper()
	// The kernel frees a program after an RCU grace period.
	var left []ebpf.ProgramID
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		left = left[:0]
		for id := range ids {
			if prog, err := ebpf.NewProgramFromID(id); err == nil {
				prog.Close()
				left = append(left, id)
			} else if !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("look up program %d: %v", id, err)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, id := range left {
		t.Errorf("program %d (%s) still loaded 10 s after ctrace exited", id, ids[id])
	}
}

// progIDs lists the eBPF programs a process holds file descriptors of
// (programs, and the links that attach them), with their names. It checks
// that they are ctrace's: the syscall dispatchers are among them.
func progIDs(t *testing.T, pid int) map[ebpf.ProgramID]string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[ebpf.ProgramID]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		for _, l := range strings.Split(string(b), "\n") {
			v, ok := strings.CutPrefix(l, "prog_id:")
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				t.Fatalf("%s: %q", e.Name(), l)
			}
			ids[ebpf.ProgramID(n)] = ""
		}
	}
	names := map[string]bool{}
	for id := range ids {
		prog, err := ebpf.NewProgramFromID(id)
		if err != nil {
			t.Fatalf("program %d: %v", id, err)
		}
		info, err := prog.Info()
		prog.Close()
		if err != nil {
			t.Fatalf("program %d: %v", id, err)
		}
		ids[id] = info.Name
		names[info.Name] = true
	}
	// The per-syscall tracepoints' programs (the kernels the tests run on
	// have them, and ctrace reaches them with or without tracefs
	// mounted): mount's exit and the entry mark.
	for _, n := range []string{"tp_exit_mount", "tp_sys_enter"} {
		if !names[n] {
			t.Errorf("ctrace holds no program %s; it holds %v", n, names)
		}
	}
	return ids
}

// TestRunSignalsReachCommand: with a command, a SIGTERM sent to ctrace is
// passed on to the command once, and a SIGINT sent to the whole process
// group, as a terminal's ^C is, is not passed on a second time. ctrace
// exits with the command's status.
func TestRunSignalsReachCommand(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		send  func(p *proc) error
		ints  int
		terms int
	}{
		{"SIGTERM-to-ctrace", func(p *proc) error { return p.cmd.Process.Signal(unix.SIGTERM) }, 0, 1},
		{"SIGINT-to-group", func(p *proc) error { return unix.Kill(-p.cmd.Process.Pid, unix.SIGINT) }, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := start(t, runLimit, []string{triggerEnv + "=signals"}, "run", "-e", "mount", "--", self)
			p.waitReady(t)
			if err := p.stderr.waitFor(p.ctx, "trigger: waiting for signals"); err != nil {
				t.Fatalf("%v\nstderr:\n%s", err, p.stderr)
			}
			if err := tt.send(p); err != nil {
				t.Fatal(err)
			}
			code := p.wait(t)
			if want := 64 + 8*tt.ints + tt.terms; code != want {
				t.Errorf("exit status %d: the command got %d SIGINT and %d SIGTERM, want %d and %d\nstderr:\n%s",
					code, (code-64)/8, (code-64)%8, tt.ints, tt.terms, p.stderr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	p, code := runCtrace(t, nil, "version")
	if code != 0 {
		t.Fatalf("exit status %d\nstderr:\n%s", code, p.stderr)
	}
	ebpfVersion := "(not in the test binary's build info)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/cilium/ebpf" {
				ebpfVersion = d.Version
			}
		}
	}
	want := fmt.Sprintf("ctrace %s\ncommit: %s\ngo: %s\ncilium/ebpf: %s\n",
		testVersion, testCommit, runtime.Version(), ebpfVersion)
	if got := p.stdout.String(); got != want {
		t.Errorf("ctrace version printed\n%s\nwant\n%s", got, want)
	}
}
