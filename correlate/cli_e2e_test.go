package correlate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ctrace-dev/ctrace/internal/testing/ctrdtest"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// These scenarios run the ctrace binary as users do: the filters, the
// summary and the exit status are the command's, and so is surviving a
// containerd restart.

func ctraceBinary(t *testing.T) string {
	t.Helper()
	needE2E(t)
	return testenv.CtraceBinary(t, ctrd.Dir)
}

// ctraceRun is a running `ctrace run`.
type ctraceRun struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error

	mu     sync.Mutex
	stdout []string
	stderr bytes.Buffer
}

func startCtrace(t *testing.T, args ...string) *ctraceRun {
	t.Helper()
	bin := ctraceBinary(t)
	cr := &ctraceRun{cmd: exec.Command(bin, append([]string{"run"}, args...)...), done: make(chan struct{})}
	cr.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cr.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cr.cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		cr.mu.Lock()
		defer cr.mu.Unlock()
		return cr.stderr.Write(p)
	})
	if err := cr.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			cr.mu.Lock()
			cr.stdout = append(cr.stdout, sc.Text())
			cr.mu.Unlock()
		}
		cr.err = cr.cmd.Wait()
		close(cr.done)
	}()
	t.Cleanup(func() { cr.stop() })
	cr.waitStderr(t, "ready: tracing", 1)
	return cr
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (cr *ctraceRun) stderrText() string {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return cr.stderr.String()
}

// waitStderr waits until s has appeared n times on stderr.
func (cr *ctraceRun) waitStderr(t *testing.T, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(cr.stderrText(), s) < n {
		select {
		case <-cr.done:
			t.Fatalf("ctrace exited (%v) before %q; stderr:\n%s", cr.err, s, cr.stderrText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q on ctrace's stderr within 20s:\n%s", s, cr.stderrText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// jsonEvent is the part of ctrace's JSON output the scenarios check.
type jsonEvent struct {
	Syscall string                     `json:"syscall"`
	Errno   string                     `json:"errno"`
	Args    map[string]json.RawMessage `json:"args"`
	Proc    struct {
		PID  uint32 `json:"pid"`
		Comm string `json:"comm"`
	} `json:"proc"`
	Container *struct {
		ID        string            `json:"id"`
		Namespace string            `json:"namespace"`
		Known     bool              `json:"known"`
		Runtime   string            `json:"runtime"`
		ShimPID   uint32            `json:"shim_pid"`
		Labels    map[string]string `json:"labels"`
	} `json:"container"`
}

func (e *jsonEvent) arg(name string) string {
	var s string
	_ = json.Unmarshal(e.Args[name], &s)
	return s
}

// events parses the JSON lines written so far.
func (cr *ctraceRun) events(t *testing.T) []jsonEvent {
	t.Helper()
	cr.mu.Lock()
	defer cr.mu.Unlock()
	var out []jsonEvent
	for _, l := range cr.stdout {
		var e jsonEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("bad JSON line %q: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

// waitEvent waits for a JSON event that f accepts.
func (cr *ctraceRun) waitEvent(t *testing.T, what string, f func(*jsonEvent) bool) jsonEvent {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, e := range cr.events(t) {
			if f(&e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			cr.mu.Lock()
			n := len(cr.stdout)
			cr.mu.Unlock()
			t.Fatalf("no event for %s within 10s (%d events); stderr:\n%s", what, n, cr.stderrText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGINT, as ^C does, and waits for ctrace to exit.
func (cr *ctraceRun) stop() error {
	select {
	case <-cr.done:
		return cr.err
	default:
	}
	_ = cr.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-cr.done:
	case <-time.After(15 * time.Second):
		_ = cr.cmd.Process.Kill()
		<-cr.done
	}
	return cr.err
}

func alive(cr *ctraceRun) bool {
	select {
	case <-cr.done:
		return false
	default:
		return true
	}
}

// Scenario 7: two containers fail at once; with --container only the
// chosen one's events are shown, and the summary counts only them.
func TestContainerFilter(t *testing.T) {
	needE2E(t)
	a, b := runPrefix+"-pick", runPrefix+"-other"
	sumFile := filepath.Join(t.TempDir(), "summary.json")
	cr := startCtrace(t, "-o", "json", "--containerd-address", ctrd.Address, "--container", a, "--summary-file", sumFile)
	cr.waitStderr(t, "connected", 1)
	var wg sync.WaitGroup
	for _, id := range []string{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ctrd.Run(ctx(t), ctrdtest.RunOptions{ID: id, Args: []string{"/bin/mount", "-t", "tmpfs", "none", "/mnt"}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	ev := cr.waitEvent(t, "mount EPERM of "+a, func(e *jsonEvent) bool {
		return e.Syscall == "mount" && e.Proc.Comm == "mount" && e.Container != nil && e.Container.ID == a
	})
	if ev.Errno != "EPERM" || ev.arg("target") != "/mnt" || !ev.Container.Known || ev.Container.Namespace != "default" ||
		ev.Container.Runtime != "io.containerd.runc.v2" || ev.Container.ShimPID == 0 {
		t.Errorf("event %+v container %+v", ev, *ev.Container)
	}
	time.Sleep(500 * time.Millisecond)
	if err := cr.stop(); err != nil {
		t.Errorf("ctrace exit: %v; stderr:\n%s", err, cr.stderrText())
	}
	for _, e := range cr.events(t) {
		if e.Container == nil || e.Container.ID != a {
			t.Errorf("event not of %s passed --container: %+v", a, e)
		}
	}
	var sum struct {
		Summary []struct {
			Container, Syscall, Errno string
			Count                     int
		} `json:"summary"`
		Total int `json:"total"`
	}
	raw, err := os.ReadFile(sumFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatalf("summary %q: %v", raw, err)
	}
	found, total := false, 0
	for _, row := range sum.Summary {
		total += row.Count
		if row.Container != "default/"+a {
			t.Errorf("summary row of another container: %+v", row)
		}
		if row.Syscall == "mount" && row.Errno == "EPERM" && row.Count >= 1 {
			found = true
		}
	}
	if !found || total != sum.Total {
		t.Errorf("summary %s: want a mount EPERM row of default/%s and a total of the rows", raw, a)
	}
}

// Scenario 8: containerd is killed and restarted while ctrace runs;
// ctrace keeps running, shows host events meanwhile, reconnects, and
// containers started after the restart carry containerd's metadata.
func TestContainerdRestart(t *testing.T) {
	needE2E(t)
	cr := startCtrace(t, "-o", "json", "--containerd-address", ctrd.Address)
	cr.waitStderr(t, "connected", 1)
	ctrd.Kill()
	cr.waitStderr(t, "connection lost", 1)
	missing := "/missing-while-containerd-is-down"
	_ = exec.Command("/bin/busybox", "cat", missing).Run()
	cr.waitEvent(t, "host openat while containerd is down", func(e *jsonEvent) bool {
		return e.Syscall == "openat" && e.arg("path") == missing && e.Container == nil && e.Errno == "ENOENT"
	})
	if err := ctrd.Restart(); err != nil {
		t.Fatal(err)
	}
	cr.waitStderr(t, "connected", 2)
	id := runPrefix + "-after"
	if _, err := ctrd.Run(ctx(t), ctrdtest.RunOptions{ID: id, Labels: map[string]string{LabelPodName: "p"}, Args: []string{"/bin/mount", "-t", "tmpfs", "none", "/mnt"}}); err != nil {
		t.Fatal(err)
	}
	ev := cr.waitEvent(t, "mount in "+id, func(e *jsonEvent) bool {
		return e.Syscall == "mount" && e.Container != nil && e.Container.ID == id
	})
	if !ev.Container.Known || ev.Container.Runtime != "io.containerd.runc.v2" || ev.Container.Labels[LabelPodName] != "p" {
		t.Errorf("container after restart: %+v", *ev.Container)
	}
	if !alive(cr) {
		t.Fatalf("ctrace exited: %v", cr.err)
	}
	if err := cr.stop(); err != nil {
		t.Errorf("ctrace exit: %v; stderr:\n%s", err, cr.stderrText())
	}
}

// Scenario 9: no containerd at all: host events flow, one warning; and
// the summary and --fail-on-events as a CI job uses them.
func TestNoContainerd(t *testing.T) {
	bin := ctraceBinary(t)
	missing := "/missing-without-containerd"
	cmd := exec.CommandContext(context.Background(), bin, "run", "--containerd-address", filepath.Join(t.TempDir(), "none.sock"),
		"-e", "%open", "--summary", "--fail-on-events", "--",
		"/bin/busybox", "sh", "-c", "sleep 1.5; /bin/busybox cat "+missing+"; /bin/busybox cat "+missing+"; exit 0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("exit %v, want status 3 (failures seen); stderr:\n%s", err, stderr.String())
	}
	if n := strings.Count(stderr.String(), "containerd not reachable"); n != 1 {
		t.Errorf("%d warnings about containerd, want 1; stderr:\n%s", n, stderr.String())
	}
	// The table: header, the host's openat row, the total.
	lines := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "CONTAINER") || !strings.HasPrefix(lines[len(lines)-1], "total") {
		t.Fatalf("summary:\n%s", stdout.String())
	}
	var row []string
	for _, l := range lines[1 : len(lines)-1] {
		f := strings.Fields(l)
		if len(f) >= 4 && f[0] == "host" && f[1] == "openat" && f[2] == "ENOENT" {
			row = f
		}
	}
	if row == nil || row[3] != "2" {
		t.Errorf("no host openat ENOENT row with count 2 in:\n%s", stdout.String())
	}
}
