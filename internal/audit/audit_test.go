package audit

// Integration tests: real audit records from the real kernel, produced by
// a child process that Landlock denies a read. They need root and turn
// auditing on for their duration; in CI they must run.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
	"github.com/ctrace-dev/ctrace/tracer"
	"golang.org/x/sys/unix"
)

// requireRoot skips a test that needs root, except in CI where it must run.
// enableAudit turns auditing on until the test ends, then restores the
// state it found.
func enableAudit(t *testing.T) {
	t.Helper()
	restore, err := EnableTemporarily()
	if err != nil {
		t.Fatalf("enable auditing: %v", err)
	}
	t.Cleanup(func() {
		if err := restore(); err != nil {
			t.Error(err)
		}
	})
	st, err := Status()
	if err != nil || !st.Enabled {
		t.Fatalf("auditing not enabled after EnableTemporarily: %+v, %v", st, err)
	}
}

// arrival is a record and when the test read it.
type arrival struct {
	rec Record
	at  time.Time
}

// recordLog collects what a running Reader delivers.
type recordLog struct {
	mu   sync.Mutex
	recs []arrival
}

func (l *recordLog) add(r Record) {
	l.mu.Lock()
	l.recs = append(l.recs, arrival{r, time.Now()})
	l.mu.Unlock()
}

// wait returns the first record that matches, within 5s.
func (l *recordLog) wait(t *testing.T, what string, match func(*Record) bool) arrival {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, a := range l.recs {
			if match(&a.rec) {
				l.mu.Unlock()
				return a
			}
		}
		l.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var seen []string
	for _, a := range l.recs {
		seen = append(seen, describeRecord(&a.rec))
	}
	t.Fatalf("no %s record within 5s; records seen:\n%s", what, strings.Join(seen, "\n"))
	return arrival{}
}

func describeRecord(r *Record) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(int(r.Type)) + " " + strconv.FormatUint(r.Serial, 10) + ":")
	for _, w := range r.Words {
		b.WriteString(" " + w)
	}
	for _, f := range r.Fields {
		b.WriteString(" " + f.Key + "=" + strconv.Quote(f.Value))
	}
	return b.String()
}

// startReader reads the audit group until the test ends.
func startReader(t *testing.T, fns ...func(Record)) *Reader {
	t.Helper()
	rd, err := OpenReader()
	if err != nil {
		t.Fatalf("OpenReader: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- rd.Run(ctx, func(r Record) {
			for _, fn := range fns {
				fn(r)
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Reader.Run: %v", err)
		}
		if err := rd.Close(); err != nil {
			t.Errorf("Reader.Close: %v", err)
		}
		if s := rd.Stats(); s.Malformed > 0 || s.Overruns > 0 {
			t.Errorf("reader stats: %+v", s)
		}
	})
	return rd
}

// landlockDenial matches the child's Landlock record.
func landlockDenial(r *Record) bool {
	return r.Type == TypeLandlockAccess && r.get("blockers") == "fs.read_file" && r.get("path") == deniedPath
}

// failedOpenat matches the SYSCALL record of pid's denied openat.
func failedOpenat(pid uint32) func(*Record) bool {
	return func(r *Record) bool {
		p, _ := r.int("pid")
		return r.Type == TypeSyscall && uint32(p) == pid &&
			r.get("syscall") == strconv.Itoa(unix.SYS_OPENAT) &&
			r.get("success") == "no" && r.get("exit") == "-13"
	}
}

func TestStatus(t *testing.T) {
	testenv.RequireRoot(t, "reading and configuring kernel auditing")
	st, err := Status()
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	t.Logf("audit status: %+v", st)
}

func TestLandlockDenial(t *testing.T) {
	testenv.RequireRoot(t, "reading and configuring kernel auditing")
	requireLandlockAudit(t)
	enableAudit(t)
	log := &recordLog{}
	m := NewMatcher()
	var mu sync.Mutex
	startReader(t, log.add, func(r Record) { mu.Lock(); m.Add(r); mu.Unlock() })

	c := startChild(t)
	c.release(t)
	ll := log.wait(t, "Landlock access", landlockDenial)
	sys := log.wait(t, "SYSCALL", failedOpenat(c.pid))
	t.Logf("records:\n%s\n%s", describeRecord(&ll.rec), describeRecord(&sys.rec))
	if ll.rec.Serial != sys.rec.Serial {
		t.Errorf("Landlock record has serial %d, SYSCALL record %d", ll.rec.Serial, sys.rec.Serial)
	}

	tests := []struct {
		name string
		ev   tracer.Event
		want bool
	}{
		{"other pid", failedOpen(c.pid+100000, unix.EACCES), false},
		{"other errno", failedOpen(c.pid, unix.EPERM), false},
		{"the child's openat", failedOpen(c.pid, unix.EACCES), true},
		{"already matched", failedOpen(c.pid, unix.EACCES), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			reasons, ok := m.Match(&tt.ev)
			mu.Unlock()
			if ok != tt.want {
				t.Fatalf("Match = %v, %v; want match %v", reasons, ok, tt.want)
			}
			if ok {
				checkLandlockReason(t, reasons)
			}
		})
	}
}

// failedOpen is the event the tracer makes of pid's denied openat.
func failedOpen(pid uint32, errno unix.Errno) tracer.Event {
	return tracer.Event{
		Time: time.Now(), Syscall: "openat", Family: tracer.FamilyOpen,
		Ret: -int64(errno), Errno: errno,
		Proc: tracer.Proc{PID: pid, TID: pid},
	}
}

// checkLandlockReason checks the reason the child's denial gives.
func checkLandlockReason(t *testing.T, reasons []*tracer.LSMReason) {
	t.Helper()
	if len(reasons) != 1 {
		t.Fatalf("reasons = %+v, want one", reasons)
	}
	r := reasons[0]
	if r.LSM != LSMLandlock || r.Hook != "fs.read_file" {
		t.Errorf("reason = %+v, want lsm landlock fs.read_file", r)
	}
	if !strings.Contains(r.Detail, `path="`+deniedPath+`"`) {
		t.Errorf("detail %q does not name %s", r.Detail, deniedPath)
	}
}

func TestProbe(t *testing.T) {
	testenv.RequireRoot(t, "reading and configuring kernel auditing")
	tests := []struct {
		name   string
		enable bool
		usable bool
		says   string
	}{
		{"as found", false, false, ""},
		{"auditing enabled", true, true, "auditing enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.enable {
				enableAudit(t)
			}
			a := Probe()
			t.Logf("probe: %s", a)
			if a.ReaderErr != nil || a.StatusErr != nil {
				t.Fatalf("probe as root: %+v", a)
			}
			if !tt.enable {
				// The machine's own state: whatever it is, Usable
				// must agree with it.
				tt.usable = a.State.Enabled
			}
			if a.Usable() != tt.usable || !strings.Contains(a.String(), tt.says) {
				t.Errorf("Usable() = %v, String() = %q; want %v, containing %q", a.Usable(), a, tt.usable, tt.says)
			}
		})
	}
}

func TestProbeUnprivileged(t *testing.T) {
	testenv.RequireRoot(t, "reading and configuring kernel auditing") // to become nobody
	cmd := exec.Command(unprivilegedBinary(t), "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=probe")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("probe child: %v\n%s", err, out)
	}
	for _, want := range []string{"CAP_AUDIT_READ", "CAP_AUDIT_CONTROL"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("unprivileged probe does not name %s:\n%s", want, out)
		}
	}
}

// unprivilegedBinary copies the test binary where any user can run it: the build
// directory is private to root.
func unprivilegedBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "audit.test")
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}
