package main

import (
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/audit"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// TestRunAuditLandlock: with --audit, a Landlock denial seen by the kernel's
// audit records becomes an lsm reason on the failing openat, and auditing
// is left as it was found. The sandboxed child is the audit package's test
// binary in its child mode.
func TestRunAuditLandlock(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	// Landlock reports denials to audit from ABI 7 (kernel 6.15) on.
	const landlockCreateRulesetVersion = 1
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, landlockCreateRulesetVersion)
	if errno != 0 || v < 7 {
		t.Skipf("skipped: Landlock ABI %d (errno %v); audited denials need ABI 7, kernel 6.15+", v, errno)
	}
	child := filepath.Join(t.TempDir(), "audit.test")
	if out, err := exec.Command("go", "test", "-c", "-o", child, "../../internal/audit").CombinedOutput(); err != nil {
		t.Fatalf("build the sandboxed child: %v\n%s", err, out)
	}
	before := auditEnabled(t)
	p, code := runCtrace(t, append(quietEnv, "CTRACE_AUDIT_CHILD=landlock"), "run", "--audit", "-o", "json", "-e", "openat", "--",
		"/bin/sh", "-c", "echo | "+child)
	if code != 0 {
		t.Fatalf("exit status %d\nstderr:\n%s", code, p.stderr)
	}
	var found bool
	for _, ev := range events(t, p.stdout.String()) {
		args, _ := ev["args"].(map[string]any)
		if args["path"] != "/etc/hostname" {
			continue
		}
		found = true
		reasons, _ := ev["reasons"].([]any)
		if len(reasons) != 1 {
			t.Fatalf("reasons = %v, want one lsm reason", ev["reasons"])
		}
		r := reasons[0].(map[string]any)
		if r["kind"] != "lsm" || r["lsm"] != "landlock" || r["hook"] != "fs.read_file" {
			t.Errorf("reason = %v, want kind lsm, lsm landlock, hook fs.read_file", r)
		}
	}
	if !found {
		t.Fatalf("no openat of /etc/hostname in:\n%s", p.stdout)
	}
	if after := auditEnabled(t); after != before {
		t.Errorf("auditing enabled=%v after the run, was %v: --audit must restore it", after, before)
	}
}

// auditEnabled reads whether kernel auditing is on, as auditctl -s does.
func auditEnabled(t *testing.T) bool {
	t.Helper()
	st, err := audit.Status()
	if err != nil {
		t.Fatal(err)
	}
	return st.Enabled
}
