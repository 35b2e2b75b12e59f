package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/metrics"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
	"github.com/ctrace-dev/ctrace/tracer"
)

// The metrics trigger renames its thread, so that ctrace's --comm filter
// keeps its failures and nothing else on the node, and fails known calls.
const (
	metricsComm   = "ctmetrics"
	metricsMounts = 5 // mount(2) on a missing path: ENOENT
	metricsOpens  = 3 // openat(2) of a missing file: ENOENT
	metricsExecs  = 2 // execve(2) of a missing file: ENOENT
)

func metricsTrigger() int {
	runtime.LockOSThread()
	name, _ := unix.BytePtrFromString(metricsComm)
	if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(name)), 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "prctl:", err)
		return 1
	}
	for range metricsMounts {
		_ = unix.Mount("none", missingPath, "tmpfs", 0, "")
	}
	for range metricsOpens {
		if fd, err := unix.Open(missingPath, unix.O_RDONLY, 0); err == nil {
			unix.Close(fd)
		}
	}
	for range metricsExecs {
		_ = unix.Exec(missingPath, []string{missingPath}, nil)
	}
	return 0
}

// scrape fetches and parses /metrics.
func scrape(t *testing.T, addr string) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %v %s", err, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams, body
}

// value is the value of the series of family name with exactly labels, 0
// when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	for _, m := range f.Metric {
		if len(m.Label) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.Label {
			if labels[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	return 0
}

func sum(fams map[string]*dto.MetricFamily, name string) float64 {
	total := 0.0
	if f := fams[name]; f != nil {
		for _, m := range f.Metric {
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

func TestMetrics(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	p := start(t, runLimit, quietEnv, "run", "-o", "json", "--comm", metricsComm,
		"--metrics-addr", "127.0.0.1:0")
	p.waitReady(t)
	addr := metricsAddr(t, p)

	// /healthz answers while ctrace runs.
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(hb) != "ok\n" {
		t.Errorf("/healthz: %s %q", resp.Status, hb)
	}

	before, _ := scrape(t, addr)
	if n := sum(before, "ctrace_failures_total"); n != 0 {
		t.Fatalf("ctrace_failures_total is %v before any failure of %s", n, metricsComm)
	}
	trig := exec.Command(os.Args[0])
	trig.Env = append(os.Environ(), triggerEnv+"=metrics")
	if out, err := trig.CombinedOutput(); err != nil {
		t.Fatalf("trigger: %v\n%s", err, out)
	}
	want := metricsMounts + metricsOpens + metricsExecs
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	for strings.Count(p.stdout.String(), "\n") < want {
		select {
		case <-ctx.Done():
			t.Fatalf("%d events, want %d:\n%s\nstderr:\n%s", strings.Count(p.stdout.String(), "\n"), want, p.stdout, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	after, body := scrape(t, addr)

	series := func(syscall string) map[string]string {
		return map[string]string{"syscall": syscall, "errno": "ENOENT", "container_namespace": "", "reason": "none"}
	}
	for sc, n := range map[string]int{"mount": metricsMounts, "openat": metricsOpens, "execve": metricsExecs} {
		if got := value(after, "ctrace_failures_total", series(sc)) - value(before, "ctrace_failures_total", series(sc)); got != float64(n) {
			t.Errorf("ctrace_failures_total%v moved by %v, want %d", series(sc), got, n)
		}
	}
	if got := sum(after, "ctrace_failures_total"); got != float64(want) {
		t.Errorf("ctrace_failures_total sums to %v, want %d (the events ctrace printed)", got, want)
	}
	if n := len(events(t, p.stdout.String())); n != want {
		t.Errorf("%d JSON events, want %d", n, want)
	}
	for _, name := range []string{"ctrace_events_lost_total", "ctrace_events_benign_total", "ctrace_correlation_misses_total"} {
		if got := sum(after, name); got != 0 {
			t.Errorf("%s = %v, want 0", name, got)
		}
	}
	for _, name := range []string{"ctrace_events_lost_total", "ctrace_correlation_misses_total", "ctrace_ringbuf_bytes", "ctrace_build_info", "go_goroutines", "process_resident_memory_bytes"} {
		if after[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	if got := value(after, "ctrace_ringbuf_bytes", nil); got != tracer.DefaultBufferSize {
		t.Errorf("ctrace_ringbuf_bytes = %v, want the default %d", got, tracer.DefaultBufferSize)
	}
	info := map[string]string{"version": testVersion, "commit": testCommit, "goversion": runtime.Version(), "goarch": runtime.GOARCH}
	if got := value(after, "ctrace_build_info", info); got != 1 {
		t.Errorf("no ctrace_build_info%v", info)
	}
	t.Logf("ctrace RSS after the scrape: %.1f MiB", value(after, "process_resident_memory_bytes", nil)/(1<<20))

	promtool(t, body)

	if err := p.cmd.Process.Signal(unix.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Errorf("exit status %d\nstderr:\n%s", code, p.stderr)
	}
}

// metricsAddr reads the address ctrace says it serves metrics on.
func metricsAddr(t *testing.T, p *proc) string {
	t.Helper()
	if err := p.stderr.waitFor(p.ctx, "metrics: http://"); err != nil {
		t.Fatalf("no metrics address on stderr: %v\n%s", err, p.stderr)
	}
	s := p.stderr.String()
	s = s[strings.Index(s, "metrics: http://")+len("metrics: http://"):]
	return s[:strings.Index(s, "/metrics")]
}

// promtool runs `promtool check metrics` on a scrape when the test set-up
// installed it (Debian package prometheus).
func promtool(t *testing.T, body []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Errorf("promtool is missing in CI: build/deps.sh test installs it")
		} else {
			t.Log("promtool not installed (Debian package prometheus; build/deps.sh test installs it): not checking the scrape with it")
		}
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(string(body))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestMetricsAddrUsage(t *testing.T) {
	p, code := runCtrace(t, nil, "run", "--metrics-addr", "70000")
	if code != 2 || !strings.Contains(p.stderr.String(), "--metrics-addr") {
		t.Errorf("exit status %d, stderr:\n%s", code, p.stderr)
	}
}

// TestHealthz: /healthz answers 200 while ctrace traces, and 503 once it
// is wedged: here its stdout is a pipe that nobody reads, so that writing
// the events blocks the reader, as a full disk under a log agent would.
func TestHealthz(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	const missing = "/nonexistent/ctrace-healthz"
	p := startCmd(t, runLimit, func(ctx context.Context) *exec.Cmd {
		script := fmt.Sprintf("%s run -o json -e openat --pid %d --metrics-addr 127.0.0.1:0 | sleep 600", bin, os.Getpid())
		return exec.CommandContext(ctx, "/bin/sh", "-c", script)
	})
	p.waitReady(t)
	addr := metricsAddr(t, p)
	health := func() (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := health(); code != http.StatusOK {
		t.Fatalf("/healthz while tracing: %d %q", code, body)
	}
	// Far more than a pipe and ctrace's buffer hold.
	for range 5000 {
		if fd, err := unix.Open(missing, unix.O_RDONLY, 0); err == nil {
			unix.Close(fd)
		}
	}
	deadline := time.Now().Add(4 * metrics.DefaultStall)
	for {
		code, body := health()
		if code == http.StatusServiceUnavailable && strings.Contains(body, "wedged") {
			t.Logf("/healthz: %d %q", code, body)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz still %d %q with ctrace blocked on its output\nstderr:\n%s", code, body, p.stderr)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
