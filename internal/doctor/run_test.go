package doctor

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/testing/ctrdtest"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// TestRunNetNSReason runs `ctrace run` as users do: the failing setns of
// `ip netns exec` on a stale file carries the netns reason with the
// container (running, then deleted) and the stale-netns hint, and the
// doctor's gauge counts the stale file.
func TestRunNetNSReason(t *testing.T) {
	testenv.RequireRoot(t, "containerd, eBPF and ip netns")
	if ctrd.Skip != "" {
		t.Skip(ctrd.Skip)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := prefix + "-run"
	p := testenv.AddNetNS(t, name)
	id := prefix + "-runsbx"
	res, err := ctrd.Run(ctx, ctrdtest.RunOptions{ID: id, NetNS: p, Args: []string{"/bin/sleep", "300"}, Keep: true,
		Labels: map[string]string{correlate.LabelPodName: "web-1", correlate.LabelPodNamespace: "shop"}})
	if err == nil && res.StartErr != nil {
		err = res.StartErr
	}
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Cleanup(func() { _ = ctrd.Remove(context.Background(), "default", id) })

	bin := testenv.CtraceBinary(t, ctrd.Dir)
	cmd := exec.CommandContext(ctx, bin, "run", "-o", "json", "-e", "setns", "--containerd-address", ctrd.Address,
		"--metrics-addr", "127.0.0.1:0", "--doctor-interval", "1s")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(unix.SIGINT); _ = cmd.Wait() }()
	var mu sync.Mutex
	var lines []string
	var errText strings.Builder
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
	}()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		addr := ""
		seenReady, seenConn, sent := false, false, false
		re := regexp.MustCompile(`http://([0-9.:]+)/metrics`)
		for sc.Scan() {
			mu.Lock()
			errText.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr = m[1]
			}
			if strings.Contains(sc.Text(), "ready: tracing") {
				seenReady = true
			}
			// The owner comes from containerd: wait for the resolver too.
			if strings.Contains(sc.Text(), ": connected") {
				seenConn = true
			}
			if seenReady && seenConn && !sent {
				sent = true
				ready <- addr
			}
		}
	}()
	var addr string
	select {
	case addr = <-ready:
	case <-time.After(60 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("ctrace run not ready:\n%s", errText.String())
	}

	must(t, unix.Unmount(p, unix.MNT_DETACH))
	// setnsEvent makes ip netns exec fail on the stale file and returns
	// its setns event and the event's netns reason.
	setnsEvent := func() (line string, ev setnsLine, r map[string]any) {
		t.Helper()
		c := exec.Command("ip", "netns", "exec", name, "true")
		if c.Run() == nil {
			t.Fatal("ip netns exec succeeded on a stale file")
		}
		pid := float64(c.Process.Pid)
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			mu.Lock()
			ls := append([]string(nil), lines...)
			mu.Unlock()
			for _, l := range ls {
				var ev setnsLine
				if json.Unmarshal([]byte(l), &ev) != nil || ev.Syscall != "setns" || ev.Proc.PID != pid {
					continue
				}
				for _, x := range ev.Reasons {
					if x["kind"] == "netns" {
						r = x
					}
				}
				return l, ev, r
			}
		}
		t.Fatalf("no setns event of pid %v", pid)
		return
	}
	// reason checks the netns reason of a failing setns. The container's
	// state reaches ctrace through containerd's events, a moment after the
	// test changed it: a call made before then sees the previous state, so
	// the test makes the call again until the state arrives (at most 15 s).
	reason := func(state string) {
		t.Helper()
		var l string
		var ev setnsLine
		var r map[string]any
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			l, ev, r = setnsEvent()
			if r == nil || r["container_state"] == state || time.Now().After(deadline) {
				break
			}
		}
		ctr, _ := r["container"].(map[string]any)
		if ev.Errno != "EINVAL" || r == nil || r["path"] != p || r["state"] != "stale" || r["container_state"] != state ||
			ctr["id"] != id || ctr["namespace"] != "default" || ctr["pod"] != "web-1" || ctr["pod_namespace"] != "shop" {
			t.Fatalf("setns event: %s\nwant a netns reason, stale, container %s %s", l, id, state)
		}
		if len(ev.Hints) != 1 || ev.Hints[0].Rule != "stale-netns" || ev.Hints[0].Text == "" {
			t.Errorf("hints = %+v, want stale-netns", ev.Hints)
		}
	}
	reason("running")

	gauge := func(want string) {
		t.Helper()
		var body string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			resp, err := http.Get("http://" + addr + "/metrics")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if strings.Contains(body, want) {
				return
			}
		}
		t.Fatalf("metrics lack %q:\n%s", want, grep(body, "ctrace_netns_findings"))
	}
	// Other netns files on the machine may add to the counts: the test's
	// own stale file makes the stale gauge at least 1.
	gauge(`ctrace_netns_findings{kind="netns-stale"} `)
	if !staleCounted(t, addr) {
		t.Error("ctrace_netns_findings{kind=\"netns-stale\"} is 0 with a stale netns file")
	}

	must(t, ctrd.Remove(ctx, "default", id))
	reason("deleted")
}

func staleCounted(t *testing.T, addr string) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, `ctrace_netns_findings{kind="netns-stale"} `) && !strings.HasSuffix(l, " 0") {
				return true
			}
		}
	}
	return false
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// setnsLine is what the test reads of an event's JSON line.
type setnsLine struct {
	Syscall string
	Errno   string
	Proc    struct{ PID float64 }
	Reasons []map[string]any
	Hints   []struct{ Rule, Text string }
}
