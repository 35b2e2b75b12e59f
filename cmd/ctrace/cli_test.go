package main

// The ctrace binary, driven as users drive it.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// ctraceBin builds the binary once per test run.
func ctraceBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ctrace-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "ctrace")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = errors.New(string(out))
		}
	})
	if binErr != nil {
		t.Fatalf("build ctrace: %v", binErr)
	}
	return binPath
}

type result struct {
	code   int
	stdout string
	stderr string
}

// ctrace runs the binary to completion, within a minute.
func ctrace(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ctraceBin(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("ctrace %v: %v", args, err)
	}
	return r
}

func TestRunCommandJSON(t *testing.T) {
	requireRootCheck(t)
	r := ctrace(t, "run", "-o", "json", "-e", "openat", "--", "sh", "-c", "cat /nonexistent/ctrace-cli 2>/dev/null; exit 3")
	if r.code != 3 {
		t.Errorf("exit status %d, want the command's 3\nstderr: %s", r.code, r.stderr)
	}
	if !regexp.MustCompile(`ready: tracing 1 syscalls`).MatchString(r.stderr) {
		t.Errorf("no ready line on stderr:\n%s", r.stderr)
	}
	var ev map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		if args, _ := m["args"].(map[string]any); args["path"] == "/nonexistent/ctrace-cli" {
			ev = m
		}
	}
	if ev == nil {
		t.Fatalf("no openat event for the path in:\n%s", r.stdout)
	}
	want := map[string]any{"syscall": "openat", "family": "open", "ret": -1.0, "errno": "ENOENT", "container": nil}
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("%s = %v, want %v", k, ev[k], v)
		}
	}
	args := ev["args"].(map[string]any)
	if fd, _ := args["dirfd"].(map[string]any); fd["fd"] != -100.0 || fd["at_fdcwd"] != true {
		t.Errorf("dirfd = %v, want {fd:-100, at_fdcwd:true}", args["dirfd"])
	}
	if args["flags"] != "O_RDONLY" {
		t.Errorf("flags = %v", args["flags"])
	}
	proc := ev["proc"].(map[string]any)
	for _, k := range []string{"pid", "tid", "ppid", "comm", "uid", "gid", "cgroup_id", "mntns", "pidns", "netns", "userns"} {
		if _, ok := proc[k]; !ok {
			t.Errorf("proc has no %s", k)
		}
	}
	if proc["comm"] != "cat" {
		t.Errorf("comm = %v, want cat", proc["comm"])
	}
	if _, ok := ev["reasons"].([]any); !ok {
		t.Errorf("reasons = %v, want an array", ev["reasons"])
	}
	if _, err := time.Parse(time.RFC3339Nano, ev["time"].(string)); err != nil {
		t.Errorf("time: %v", err)
	}
}

func TestRunUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "-e", "mount,nosuchcall"}, "valid syscalls: mount,umount2"},
		{[]string{"run", "-e", "%nosuchfamily"}, "valid families: %mount"},
		{[]string{"run", "--errno", "ENOTANERRNO"}, "valid names: "},
		{[]string{"run", "-o", "yaml"}, "valid: text, json"},
		{[]string{"run", "--nosuchflag"}, "unknown flag"},
		{[]string{"check", "-o", "xml"}, "valid: text, json"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := ctrace(t, tt.args...)
			if r.code != 2 {
				t.Errorf("exit status %d, want 2", r.code)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, r.stderr)
			}
		})
	}
}

// TestRunStops: --count, --duration and SIGTERM end a node-wide run with
// status 0, and no ctrace program stays attached.
func TestRunStops(t *testing.T) {
	requireRootCheck(t)
	t.Run("count", func(t *testing.T) {
		r := ctrace(t, "run", "--count", "1", "-e", "openat", "--", "sh", "-c", "cat /nonexistent/a /nonexistent/b 2>/dev/null; true")
		if n := strings.Count(strings.TrimSpace(r.stdout), "\n") + 1; r.stdout == "" || n != 1 {
			t.Errorf("%d lines, want 1:\n%s", n, r.stdout)
		}
	})
	t.Run("duration", func(t *testing.T) {
		start := time.Now()
		r := ctrace(t, "run", "--duration", "1s", "-e", "mount")
		if r.code != 0 {
			t.Errorf("exit status %d\n%s", r.code, r.stderr)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("SIGTERM", func(t *testing.T) {
		cmd := exec.Command(ctraceBin(t), "run", "-e", "mount")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stderr)
		ready := false
		for sc.Scan() {
			if strings.Contains(sc.Text(), "ready:") {
				ready = true
				break
			}
		}
		if !ready {
			t.Fatal("no ready line")
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		go func() {
			for sc.Scan() {
			}
		}()
		if err := cmd.Wait(); err != nil {
			t.Errorf("after SIGTERM: %v, want exit status 0", err)
		}
		// The kernel frees programs after a grace period: poll.
		var left []string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			out, err := exec.Command("bpftool", "prog", "show").CombinedOutput()
			if err != nil {
				t.Skipf("skipped the attachment check: bpftool: %v", err)
			}
			left = left[:0]
			for _, name := range []string{"sys_exit", "sys_enter", "exit_mount", "cap_denied_tp", "kernel_log"} {
				if regexp.MustCompile(`name ` + name + `\b`).Match(out) {
					left = append(left, name)
				}
			}
			if len(left) == 0 {
				return
			}
		}
		t.Errorf("programs still loaded 10 s after ctrace exited: %v", left)
	})
}

func TestVersion(t *testing.T) {
	r := ctrace(t, "version")
	for _, want := range []string{"ctrace", "go1.", "cilium/ebpf"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("version output lacks %q:\n%s", want, r.stdout)
		}
	}
}
