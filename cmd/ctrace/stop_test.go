package main

// How a run ends, and that it leaves kernel auditing as it found it on
// every way: a second signal, stdout closed, SIGHUP, SIGKILL.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/audit"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// requireAuditOff skips a test of --audit's restore where auditing is on
// already (an auditd): ctrace then changes nothing to restore. It also
// clears a record an earlier test run left, and checks on cleanup that
// auditing is off again.
func requireAuditOff(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t, "loading eBPF programs and changing the audit state")
	if _, err := audit.RestoreLeftover(audit.StateDir); err != nil {
		t.Fatal(err)
	}
	if auditEnabled(t) {
		t.Skip("skipped: kernel auditing is on here (auditd?): ctrace run --audit leaves it alone")
	}
	t.Cleanup(func() {
		if auditEnabled(t) {
			t.Error("kernel auditing left on")
			_, _ = audit.SetEnabled(false)
		}
	})
}

// failExec makes an execve fail with EACCES (a file without execute
// permission, even for root): a failure an LSM may have caused, which
// --audit holds for --reason-wait.
func failExec(t *testing.T) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "not-executable")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(p).Run(); err == nil {
		t.Fatal("a file without execute permission ran")
	}
}

// TestRunSecondSignal: a failure held for its audit record waits out
// --reason-wait after the first SIGINT; a second one (or a SIGTERM after
// it) passes it on and ends the run at once.
func TestRunSecondSignal(t *testing.T) {
	requireAuditOff(t)
	for _, second := range []unix.Signal{unix.SIGINT, unix.SIGTERM} {
		t.Run(unix.SignalName(second), func(t *testing.T) {
			const wait = 10 * time.Second
			p := start(t, runLimit, nil, "run", "--audit", "--reason-wait", wait.String(), "-o", "json", "-e", "execve")
			p.waitReady(t)
			failExec(t)
			time.Sleep(300 * time.Millisecond) // read and held
			if err := p.cmd.Process.Signal(unix.SIGINT); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond) // tracing stopped, the failure still held
			if strings.Contains(p.stdout.String(), "not-executable") {
				t.Fatalf("the failing execve was not held for its audit record:\n%s", p.stdout)
			}
			sent := time.Now()
			if err := p.cmd.Process.Signal(second); err != nil {
				t.Fatal(err)
			}
			if code := p.wait(t); code != 0 {
				t.Errorf("exit status %d\nstderr:\n%s", code, p.stderr)
			}
			// Not a measurement: held, the run would end 10 s after
			// the failure; detaching the programs takes the rest.
			if d := p.exited.Sub(sent); d > wait/2 {
				t.Errorf("exited %v after the second signal; held failures waited out --reason-wait %v", d, wait)
			}
			if !strings.Contains(p.stdout.String(), "not-executable") {
				t.Errorf("the held failure was not written out:\n%s", p.stdout)
			}
		})
	}
}

// TestRunStdoutClosed: ctrace run --audit -o json | head is a normal stop:
// exit status 0 and auditing off again.
func TestRunStdoutClosed(t *testing.T) {
	requireAuditOff(t)
	const missing = "/nonexistent/ctrace-stdout-closed"
	p := startCmd(t, runLimit, func(ctx context.Context) *exec.Cmd {
		// POSIX sh (the VM guests have busybox, no bash): the group
		// reports ctrace's own status on stderr, outside the pipe.
		script := fmt.Sprintf(`{ %s run --audit -o json -e openat --pid %d; echo "ctrace exit status $?" >&2; } | head -n 1`, bin, os.Getpid())
		return exec.CommandContext(ctx, "/bin/sh", "-c", script)
	})
	p.waitReady(t)
	// Failures until ctrace has seen head go.
	for done := false; !done; {
		if fd, err := unix.Open(missing, unix.O_RDONLY, 0); err == nil {
			unix.Close(fd)
		}
		select {
		case <-p.done:
			done = true
		case <-p.ctx.Done():
			t.Fatalf("ctrace did not stop when its stdout closed\nstderr:\n%s", p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !strings.Contains(p.stderr.String(), "ctrace exit status 0") {
		t.Errorf("ctrace piped into head did not exit 0:\n%s", p.stderr)
	}
	if !strings.Contains(p.stdout.String(), missing) {
		t.Errorf("head saw no event:\n%s", p.stdout)
	}
}

// TestRunHangup: SIGHUP ends a run as SIGTERM does, auditing restored.
func TestRunHangup(t *testing.T) {
	requireAuditOff(t)
	p := start(t, runLimit, nil, "run", "--audit", "-e", "mount")
	p.waitReady(t)
	if !auditEnabled(t) {
		t.Fatal("--audit did not turn auditing on")
	}
	ids := progIDs(t, p.cmd.Process.Pid)
	if err := p.cmd.Process.Signal(unix.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Errorf("after SIGHUP: exit status %d, want 0\nstderr:\n%s", code, p.stderr)
	}
	waitUnloaded(t, ids)
}

// TestRunAuditKilled: a run --audit that is killed (SIGKILL, or SIGQUIT,
// which ends a Go program as a panic does, without its deferred calls)
// cannot turn auditing off; the next ctrace check or run does, and says
// so.
func TestRunAuditKilled(t *testing.T) {
	requireAuditOff(t)
	for _, tt := range []struct {
		sig  unix.Signal
		next []string
	}{
		{unix.SIGKILL, []string{"check"}},
		{unix.SIGQUIT, []string{"run", "--duration", "1s", "-e", "pivot_root"}},
	} {
		t.Run(unix.SignalName(tt.sig), func(t *testing.T) {
			p := start(t, runLimit, nil, "run", "--audit", "-e", "mount")
			p.waitReady(t)
			if err := p.cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			<-p.done
			if !auditEnabled(t) {
				t.Fatal("auditing off after the kill: the test proves nothing")
			}
			next, code := runCtrace(t, nil, tt.next...)
			if code != 0 {
				t.Errorf("ctrace %v: exit status %d\nstderr:\n%s", tt.next, code, next.stderr)
			}
			if auditEnabled(t) {
				t.Errorf("ctrace %v left auditing on\nstderr:\n%s", tt.next, next.stderr)
			}
			if want := fmt.Sprintf("pid %d) ended without turning kernel auditing off", p.cmd.Process.Pid); !strings.Contains(next.stderr.String(), want) {
				t.Errorf("ctrace %v did not say it turned auditing off (%q):\n%s", tt.next, want, next.stderr)
			}
		})
	}
}
