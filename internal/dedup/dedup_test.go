package dedup

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/pipeline"
	"github.com/ctrace-dev/ctrace/tracer"
)

func TestNormalizePath(t *testing.T) {
	for in, want := range map[string]string{
		"/proc/4242/stat": "/proc/#/stat",
		"/run/containerd/runc/k8s.io/3f9a2c41d0e6b7a8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2/state.json": "/run/containerd/runc/k#s.io/#/state.json", // a key, never shown
		"net:[4026531840]":       "net:[#]",
		"/etc/passwd":            "/etc/passwd",
		"/lib/x86_64-linux-gnu":  "/lib/x#_#-linux-gnu",
		"/var/cafebabe/deadbeef": "/var/cafebabe/deadbeef", // no digit: a word
		"":                       "",
	} {
		if got := NormalizePath(in); got != want {
			t.Errorf("NormalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func failure(pid uint32, path string, errno unix.Errno, kinds ...tracer.ReasonKind) *tracer.Event {
	ev := &tracer.Event{Syscall: "openat", Errno: errno, Ret: -int64(errno),
		Proc: tracer.Proc{PID: pid, TID: pid, Comm: "cat"},
		Args: []tracer.Arg{{Name: "path", Kind: tracer.KindString, Str: path, Read: true}}}
	for _, k := range kinds {
		ev.Reasons = append(ev.Reasons, kindReason(k))
	}
	return ev
}

func TestKeyOf(t *testing.T) {
	base := KeyOf(failure(1, "/proc/1/stat", unix.ENOENT), "c1")
	same := []*tracer.Event{failure(2, "/proc/77/stat", unix.ENOENT)}
	differ := map[string]Key{
		"container": KeyOf(failure(1, "/proc/1/stat", unix.ENOENT), "c2"),
		"errno":     KeyOf(failure(1, "/proc/1/stat", unix.EACCES), "c1"),
		"path":      KeyOf(failure(1, "/proc/1/status", unix.ENOENT), "c1"),
		"reasons":   KeyOf(failure(1, "/proc/1/stat", unix.ENOENT, tracer.ReasonCapability), "c1"),
	}
	for _, ev := range same {
		if k := KeyOf(ev, "c1"); k != base {
			t.Errorf("key %+v differs from %+v", k, base)
		}
	}
	for what, k := range differ {
		if k == base {
			t.Errorf("a different %s gives the same key", what)
		}
	}
	if a, b := KeyOf(failure(1, "/x", 2, tracer.ReasonLSM, tracer.ReasonCapability), ""), KeyOf(failure(1, "/x", 2, tracer.ReasonCapability, tracer.ReasonLSM), ""); a != b {
		t.Errorf("reason order matters: %+v, %+v", a, b)
	}
}

type passed struct {
	pid    uint32
	at     time.Time
	repeat uint64
}

func TestDeduper(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var got []passed
	out := func(ev *tracer.Event, n uint64) { got = append(got, passed{ev.Proc.PID, ev.Time, n}) }
	d := NewDeduper(time.Second, 0, (*tracer.Event).Clone, func(ev *tracer.Event, t time.Time) { ev.Time = t })
	add := func(pid uint32, ms int, path string) {
		ev := failure(pid, path, unix.ENOENT)
		ev.Time = at(ms)
		d.Add(KeyOf(ev, ""), ev.Time, ev, out)
	}
	add(1, 0, "/a")      // passes
	add(2, 100, "/a")    // held
	add(3, 200, "/a")    // counted
	add(4, 300, "/b")    // another kind: passes
	d.Tick(at(999), out) // nothing ended yet
	if len(got) != 2 {
		t.Fatalf("before the window ends: %v", got)
	}
	d.Tick(at(1000), out) // /a's window ends
	add(5, 1100, "/a")    // opens a new window
	add(6, 1200, "/b")    // past /b's window? no: /b started at 300
	add(7, 1350, "/b")    // /b's window ended at 1300: its summary (6), then 7 passes
	d.Flush(out)
	want := []passed{
		{1, at(0), 1}, {4, at(300), 1},
		{2, at(200), 2}, // the first repeat's event, at the last repeat's time
		{5, at(1100), 1},
		{6, at(1200), 1}, {7, at(1350), 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("passed\n%v\nwant\n%v", got, want)
	}
	if d.Len() != 0 {
		t.Errorf("%d entries left after Flush", d.Len())
	}
}

// A full table passes new kinds through uncounted.
func TestDeduperFull(t *testing.T) {
	n := 0
	d := NewDeduper(time.Minute, 2, (*tracer.Event).Clone, nil)
	for i := range 5 {
		for range 3 {
			ev := failure(1, fmt.Sprintf("/k%c", 'a'+i), unix.ENOENT)
			d.Add(KeyOf(ev, ""), time.Unix(0, 0), ev, func(*tracer.Event, uint64) { n++ })
		}
	}
	// a and b: one each now; c, d, e: all three each.
	if n != 2+9 {
		t.Errorf("passed %d, want 11", n)
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(10)
	t0 := time.Unix(0, 0)
	pass := 0
	// 1000 events over one second: the burst of 10, then 10 a second.
	for i := range 1000 {
		if l.Allow(t0.Add(time.Duration(i)*time.Millisecond), 1) {
			pass++
		}
	}
	if pass != 10+9 && pass != 10+10 {
		t.Errorf("passed %d of 1000 in a second at 10/s", pass)
	}
	if uint64(pass)+l.Dropped() != 1000 {
		t.Errorf("passed %d + dropped %d != 1000", pass, l.Dropped())
	}
	if l.Allow(t0.Add(time.Hour), 7) != true {
		t.Error("no token after an hour")
	}
}

// collect is a sink that keeps what it is given.
type collect struct {
	mu  sync.Mutex
	evs []pipeline.Event
}

func (c *collect) Write(ev *pipeline.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evs = append(c.evs, *ev.Clone())
}

func (c *collect) Close() error { return nil }

// shown returns the events shown, and the calls the counting sinks saw.
func (c *collect) shown() (shown []pipeline.Event, calls int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range c.evs {
		if !ev.Hidden {
			shown = append(shown, ev)
		}
		if ev.Repeat == 0 {
			calls++
		}
	}
	return shown, calls
}

func (c *collect) Idle() {}

// In the pipeline, the stage's goroutine passes a window's summary on when
// no identical event comes after it, and Close what is left; the folded
// events go on hidden, so that counting sinks see every call once.
func TestStage(t *testing.T) {
	c := &collect{}
	s := NewStage(Options{Window: 50 * time.Millisecond})
	p := pipeline.New([]pipeline.Stage{s}, c)
	for i := range 1000 {
		ev := failure(uint32(i+1), "/a", unix.ENOENT)
		ev.Time = time.Now()
		p.Process(ev)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if shown, _ := c.shown(); len(shown) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no summary within 5 s of a 50 ms window")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	shown, calls := c.shown()
	var sum uint64
	for _, ev := range shown {
		sum += max(ev.Repeat, 1)
	}
	if sum != 1000 || len(shown) > 6 || calls != 1000 {
		t.Errorf("%d shown whose counts add up to %d, %d calls counted; want a handful adding up to 1000, and 1000", len(shown), sum, calls)
	}
}

// The rate limit hides what exceeds it, still counted, and drops the
// summaries over it; it counts the calls it kept from being shown.
func TestStageRateLimit(t *testing.T) {
	c := &collect{}
	s := NewStage(Options{Rate: 5, Now: func() time.Time { return time.Unix(0, 0) }})
	p := pipeline.New([]pipeline.Stage{s}, c)
	for i := range 100 {
		p.Process(failure(uint32(i), fmt.Sprint("/", i), unix.ENOENT))
	}
	_ = p.Close(context.Background())
	shown, calls := c.shown()
	if len(shown) != 5 || s.RateLimited() != 95 || calls != 100 {
		t.Errorf("rate 5/s in one instant: shown %d, limited %d, counted %d; want 5, 95, 100", len(shown), s.RateLimited(), calls)
	}
}

// kindReason is a reason of a given kind and nothing else: the key reads
// only the kinds.
type kindReason tracer.ReasonKind

func (k kindReason) Kind() tracer.ReasonKind    { return tracer.ReasonKind(k) }
func (k kindReason) Text(*tracer.Event) string  { return string(k) }
func (k kindReason) AppendJSON(b []byte) []byte { return b }
