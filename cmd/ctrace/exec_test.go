package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/testing/exectest"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// execRepeat is how many times each exec failure is made in one run:
// the diagnosis must hold every time, not most.
const execRepeat = 20

// chrootExecEnv, when set to "ROOT|PATH|PATH...", makes the test binary a
// traced command that chroots to ROOT and execs each PATH execRepeat
// times, and then stays a while: a caller that lives when ctrace reads
// its files (through /proc/PID/root, its chroot).
const chrootExecEnv = "CTRACE_CLI_CHROOT_EXEC"

func init() {
	spec := os.Getenv(chrootExecEnv)
	if spec == "" {
		return
	}
	f := strings.Split(spec, "|")
	if err := unix.Chroot(f[0]); err != nil {
		fmt.Fprintln(os.Stderr, "chroot:", err)
		os.Exit(1)
	}
	_ = unix.Chdir("/")
	for range execRepeat {
		for _, p := range f[1:] {
			exectest.Exec(p)
		}
	}
	time.Sleep(time.Second)
	os.Exit(0)
}

// execEvent is what the tests read of an exec failure's JSON.
type execEvent struct {
	Syscall string `json:"syscall"`
	Errno   string `json:"errno"`
	Args    struct {
		Path string `json:"path"`
	} `json:"args"`
	Reasons []struct {
		Kind, Problem, File, Format, Interpreter, Machine, Checked, Via string
		NodeMachine                                                     string `json:"node_machine"`
		BinfmtMisc                                                      string `json:"binfmt_misc"`
		CRLF                                                            bool
	} `json:"reasons"`
	Hints []struct {
		Rule, Text string
	} `json:"hints"`
	Benign     bool   `json:"benign"`
	BenignRule string `json:"benign_rule"`
}

// checkExecEvents checks every execve of a case's path in ctrace's JSON
// output: each of the execRepeat failures carries the case's reason (via
// one of vias) and hint, or none for a case without.
func checkExecEvents(t *testing.T, stdout string, cases []exectest.Case, vias ...string) {
	t.Helper()
	byPath := map[string]exectest.Case{}
	for _, c := range cases {
		byPath[c.Path] = c
	}
	seen := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var e execEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		c, ok := byPath[e.Args.Path]
		if e.Syscall != "execve" || !ok {
			continue
		}
		seen[c.Name]++
		if e.Errno != unix.ErrnoName(c.Errno) {
			t.Errorf("%s: errno %s, want %s: %s", c.Name, e.Errno, unix.ErrnoName(c.Errno), l)
			continue
		}
		var hints []string
		for _, h := range e.Hints {
			hints = append(hints, h.Rule)
		}
		if c.Problem == "" {
			for _, r := range e.Reasons {
				if r.Kind == "exec" {
					t.Errorf("%s: an exec reason for a file that is not there: %s", c.Name, l)
				}
			}
			if len(hints) > 0 {
				t.Errorf("%s: hints %v: %s", c.Name, hints, l)
			}
			continue
		}
		if len(e.Reasons) != 1 {
			t.Errorf("%s: reasons %+v, want the exec reason: %s", c.Name, e.Reasons, l)
			continue
		}
		r := e.Reasons[0]
		if r.Kind != "exec" || r.Problem != c.Problem || r.File != c.File || r.Interpreter != c.Interpreter ||
			r.CRLF != c.CRLF || r.Machine != c.Machine || r.Checked != "after" || !contains(vias, r.Via) {
			t.Errorf("%s: reason %+v, want %+v via %v: %s", c.Name, r, c, vias, l)
		}
		if c.Machine != "" && (r.NodeMachine != runtimeMachine(t) || r.BinfmtMisc == "") {
			t.Errorf("%s: node machine %q, binfmt_misc %q", c.Name, r.NodeMachine, r.BinfmtMisc)
		}
		if len(hints) != 1 || hints[0] != c.Hint || !strings.Contains(e.Hints[0].Text, c.File) {
			t.Errorf("%s: hints %+v, want %s naming %s", c.Name, e.Hints, c.Hint, c.File)
		}
		if e.Benign {
			t.Errorf("%s: marked benign (%s)", c.Name, e.BenignRule)
		}
	}
	for _, c := range cases {
		if seen[c.Name] != execRepeat {
			t.Errorf("%s: %d events of %s, want %d", c.Name, seen[c.Name], c.Path, execRepeat)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func runtimeMachine(t *testing.T) string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	return unix.ByteSliceToString(u.Machine[:])
}

// TestExecReasonsOnTheNode: a shell on the node runs each file that
// execve refuses; its child, whose exec failed, exits at once, so ctrace
// reads the file as the node's root shows it (or through the child's
// /proc while it lingers). JSON carries the reason and hint every time,
// and text shows both.
func TestExecReasonsOnTheNode(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	dir := t.TempDir()
	cases, err := exectest.Build("/", dir)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, c := range cases {
		paths = append(paths, c.Path)
	}
	// dash runs a file of no format as a script itself: its output goes.
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do for f in %s; do "$f"; done >/dev/null 2>&1; i=$((i+1)); done; exit 0`,
		execRepeat, strings.Join(paths, " "))
	p, code := runCtrace(t, quietEnv, "run", "-o", "json", "--", "/bin/sh", "-c", script)
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.stderr)
	}
	checkExecEvents(t, p.stdout.String(), cases, "host_root", "proc")

	// Text: the reason in its bracket, the hint below, for one of each.
	p, code = runCtrace(t, quietEnv, "run", "--", "/bin/sh", "-c", strings.Join(paths, " >/dev/null 2>&1; ")+" >/dev/null 2>&1; exit 0")
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.stderr)
	}
	out := p.stdout.String()
	for _, want := range []string{
		`execve("` + dir + `/crlf.sh", ["` + dir + `/crlf.sh"], `, /* envp */
		`[exec: ` + dir + `/crlf.sh is a script whose interpreter /bin/sh\r does not exist (its #! line ends in a carriage return: CRLF line ends) (read after the call)]`,
		`[exec: ` + dir + `/patched is an ELF whose interpreter (PT_INTERP) ` + exectest.MissingLoader + ` does not exist (read after the call)]`,
		`[exec: ` + dir + `/chain.sh runs ` + dir + `/patched, which is an ELF whose interpreter (PT_INTERP) ` + exectest.MissingLoader + ` does not exist`,
		`[exec: ` + dir + `/foreign is built for ` + exectest.ForeignMachine + `, and this node is ` + runtimeMachine(t) + `; `,
		`[exec: ` + dir + `/text is neither an ELF nor a #! script (it starts "echo hi\n") (read after the call)]`,
		"  hint: the #! line of " + dir + "/crlf.sh ends in a carriage return",
		"  hint: " + dir + "/foreign is built for " + exectest.ForeignMachine + " and this node is " + runtimeMachine(t),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output has no %q:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, dir+"/missing") && (strings.Contains(l, "[exec:") || strings.Contains(l, "hint:")) {
			t.Errorf("a file that is not there got an exec reason: %s", l)
		}
	}
}

// TestExecReasonsInAChroot: a caller that chrooted into a tree without
// glibc and lives on is read through its own root (/proc/PID/root): the
// node's glibc binary, as it is, lacks its loader there.
func TestExecReasonsInAChroot(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs and chroot")
	root := t.TempDir()
	cases, err := exectest.Build(root, "/x")
	if err != nil {
		t.Fatal(err)
	}
	spec := root
	for _, c := range cases {
		spec += "|" + c.Path
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, code := runCtrace(t, append(quietEnv, chrootExecEnv+"="+spec), "run", "-o", "json", "--", self)
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.stderr)
	}
	checkExecEvents(t, p.stdout.String(), cases, "proc")
}

// TestExecPathSearchEACCES: a PATH search that meets a file of the
// command's name it may not run (EACCES) goes on to the next entry, as
// libc's execvp does for env (dash and busybox sh pass over such a file
// without an exec); that failure is marked benign, with the permission
// reason that says why the entry refused when it is found, and hidden
// from text. The command is no busybox applet, which busybox's env (the
// kernel matrix's guests) would run without a search; it is found in no
// entry, so env fails, as it does on a node where the file is not meant
// to run.
func TestExecPathSearchEACCES(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	bin := t.TempDir()
	const name = "ctrace-path-probe"
	if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"LC_ALL=C", "LANG=C", "PATH=" + bin + ":/usr/bin:/bin"}
	script := "i=0; while [ $i -lt " + strconv.Itoa(execRepeat) + " ]; do env " + name + " >/dev/null 2>&1; i=$((i+1)); done"
	p, code := runCtrace(t, env, "run", "-o", "json", "--", "/bin/sh", "-c", script)
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.stderr)
	}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(p.stdout.String()), "\n") {
		var e execEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if e.Args.Path != filepath.Join(bin, name) {
			continue
		}
		n++
		if e.Errno != "EACCES" || !e.Benign || e.BenignRule != "exec-path-search" {
			t.Errorf("want a benign exec-path-search EACCES: %s", l)
		}
		// The permission walk finds the entry's bits when env still
		// runs (it tries the other entries, then exits at once);
		// gone, root's exec of a file without an x bit leaves the walk
		// no capability denial to stand on, and it says nothing.
		for _, r := range e.Reasons {
			if r.Kind != "permission" {
				t.Errorf("a reason other than the entry's permission: %s", l)
			}
		}
	}
	if n != execRepeat {
		t.Errorf("%d EACCES of %s/%s, want %d:\n%s", n, bin, name, execRepeat, p.stdout)
	}
	p, code = runCtrace(t, env, "run", "--", "/bin/sh", "-c", script)
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.stderr)
	}
	if strings.Contains(p.stdout.String(), bin) {
		t.Errorf("text shows the PATH search's EACCES:\n%s", p.stdout)
	}
}
