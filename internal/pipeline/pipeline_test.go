package pipeline

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/tracer"
)

// failed builds a failed call of this test's own process (a host process).
func failed(syscall string, errno unix.Errno, comm string, args ...string) *tracer.Event {
	ev := &tracer.Event{Time: time.Now(), Syscall: syscall, Family: tracer.FamilyOf(syscall),
		Errno: errno, Ret: -int64(errno),
		Proc: tracer.Proc{PID: uint32(os.Getpid()), TID: uint32(os.Getpid()), Comm: comm}}
	for i := 0; i+1 < len(args); i += 2 {
		ev.Args = append(ev.Args, tracer.Arg{Name: args[i], Kind: tracer.KindString, Str: args[i+1], Read: true})
	}
	return ev
}

// record is a sink that writes down what reached it.
type record struct {
	mu    sync.Mutex
	lines []string
	idle  int
	lost  uint64
	shut  bool
}

func (r *record) Write(ev *Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := ev.Syscall + " " + unix.ErrnoName(ev.Errno)
	if ev.Benign != nil {
		s += " benign=" + ev.Benign.Name
	}
	if ev.Hidden {
		s += " hidden"
	}
	if ev.Container != nil {
		s += " in " + ev.Container.String()
	}
	r.lines = append(r.lines, s)
}

func (r *record) Idle() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.idle++
}

func (r *record) Lost(_, total uint64) { r.lost = total }

func (r *record) Close() error {
	r.shut = true
	return nil
}

func (r *record) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

func TestStagesInOrder(t *testing.T) {
	masked := func() *tracer.Event {
		return failed("mount", unix.ENOENT, "runc:[2:INIT]", "source", "/dev/null", "target", "/proc/kcore")
	}
	tests := []struct {
		name  string
		show  bool
		limit int
		want  string
		stop  bool
	}{
		{"hidden benign reaches the sinks marked", false, 0,
			"openat ENOENT\nmount ENOENT benign=runc-masked-path hidden\nmount EPERM", false},
		{"shown benign", true, 0,
			"openat ENOENT\nmount ENOENT benign=runc-masked-path\nmount EPERM", false},
		// Hidden events do not count towards --count; nothing passes
		// after the last one, hidden or not.
		{"limit counts shown events", false, 2,
			"openat ENOENT\nmount ENOENT benign=runc-masked-path hidden\nmount EPERM", true},
		{"limit stops early", true, 2,
			"openat ENOENT\nmount ENOENT benign=runc-masked-path", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec record
			stopped := 0
			p := New([]Stage{
				NewFilter(correlate.Filter{Host: true}),
				NewBenign(tt.show),
				NewLimit(tt.limit, func() { stopped++ }),
			}, &rec)
			// The tracer reuses its event: so does this test.
			var ev tracer.Event
			for _, e := range []*tracer.Event{failed("openat", unix.ENOENT, "cat"), masked(),
				failed("mount", unix.EPERM, "mount"), failed("unshare", unix.EINVAL, "unshare")} {
				ev = *e
				p.Process(&ev)
			}
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if tt.limit == 0 {
				want += "\nunshare EINVAL"
			}
			if got := rec.String(); got != want {
				t.Errorf("sink got\n%s\nwant\n%s", got, want)
			}
			if (stopped == 1) != tt.stop || stopped > 1 {
				t.Errorf("stop called %d times", stopped)
			}
			if !rec.shut {
				t.Error("sink not closed")
			}
		})
	}
}

func TestFilterDropsOtherContainers(t *testing.T) {
	var rec record
	p := New([]Stage{NewFilter(correlate.Filter{Namespaces: []string{"k8s.io"}})}, &rec)
	p.Process(failed("openat", unix.ENOENT, "cat")) // a host process
	_ = p.Close(context.Background())
	if got := rec.String(); got != "" {
		t.Errorf("a host event passed a namespace filter: %q", got)
	}
}

// TestAuditJoinHoldsInOrder holds a failure an LSM may have caused, with
// no audit record to come, and an event behind it: both reach the sinks,
// in order, when the wait ends, and the sinks are told to flush.
func TestAuditJoinHoldsInOrder(t *testing.T) {
	var rec record
	s := NewAuditJoin(context.Background(), AuditOptions{Wait: 50 * time.Millisecond})
	p := New([]Stage{s}, &rec)
	var ev tracer.Event
	ev = *failed("openat", unix.EACCES, "cat", "path", "/etc/shadow")
	p.Process(&ev)
	ev = *failed("openat", unix.ENOENT, "cat", "path", "/nonexistent")
	p.Process(&ev) // reuses the event the joiner holds a clone of
	if got := rec.String(); got != "" {
		t.Fatalf("passed before the wait: %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for rec.String() == "" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	want := "openat EACCES\nopenat ENOENT"
	if got := rec.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	rec.mu.Lock()
	idle := rec.idle
	rec.mu.Unlock()
	if idle == 0 {
		t.Error("sinks not told to flush after the timer released events")
	}
	if st := s.Joiner().Stats(); st.Held != 1 || st.Expired != 1 {
		t.Errorf("joiner stats %+v", st)
	}
	_ = p.Close(context.Background())
}

// TestCloseWaitsNoLongerThanItsContext: a run's end passes on what the
// stages hold, waiting at most until the context's deadline.
func TestCloseWaitsNoLongerThanItsContext(t *testing.T) {
	var rec record
	restored := false
	p := New([]Stage{NewAuditJoin(context.Background(), AuditOptions{Wait: time.Hour, Restore: func() { restored = true }})}, &rec)
	p.Process(failed("mount", unix.EPERM, "mount"))
	p.Process(failed("openat", unix.ENOENT, "cat"))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 10*time.Second {
		t.Errorf("Close took %v, want the context's 100ms", d)
	}
	if got, want := rec.String(), "mount EPERM\nopenat ENOENT"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !restored {
		t.Error("audit settings not restored at Close")
	}
	// After Close, events pass straight on.
	p.Process(failed("unshare", unix.EINVAL, "unshare"))
	if got := rec.String(); !strings.HasSuffix(got, "unshare EINVAL") {
		t.Errorf("after Close: %q", got)
	}
}

// TestContainersWithoutContainerd: with containerd unreachable nothing is
// held, and a host process has no container.
func TestContainersWithoutContainerd(t *testing.T) {
	r, err := correlate.Open(context.Background(), correlate.Options{Address: t.TempDir() + "/containerd.sock"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var rec record
	p := New([]Stage{NewContainers(r, 0)}, &rec)
	p.Process(failed("openat", unix.ENOENT, "cat"))
	if got, want := rec.String(), "openat ENOENT"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	_ = p.Close(context.Background())
}

type failingSink struct{ err error }

func (f failingSink) Write(*Event) {}
func (f failingSink) Close() error { return f.err }

func TestLostAndCloseErrors(t *testing.T) {
	var rec record
	p := New(nil, failingSink{fmt.Errorf("first")}, &rec, failingSink{fmt.Errorf("second")})
	p.Lost(3, 7)
	p.Idle()
	if rec.lost != 7 || rec.idle != 1 {
		t.Errorf("lost %d, idle %d", rec.lost, rec.idle)
	}
	if err := p.Close(context.Background()); err == nil || err.Error() != "first" {
		t.Errorf("Close: %v, want the first sink's error", err)
	}
	if !rec.shut {
		t.Error("a sink after a failing one was not closed")
	}
	if err := p.Close(context.Background()); err == nil || err.Error() != "first" {
		t.Errorf("second Close: %v", err)
	}
}

func TestAbortClosesStagesOnly(t *testing.T) {
	var rec record
	restored := false
	p := New([]Stage{NewAuditJoin(context.Background(), AuditOptions{Wait: time.Hour, Restore: func() { restored = true }})}, &rec)
	p.Process(failed("mount", unix.EPERM, "mount"))
	start := time.Now()
	p.Abort()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Abort waited %v", d)
	}
	if !restored || rec.shut {
		t.Errorf("restored %v, sink closed %v; want the stages closed, not the sinks", restored, rec.shut)
	}
	if err := p.Close(context.Background()); err != nil || rec.shut {
		t.Errorf("Close after Abort: %v, sink closed %v", err, rec.shut)
	}
}
