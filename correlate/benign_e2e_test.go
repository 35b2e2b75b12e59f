package correlate

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctrace-dev/ctrace/internal/testing/ctrdtest"
)

// TestBenignRuncFailures: every container start makes runc fail on purpose
// (masked paths, device and mount destination checks, /etc/passwd of a
// busybox image). Text output hides those and counts them; JSON keeps
// them, marked with their rule; the container's real failure stays
// visible in both.
func TestBenignRuncFailures(t *testing.T) {
	needE2E(t)
	missing := "/missing-next-to-benign"
	run := func(t *testing.T, id string, args ...string) *ctraceRun {
		t.Helper()
		cr := startCtrace(t, append([]string{"--containerd-address", ctrd.Address, "--container", id}, args...)...)
		cr.waitStderr(t, "connected", 1)
		if _, err := ctrd.Run(ctx(t), ctrdtest.RunOptions{ID: id, Args: []string{"/bin/cat", missing}}); err != nil {
			t.Fatal(err)
		}
		return cr
	}

	t.Run("text", func(t *testing.T) {
		cr := run(t, runPrefix+"-benign-text")
		cr.waitLine(t, missing)
		if err := cr.stop(); err != nil {
			t.Fatalf("ctrace exit: %v\n%s", err, cr.stderrText())
		}
		for _, l := range cr.lines() {
			if strings.Contains(l, "runc:[2:INIT]") && strings.Contains(l, "/proc/kcore") {
				t.Errorf("a masked-path failure was shown: %s", l)
			}
		}
		m := regexp.MustCompile(`hid (\d+) known-harmless failures`).FindStringSubmatch(cr.stderrText())
		if m == nil {
			t.Fatalf("no count of hidden failures on stderr:\n%s", cr.stderrText())
		}
		if n, _ := strconv.Atoi(m[1]); n < 5 {
			t.Errorf("hid %d failures, want the masked paths and checks of a container start (5 or more)", n)
		}
	})

	t.Run("json", func(t *testing.T) {
		cr := run(t, runPrefix+"-benign-json", "-o", "json")
		cr.waitLine(t, missing)
		if err := cr.stop(); err != nil {
			t.Fatalf("ctrace exit: %v\n%s", err, cr.stderrText())
		}
		rules := map[string]int{}
		var realSeen bool
		for _, l := range cr.lines() {
			var e struct {
				Benign bool   `json:"benign"`
				Rule   string `json:"benign_rule"`
				Args   struct {
					Path string `json:"path"`
				} `json:"args"`
			}
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			if e.Benign {
				rules[e.Rule]++
			}
			if e.Args.Path == missing {
				realSeen = true
				if e.Benign {
					t.Errorf("the container's own failure was marked benign (%s)", e.Rule)
				}
			}
		}
		if !realSeen {
			t.Error("the container's own failure is missing")
		}
		if rules["runc-masked-path"] == 0 {
			t.Errorf("no failure marked runc-masked-path; rules seen: %v", rules)
		}
	})
}

// lines returns what ctrace wrote on stdout so far.
func (cr *ctraceRun) lines() []string {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return append([]string(nil), cr.stdout...)
}

// waitLine waits for a line of stdout that contains s.
func (cr *ctraceRun) waitLine(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, l := range cr.lines() {
			if strings.Contains(l, s) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line with %q within 10s; stdout:\n%s\nstderr:\n%s", s, strings.Join(cr.lines(), "\n"), cr.stderrText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
