package audit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// TestLeftover: a run that turned auditing on and restores removes its
// record; one that dies without restoring leaves a record that the next
// RestoreLeftover acts on, once and only once its process is gone.
func TestLeftover(t *testing.T) {
	testenv.RequireRoot(t, "changing the kernel's audit state")
	st, err := Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Enabled {
		t.Skip("skipped: auditing is on here (auditd?): a run does not turn it on, nor off")
	}
	dir := t.TempDir()
	rec := filepath.Join(dir, stateName)
	t.Cleanup(func() {
		if st, err := Status(); err == nil && st.Enabled {
			t.Error("auditing left on")
			_, _ = SetEnabled(false)
		}
	})

	// A clean run.
	restore, err := EnableForRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := Status(); !st.Enabled {
		t.Fatal("EnableForRun did not turn auditing on")
	}
	if _, err := os.Stat(rec); err != nil {
		t.Fatalf("no record while auditing is on: %v", err)
	}
	if l, err := RestoreLeftover(dir); l != nil || err != nil {
		t.Fatalf("RestoreLeftover acted while the run that turned auditing on still runs: %+v, %v", l, err)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if st, _ := Status(); st.Enabled {
		t.Fatal("restore did not turn auditing off")
	}
	if _, err := os.Stat(rec); !os.IsNotExist(err) {
		t.Fatalf("record left after restore: %v", err)
	}

	// A run that died: the record names a process that is gone.
	c := exec.Command("/bin/true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	dead := c.Process.Pid
	if err := writeRecord(rec, owner{PID: dead, Start: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := SetEnabled(true); err != nil {
		t.Fatal(err)
	}
	l, err := RestoreLeftover(dir)
	if err != nil || l == nil || l.PID != dead {
		t.Fatalf("RestoreLeftover = %+v, %v; want the dead run %d", l, err, dead)
	}
	if st, _ := Status(); st.Enabled {
		t.Error("auditing still on after RestoreLeftover")
	}
	if _, err := os.Stat(rec); !os.IsNotExist(err) {
		t.Errorf("record left after RestoreLeftover: %v", err)
	}
	if l, err := RestoreLeftover(dir); l != nil || err != nil {
		t.Errorf("a second RestoreLeftover acted: %+v, %v", l, err)
	}
}

func TestStartTicks(t *testing.T) {
	a, err := startTicks(os.Getpid())
	if err != nil || a == 0 {
		t.Fatalf("startTicks(self) = %d, %v", a, err)
	}
	if b, err := startTicks(1); err != nil || b > a {
		t.Errorf("pid 1 started at %d, after this test (%d)? %v", b, a, err)
	}
	if _, err := startTicks(1 << 30); err == nil {
		t.Errorf("startTicks of pid %s: no error", strconv.Itoa(1<<30))
	}
}
