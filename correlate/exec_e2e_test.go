package correlate

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctrace-dev/ctrace/internal/testing/ctrdtest"
	"github.com/ctrace-dev/ctrace/internal/testing/exectest"
)

// execRepeat is how many times each exec failure is made: the diagnosis
// must hold every time, not most.
const execRepeat = 20

// execImage is the image of TestExecInContainer: the busybox rootfs, which
// has no glibc, with exectest's files in /x.
const execImage = "ctrace.test/exec:latest"

// execJSON is what the test reads of an exec failure.
type execJSON struct {
	Syscall string `json:"syscall"`
	Errno   string `json:"errno"`
	Args    struct {
		Path string `json:"path"`
	} `json:"args"`
	Proc struct {
		Comm string `json:"comm"`
	} `json:"proc"`
	Reasons []struct {
		Kind, Problem, File, Interpreter, Machine, Checked, Via string
		CRLF                                                    bool
	} `json:"reasons"`
	Hints []struct {
		Rule, Text string
	} `json:"hints"`
	Container *struct {
		ID    string `json:"id"`
		Image string `json:"image"`
	} `json:"container"`
}

// TestExecInContainer makes each exec failure for real in containers of an
// image without glibc: as the container's command, which runc init execs
// and which fails the start ("exec /x/crlf.sh: no such file or
// directory"), and from a shell in a running container, whose child
// exits as soon as its exec failed. ctrace names the missing interpreter
// or the foreign machine, and the hint the image and container, every
// time; a file that is not there gets neither.
func TestExecInContainer(t *testing.T) {
	needE2E(t)
	if _, err := exec.LookPath("ctr"); err != nil {
		t.Fatal("no ctr (Debian package containerd): build/deps.sh test installs it")
	}
	tree, err := ctrdtest.BuildRootfs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cases, err := exectest.Build(tree, "/x")
	if err != nil {
		t.Fatal(err)
	}
	if err := ctrd.ImportTreeAs(ctx(t), "default", execImage, tree, []string{"/bin/sh"}); err != nil {
		t.Fatal(err)
	}
	prefix := runPrefix + "-exec"
	// Only the exec calls: ctrace traces the node, where other tests'
	// failure storms (failing openat by the million) would fill its ring
	// buffer and cost this test the failures it counts.
	cr := startCtrace(t, "--containerd-address", ctrd.Address, "-o", "json", "-e", "execve,execveat")
	cr.waitStderr(t, "connected", 1)

	// As the container's command: one container per failure. (runc
	// looks a command up before it execs it: a file that is not there
	// fails the start without an execve.)
	entry := map[string]bool{"crlf": true, "glibc-in-image-without-glibc": true, "foreign-machine": true,
		"unknown-format": true}
	for i := range execRepeat {
		for _, c := range cases {
			if !entry[c.Name] {
				continue
			}
			id := fmt.Sprintf("%s-%s-%d", prefix, c.Name, i)
			out, err := exec.CommandContext(ctx(t), "ctr", "--address", ctrd.Address, "--namespace", "default",
				"run", "--rm", execImage, id, c.Path).CombinedOutput()
			if err == nil {
				t.Fatalf("container %s ran %s: %s", id, c.Path, out)
			}
		}
	}
	// From a shell: each failing exec is a child of it, gone at once;
	// the first ones run before containerd has told of the container.
	// The container is kept until ctrace has caught up, as a running
	// container's would be: deleted, its upper layer goes, and what a
	// shell of it may have written there with it, so ctrace could no
	// longer tell (the exec reason of a gone caller is read in its
	// image's layers only for runc init, which never wrote to it).
	var paths []string
	for _, c := range cases {
		paths = append(paths, c.Path)
	}
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do for f in %s; do "$f"; done >/dev/null 2>&1; i=$((i+1)); done`,
		execRepeat, strings.Join(paths, " "))
	if out, err := exec.CommandContext(ctx(t), "ctr", "--address", ctrd.Address, "--namespace", "default",
		"run", execImage, prefix+"-sh", "/bin/sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("the shell's container: %v: %s", err, out)
	}
	t.Cleanup(func() {
		for _, args := range [][]string{{"task", "rm", "-f", prefix + "-sh"}, {"container", "rm", prefix + "-sh"}} {
			_ = exec.Command("ctr", append([]string{"--address", ctrd.Address, "--namespace", "default"}, args...)...).Run()
		}
	})
	// ctrace may be behind on a loaded machine (the diagnosis of each
	// failure reads files and asks containerd): let it catch up before
	// it is asked to end, which it must do within stop's 15 s.
	want := execRepeat * (len(entry) + len(cases))
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		n := 0
		for _, l := range cr.lines() {
			if strings.Contains(l, `"syscall":"execve"`) && strings.Contains(l, `"id":"`+prefix+"-") {
				n++
			}
		}
		if n >= want {
			break
		}
	}
	if err := cr.stop(); err != nil {
		t.Fatalf("ctrace exit: %v\n%s", err, cr.stderrText())
	}

	byPath := map[string]exectest.Case{}
	for _, c := range cases {
		byPath[c.Path] = c
	}
	type key struct{ caller, name string }
	seen := map[key]int{}
	vias := map[string]int{}
	for _, l := range cr.lines() {
		var e execJSON
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		c, ok := byPath[e.Args.Path]
		if e.Syscall != "execve" || !ok || e.Container == nil || !strings.HasPrefix(e.Container.ID, prefix) {
			continue
		}
		caller := "shell"
		if e.Proc.Comm == "runc:[2:INIT]" {
			caller = "entrypoint"
		}
		seen[key{caller, c.Name}]++
		if c.Problem == "" {
			for _, r := range e.Reasons {
				if r.Kind == "exec" {
					t.Errorf("%s %s: a file that is not there got an exec reason: %s", caller, c.Name, l)
				}
			}
			if len(e.Hints) != 0 {
				t.Errorf("%s %s: a file that is not there got hints: %s", caller, c.Name, l)
			}
			continue
		}
		// One exec reason and nothing else: not the CAP_SYS_ADMIN
		// question memory accounting asks during every exec in a
		// container without it (tracer's TestNoCapabilityForAQuestion).
		if len(e.Reasons) != 1 || e.Reasons[0].Kind != "exec" {
			t.Errorf("%s %s: want one exec reason: %s", caller, c.Name, l)
			continue
		}
		r := e.Reasons[0]
		vias[caller+" via "+r.Via]++
		if r.Kind != "exec" || r.Problem != c.Problem || r.File != c.File || r.Interpreter != c.Interpreter ||
			r.CRLF != c.CRLF || r.Machine != c.Machine || r.Checked != "after" || !slices.Contains([]string{"proc", "container_rootfs", "parent", "snapshot_layers", "image_layers"}, r.Via) {
			t.Errorf("%s %s: reason %+v, want %+v: %s", caller, c.Name, r, c, l)
		}
		want := "in image " + execImage + " (container default/" + e.Container.ID + ")"
		if len(e.Hints) != 1 || e.Hints[0].Rule != c.Hint || !strings.Contains(e.Hints[0].Text, want) {
			t.Errorf("%s %s: hints %+v, want %s naming %q: %s", caller, c.Name, e.Hints, c.Hint, want, l)
		}
	}
	t.Logf("how the callers' files were read: %v", vias)
	for _, c := range cases {
		callers := []string{"shell"}
		if entry[c.Name] {
			callers = append(callers, "entrypoint")
		}
		for _, caller := range callers {
			if n := seen[key{caller, c.Name}]; n != execRepeat {
				t.Errorf("%s %s: %d failures seen, want %d", caller, c.Name, n, execRepeat)
			}
		}
	}
}
