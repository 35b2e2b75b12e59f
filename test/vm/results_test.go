package main

import (
	"reflect"
	"strings"
	"testing"
)

const sampleGuest = `@@ctrace-vm begin info
kernel 6.1.0-50-cloud-amd64
@@ctrace-vm end info status=0
@@ctrace-vm begin check
{"kernel": "6.1.0-50-cloud-amd64", "arch": "x86_64", "checks": [
  {"name": "reason:capability", "ok": true, "mechanism": "fexit/cap_capable", "required": false},
  {"name": "reason:kernel_log", "ok": false, "detail": "load kernel_log: program kernel_log: load program: invalid argument: unknown func bpf_get_func_ret#184", "required": false},
  {"name": "probe:fexit", "ok": false, "detail": "the kernel refuses fexit programs (EPERM, while it takes ctrace's others)", "required": false}
], "can_run": true}
@@ctrace-vm end check status=0
@@ctrace-vm begin test tracer
=== RUN   TestOpen
--- PASS: TestOpen (0.50s)
=== RUN   TestReasons
=== RUN   TestReasons/seccomp
    --- PASS: TestReasons/seccomp (0.10s)
=== RUN   TestReasons/capability
    reasons_test.go:10: no reason
    --- FAIL: TestReasons/capability (0.20s)
--- FAIL: TestReasons (0.30s)
=== RUN   TestLandlock
    audit_test.go:23: skipped: Landlock ABI 3
--- SKIP: TestLandlock (0.00s)
FAIL
@@ctrace-vm end test tracer status=1 seconds=42
@@ctrace-vm begin test benign
--- PASS: TestRules (0.00s)
PASS@@ctrace-vm end test benign status=0 seconds=1
@@ctrace-vm begin test cmd/ctrace
=== RUN   TestRun
`

func TestParseGuest(t *testing.T) {
	r := parseGuest([]byte(sampleGuest))
	if r.Done {
		t.Error("Done = true, but the guest printed no done marker")
	}
	var kinds []string
	for _, s := range r.Sections {
		kinds = append(kinds, s.Kind+":"+s.Name)
	}
	if want := []string{"info:", "check:", "test:tracer", "test:benign", "test:cmd/ctrace"}; !reflect.DeepEqual(kinds, want) {
		t.Fatalf("sections = %v, want %v", kinds, want)
	}
	tr := r.Sections[2]
	if !tr.Ended || tr.Status != 1 || tr.Secs != 42 || tr.ok() {
		t.Errorf("tracer: ended %v status %d secs %d ok %v, want true 1 42 false", tr.Ended, tr.Status, tr.Secs, tr.ok())
	}
	c := tr.counts()
	want := testCounts{Pass: 2, Fail: 2, Skip: 1,
		Failed: []string{"TestReasons/capability", "TestReasons"}, Skipped: []string{"TestLandlock"}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("tracer counts = %+v, want %+v", c, want)
	}
	// A marker glued to output without a final newline still ends the
	// section, and the output before it stays in the section.
	bn := r.Sections[3]
	if !bn.ok() || bn.Lines[len(bn.Lines)-1] != "PASS" {
		t.Errorf("benign: ok %v, lines %q", bn.ok(), bn.Lines)
	}
	if last := r.Sections[4]; last.Ended || last.ok() {
		t.Errorf("cmd/ctrace: ended %v ok %v, want a section that never ended", last.Ended, last.ok())
	}
}

func TestCheckAndLoadFailures(t *testing.T) {
	r := parseGuest([]byte(sampleGuest))
	rep, raw, err := r.check()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kernel != "6.1.0-50-cloud-amd64" || !rep.CanRun || len(rep.Items) != 3 {
		t.Fatalf("report = %+v", rep)
	}
	if !strings.HasPrefix(string(raw), "{") || !strings.HasSuffix(string(raw), "}") {
		t.Errorf("raw JSON = %q", raw)
	}
	// The verifier's refusal is a failure; the kernel refusing fexit
	// outright is a degradation that check reports.
	lf := rep.loadFailures()
	if len(lf) != 1 || lf[0].Name != "reason:kernel_log" {
		t.Errorf("load failures = %+v, want reason:kernel_log only", lf)
	}
}

func TestCheckMissing(t *testing.T) {
	r := parseGuest([]byte("@@ctrace-vm begin check\npanic: boom\n@@ctrace-vm end check status=2\n"))
	if _, _, err := r.check(); err == nil {
		t.Error("check() of output without JSON: no error")
	}
	if _, _, err := parseGuest(nil).check(); err == nil {
		t.Error("check() of empty output: no error")
	}
}

func TestOutcomeProblems(t *testing.T) {
	o := &outcome{Kernel: kernels[0], Result: parseGuest([]byte(sampleGuest))}
	o.Check, o.CheckJSON, o.CheckErr = o.Result.check()
	o.Kernelerr = kernelErrors([]byte("[ 1.0] ok\n[ 2.0] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"))
	p := strings.Join(o.problems(), "\n")
	for _, want := range []string{
		"the guest stopped before running every step",
		"ctrace check: reason:kernel_log: load kernel_log",
		"tracer: exit status 1, failed: TestReasons/capability TestReasons",
		"cmd/ctrace: did not finish",
		"kernel: [ 2.0] BUG: kernel NULL pointer dereference",
	} {
		if !strings.Contains(p, want) {
			t.Errorf("problems lack %q:\n%s", want, p)
		}
	}
	if o.ok() {
		t.Error("ok() = true")
	}
	if s := o.summary(); !strings.Contains(s, "FAIL  passed 3, failed 2, skipped 1") {
		t.Errorf("summary = %q", s)
	}
}

func TestReplaceBetween(t *testing.T) {
	text := "intro\n" + beginMark + "\nold\n" + endMark + "\nrest\n"
	got, err := replaceBetween(text, "new\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "intro\n" + beginMark + "\nnew\n" + endMark + "\nrest\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := replaceBetween("no markers", "x"); err == nil {
		t.Error("no error without markers")
	}
}

func TestFeatureTable(t *testing.T) {
	cols := []column{
		{Name: "5.10", Rep: &checkReport{Kernel: "5.10.0-32-cloud-amd64", CanRun: true, Items: []checkItem{
			{Name: "reason:capability", OK: true, Mechanism: "fexit/cap_capable"},
			{Name: "reason:lsm_hooks", OK: false, Detail: "x"}}}},
		{Name: "host", Rep: &checkReport{Kernel: "6.18.0", Lockdown: "integrity", CanRun: true, Items: []checkItem{
			{Name: "reason:capability", OK: true, Mechanism: "tp_btf/cap_capable"}}}},
	}
	got := featureTable(cols)
	for _, want := range []string{
		"| | 5.10 | host (dev machine) |",
		"| reason:capability | yes: fexit/cap_capable | yes: tp_btf/cap_capable |",
		"| reason:lsm_hooks | no | - |",
		"| lockdown | - | integrity |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if !versionLess("5.10", "6.1") || !versionLess("6.1", "6.12") || !versionLess("6.12", "host") || versionLess("host", "5.10") ||
		!versionLess("6.12", "6.1-arm64") || !versionLess("6.1-arm64", "6.12-arm64") || !versionLess("6.12-arm64", "host") ||
		versionLess("6.1-arm64", "6.12") || versionLess("host", "6.1-arm64") {
		t.Error("versionLess orders kernels wrongly")
	}
}

func TestSelectKernels(t *testing.T) {
	ks, unknown := selectKernels("6.1, 9.9")
	if len(ks) != 1 || ks[0].Name != "6.1" || !reflect.DeepEqual(unknown, []string{"9.9"}) {
		t.Errorf("selectKernels = %v, %v", ks, unknown)
	}
	if ks, _ := selectKernels(""); len(ks) != len(kernels) {
		t.Errorf("empty list selects %d kernels, want all %d", len(ks), len(kernels))
	}
}

func TestCLITestLDFlags(t *testing.T) {
	ld, err := cliTestLDFlags("../../cmd/ctrace/cli_test.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ld, "-X main.version=") || !strings.Contains(ld, " -X main.commit=") {
		t.Errorf("ldflags = %q", ld)
	}
}
