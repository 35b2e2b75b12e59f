package main

// OTLP export, deduplication and the rate limit, end to end: the ctrace
// binary traces real failures and sends them to a real OpenTelemetry
// Collector (test/otelcol, built from the collector's modules).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/testing/otelcoltest"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

const (
	stormPath  = "/nonexistent/ctrace-otlp-storm"
	stormCalls = 100000
	// distinctCalls failures, each of its own path.
	distinctCalls  = 200
	distinctPrefix = "/nonexistent/ctrace-otlp-distinct-"
)

// otlpTrigger makes the failures of the storm and rate-limit tests.
func otlpTrigger(name string) int {
	switch name {
	case "storm":
		for range stormCalls {
			_, _ = unix.Open(stormPath, unix.O_RDONLY, 0)
		}
	case "distinct":
		for i := range distinctCalls {
			_, _ = unix.Open(distinctPrefix+strconv.Itoa(i), unix.O_RDONLY, 0)
		}
	}
	return 0
}

func records(t *testing.T, col *otelcoltest.Collector) []otelcoltest.Record {
	t.Helper()
	recs, err := col.Records()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func argPath(r otelcoltest.Record) string {
	args, _ := r.Attrs["ctrace.args"].(map[string]any)
	p, _ := args["path"].(string)
	return p
}

// The failures of a traced command arrive as log records whose attributes
// hold the values of the JSON output: the same process, syscall, errno,
// arguments; over gRPC with -o none, over HTTP beside JSON output.
func TestOTLPExport(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	col := otelcoltest.Start(t)
	noexec := filepath.Join(t.TempDir(), "not-executable")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := append([]string{triggerEnv + "=filters", notExecEnv + "=" + noexec}, quietEnv...)
	host, _ := os.Hostname()
	for _, tc := range []struct{ proto, addr, output string }{
		{"grpc", col.GRPC, "none"},
		{"http/protobuf", col.HTTP, "json"},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			before := len(records(t, col))
			start := time.Now()
			p, code := runCtrace(t, env, "run", "-o", tc.output, "--otlp-endpoint", tc.addr, "--otlp-protocol", tc.proto, "--", self)
			if code != 0 {
				t.Fatalf("exit status %d\nstderr:\n%s", code, p.stderr)
			}
			if tc.output == "none" && p.stdout.String() != "" {
				t.Errorf("-o none wrote to stdout: %q", p.stdout)
			}
			// Close sent everything before ctrace exited.
			m := regexp.MustCompile(`OTLP: (\d+) records sent, 0 failed, 0 dropped`).FindStringSubmatch(p.stderr.String())
			if m == nil {
				t.Fatalf("no final OTLP line with nothing failed or dropped:\n%s", p.stderr)
			}
			recs := records(t, col)[before:]
			if strconv.Itoa(len(recs)) != m[1] {
				t.Errorf("collector received %d records, ctrace says it sent %s", len(recs), m[1])
			}
			want := map[string]string{"mount": "ENOENT", "openat": "ENOENT", "execve": "EACCES"}
			wantPath := map[string]string{"mount": "", "openat": missingPath, "execve": noexec}
			var jsonEvents []map[string]any
			if tc.output == "json" {
				jsonEvents = events(t, p.stdout.String())
			}
			for _, r := range recs {
				sc, _ := r.Attrs["ctrace.syscall"].(string)
				errno, ok := want[sc]
				if !ok || r.Attrs["ctrace.errno"] != errno || (wantPath[sc] != "" && argPath(r) != wantPath[sc]) {
					continue
				}
				if sc == "mount" {
					args, _ := r.Attrs["ctrace.args"].(map[string]any)
					if args["target"] != missingPath || args["fstype"] != "tmpfs" {
						continue
					}
				}
				delete(want, sc)
				pid, _ := r.Attrs["process.pid"].(int64)
				if r.Severity != 13 || r.SeverityText != "WARN" {
					t.Errorf("%s: severity %d %q, want 13 WARN", sc, r.Severity, r.SeverityText)
				}
				if r.Time.Before(start) || r.Time.After(time.Now()) {
					t.Errorf("%s: time %v not within the run", sc, r.Time)
				}
				body, _ := r.Body.(string)
				// [pid], or [pid/tid] when the call came from another
				// thread than the main one.
				if !strings.Contains(body, sc+"(") || !strings.Contains(body, errno) || !(strings.Contains(body, fmt.Sprintf("[%d]", pid)) || strings.Contains(body, fmt.Sprintf("[%d/", pid))) {
					t.Errorf("%s: body %q does not show the call", sc, body)
				}
				if r.Attrs["process.executable.name"] != filepath.Base(self)[:min(15, len(filepath.Base(self)))] || pid <= 0 ||
					r.Attrs["process.parent_pid"] == nil || r.Attrs["ctrace.proc.mntns"] == nil {
					t.Errorf("%s: process attributes %v", sc, r.Attrs)
				}
				if r.Resource["host.name"] != host || r.Resource["service.name"] != "ctrace" {
					t.Errorf("resource %v", r.Resource)
				}
				if _, ok := r.Attrs["ctrace.reasons"].([]any); !ok {
					t.Errorf("%s: ctrace.reasons = %#v, want a list", sc, r.Attrs["ctrace.reasons"])
				}
				// The JSON output and the record carry the same values.
				for _, ev := range jsonEvents {
					proc, _ := ev["proc"].(map[string]any)
					if ev["syscall"] == sc && proc["pid"] == float64(pid) && ev["errno"] == errno {
						if ev["time"] != r.Time.Format(time.RFC3339Nano) && !sameInstant(ev["time"], r.Time) {
							t.Errorf("%s: JSON time %v, record time %v", sc, ev["time"], r.Time)
						}
						if proc["comm"] != r.Attrs["process.executable.name"] || proc["tid"] != float64(r.Attrs["thread.id"].(int64)) {
							t.Errorf("%s: JSON proc %v, record %v", sc, proc, r.Attrs)
						}
					}
				}
			}
			for sc, errno := range want {
				t.Errorf("no %s %s record of the trigger among %d records", sc, errno, len(recs))
			}
		})
	}
}

func sameInstant(s any, t time.Time) bool {
	str, _ := s.(string)
	u, err := time.Parse(time.RFC3339Nano, str)
	return err == nil && u.Equal(t)
}

// 100,000 identical failures become a handful of records whose repeat
// counts add up to 100,000 with what the kernel counted as lost: the
// kernel counts the repeats (--dedup is on with OTLP export).
func TestOTLPDedupStorm(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	col := otelcoltest.Start(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := append([]string{triggerEnv + "=storm"}, quietEnv...)
	p, code := runCtrace(t, env, "run", "-o", "text", "-e", "openat", "--otlp-endpoint", col.GRPC, "--", self)
	if code != 0 {
		t.Fatalf("exit status %d\nstderr:\n%s", code, p.stderr)
	}
	var lost uint64
	if m := regexp.MustCompile(`(\d+) records lost in all`).FindStringSubmatch(p.stderr.String()); m != nil {
		lost, _ = strconv.ParseUint(m[1], 10, 64)
	}
	var n int
	var sum uint64
	for _, r := range records(t, col) {
		if argPath(r) != stormPath {
			continue
		}
		n++
		rc := uint64(1)
		if v, ok := r.Attrs["ctrace.repeat_count"].(int64); ok {
			rc = uint64(v)
		}
		sum += rc
	}
	t.Logf("%d records, repeat counts sum to %d, %d lost", n, sum, lost)
	if n == 0 || n > 10 {
		t.Errorf("%d records for %d identical failures, want a handful", n, stormCalls)
	}
	if sum+lost != stormCalls {
		t.Errorf("repeat counts sum to %d with %d lost; want %d", sum, lost, stormCalls)
	}
	// Text output is deduplicated too, with the count on the line.
	lines := strings.Count(p.stdout.String(), stormPath)
	if lines != n || !strings.Contains(p.stdout.String(), " identical calls in 10s, counted in the kernel]") {
		t.Errorf("%d text lines for %d records:\n%.2000s", lines, n, p.stdout)
	}
}

// --rate-limit drops what exceeds it and counts it exactly: what arrives
// and what was counted add up to the calls made.
func TestOTLPRateLimit(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	col := otelcoltest.Start(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := append([]string{triggerEnv + "=distinct"}, quietEnv...)
	p, code := runCtrace(t, env, "run", "-o", "none", "-e", "openat", "--dedup=false", "--rate-limit", "20/s",
		"--otlp-endpoint", col.GRPC, "--", self)
	if code != 0 {
		t.Fatalf("exit status %d\nstderr:\n%s", code, p.stderr)
	}
	if strings.Contains(p.stderr.String(), "records lost") {
		t.Fatalf("the kernel lost records; the count cannot be exact:\n%s", p.stderr)
	}
	m := regexp.MustCompile(`--rate-limit: (\d+) events not shown or exported`).FindStringSubmatch(p.stderr.String())
	if m == nil {
		t.Fatalf("no rate-limit count on stderr:\n%s", p.stderr)
	}
	limited, _ := strconv.Atoi(m[1])
	got := 0
	for _, r := range records(t, col) {
		if strings.HasPrefix(argPath(r), distinctPrefix) {
			got++
		}
	}
	// Everything else the run saw (the trigger's start) was limited or
	// sent as well: count it from ctrace's own total.
	sentM := regexp.MustCompile(`OTLP: (\d+) records sent, 0 failed, 0 dropped`).FindStringSubmatch(p.stderr.String())
	if sentM == nil {
		t.Fatalf("no final OTLP line:\n%s", p.stderr)
	}
	sent, _ := strconv.Atoi(sentM[1])
	if got == 0 || got > 40 {
		t.Errorf("%d of %d distinct failures exported at 20/s in well under a second", got, distinctCalls)
	}
	if sent != len(records(t, col)) || sent+limited < distinctCalls || sent+limited-(sent-got) != distinctCalls {
		t.Errorf("sent %d (%d of the trigger's paths) + limited %d, want the trigger's %d exactly", sent, got, limited, distinctCalls)
	}
}

// The collector goes away mid-run: ctrace keeps tracing and showing
// failures, counts the records it could not send, warns, and sends again
// once the collector is back.
func TestOTLPCollectorRestart(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	col := otelcoltest.Start(t)
	dir := t.TempDir()
	script := fmt.Sprintf(`cat /nonexistent/phase-a 2>/dev/null
while [ ! -e %[1]s/go1 ]; do sleep 0.05; done
cat /nonexistent/phase-b 2>/dev/null
while [ ! -e %[1]s/go2 ]; do sleep 0.05; done
while [ ! -e %[1]s/go3 ]; do cat /nonexistent/phase-c 2>/dev/null; sleep 0.2; done
exit 0`, dir)
	// Without --dedup, so that each phase-c failure is a record: the
	// first ones may fail while the exporter reconnects.
	p := start(t, runLimit, quietEnv, "run", "-o", "text", "-e", "openat", "--dedup=false", "--otlp-endpoint", col.GRPC, "--otlp-timeout", "1s",
		"--metrics-addr", "127.0.0.1:0",
		"--", "/bin/sh", "-c", script)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	has := func(path string) func([]otelcoltest.Record) bool {
		return func(rs []otelcoltest.Record) bool {
			for _, r := range rs {
				if argPath(r) == path {
					return true
				}
			}
			return false
		}
	}
	col.Wait(t, 20*time.Second, "phase a", has("/nonexistent/phase-a"))
	col.Stop()
	if err := os.WriteFile(filepath.Join(dir, "go1"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Tracing goes on: the failure is shown, then its export fails.
	if err := p.stdout.waitFor(ctx, "/nonexistent/phase-b"); err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, p.stderr)
	}
	if err := p.stderr.waitFor(ctx, "OTLP export to grpc "+col.GRPC+" (plaintext) failed"); err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, p.stderr)
	}
	// The failure is counted where Prometheus looks.
	if fams, _ := scrape(t, metricsAddr(t, p)); sum(fams, "ctrace_export_failed_total") < 1 || sum(fams, "ctrace_export_dropped_total") != 0 {
		t.Errorf("ctrace_export_failed_total %v, ctrace_export_dropped_total %v; want at least 1 and 0",
			sum(fams, "ctrace_export_failed_total"), sum(fams, "ctrace_export_dropped_total"))
	}
	col.Restart()
	if err := os.WriteFile(filepath.Join(dir, "go2"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	col.Wait(t, 20*time.Second, "phase c", has("/nonexistent/phase-c"))
	if err := os.WriteFile(filepath.Join(dir, "go3"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit status %d\nstderr:\n%s", code, p.stderr)
	}
	recs := records(t, col)
	if has("/nonexistent/phase-b")(recs) {
		t.Errorf("phase b arrived although the collector was down")
	}
	m := regexp.MustCompile(`OTLP: (\d+) records sent, (\d+) failed, 0 dropped`).FindStringSubmatch(p.stderr.String())
	if m == nil {
		t.Fatalf("no final OTLP line:\n%s", p.stderr)
	}
	sent, _ := strconv.Atoi(m[1])
	failed, _ := strconv.Atoi(m[2])
	shown := strings.Count(strings.TrimSpace(p.stdout.String()), "\n") + 1
	if sent != len(recs) || failed < 1 || sent+failed != shown {
		t.Errorf("sent %d (collector has %d), failed %d, shown %d: want sent + failed = shown", sent, len(recs), failed, shown)
	}
}

// TLS towards a plaintext collector: a clear warning naming the way out;
// tracing is not affected.
func TestOTLPTLSToPlaintext(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	col := otelcoltest.Start(t)
	p, code := runCtrace(t, quietEnv, "run", "-o", "text", "-e", "openat", "--otlp-endpoint", col.GRPC, "--otlp-insecure=false",
		"--otlp-timeout", "1s", "--", "/bin/sh", "-c", "cat /nonexistent/tls 2>/dev/null; exit 0")
	if code != 0 {
		t.Fatalf("exit status %d\nstderr:\n%s", code, p.stderr)
	}
	for _, w := range []string{"(TLS) failed", "does not speak TLS", "--otlp-insecure"} {
		if !strings.Contains(p.stderr.String(), w) {
			t.Errorf("stderr does not say %q:\n%s", w, p.stderr)
		}
	}
	if !strings.Contains(p.stdout.String(), "/nonexistent/tls") {
		t.Errorf("the failure was not shown:\n%s", p.stdout)
	}
	if n := len(records(t, col)); n != 0 {
		t.Errorf("collector received %d records over a failed handshake", n)
	}
}

// A run ended by SIGINT reports every count the kernel holds: the repeat
// counts of what ctrace run --dedup -o json shows, and what it lost, add
// up to the calls made, whether the counts' windows ended during the run
// or not. Repeated: a count read too early, or missed at exit, shows as a
// race.
func TestDedupSIGINTExact(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	comm := filepath.Base(self)
	if len(comm) > 15 {
		comm = comm[:15]
	}
	for round := range 20 {
		window := []string{"50ms", "10s"}[round%2]
		p := start(t, runLimit, quietEnv, "run", "--dedup", "--dedup-window", window, "-o", "json", "-e", "openat", "--comm", comm)
		p.waitReady(t)
		w := exec.Command(self, "-test.run=^$")
		w.Env = append(os.Environ(), append([]string{triggerEnv + "=storm"}, quietEnv...)...)
		if out, err := w.CombinedOutput(); err != nil {
			t.Fatalf("workload: %v\n%s", err, out)
		}
		if err := p.cmd.Process.Signal(unix.SIGINT); err != nil {
			t.Fatal(err)
		}
		p.wait(t)
		var lost, sum, shown, kernel uint64
		if m := regexp.MustCompile(`(\d+) records lost in all`).FindStringSubmatch(p.stderr.String()); m != nil {
			lost, _ = strconv.ParseUint(m[1], 10, 64)
		}
		for _, ev := range events(t, p.stdout.String()) {
			args, _ := ev["args"].(map[string]any)
			if args["path"] != stormPath {
				continue
			}
			shown++
			rc := uint64(1)
			if v, ok := ev["repeat_count"].(float64); ok {
				rc = uint64(v)
			}
			if ev["repeat_counted_in_kernel"] == true {
				kernel += rc
			}
			sum += rc
		}
		t.Logf("round %d, window %s: %d events shown stand for %d calls (%d counted in the kernel), %d lost", round, window, shown, sum, kernel, lost)
		if sum+lost != stormCalls || kernel == 0 {
			t.Fatalf("round %d: shown %d + lost %d, want %d calls, most counted in the kernel\nstderr:\n%s", round, sum, lost, stormCalls, p.stderr)
		}
	}
}
