package audit

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ctrace-dev/ctrace/tracer"
	"golang.org/x/sys/unix"
)

// outLog collects what a Joiner passes on.
type outLog struct {
	mu  sync.Mutex
	evs []tracer.Event
	at  []time.Time
}

func (o *outLog) out(ev *tracer.Event) {
	o.mu.Lock()
	o.evs = append(o.evs, *ev)
	o.at = append(o.at, time.Now())
	o.mu.Unlock()
}

// tids returns the TIDs passed on so far, in order: the tests number
// their events by TID.
func (o *outLog) tids() []uint32 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []uint32
	for _, e := range o.evs {
		out = append(out, e.Proc.TID)
	}
	return out
}

// waitLen waits until n events were passed on.
func (o *outLog) waitLen(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if len(o.tids()) >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d events passed on within %v, want %d", len(o.tids()), within, n)
}

// testEvent is event number tid: an openat of pid 7 failing with errno.
func testEvent(tid uint32, errno unix.Errno) *tracer.Event {
	ev := failedOpen(7, errno)
	ev.Proc.TID = tid
	return &ev
}

// denialRecords are the Landlock and SYSCALL records of pid 7's denied
// openat, stamped now.
func denialRecords(t *testing.T, serial int) []Record {
	t.Helper()
	now := time.Now()
	stamp := fmt.Sprintf("%d.%03d:%d", now.Unix(), now.Nanosecond()/1e6, serial)
	return []Record{
		mustParse(t, TypeLandlockAccess, "audit("+stamp+`): domain=1 blockers=fs.read_file path="/etc/hostname"`),
		mustParse(t, TypeSyscall, "audit("+stamp+"): arch="+nativeArchHex+" syscall="+strconv.Itoa(unix.SYS_OPENAT)+" success=no exit=-13 pid=7 comm=\"x\""),
	}
}

func equalTIDs(a []uint32, b ...uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestJoinerPassesThroughWithoutWait(t *testing.T) {
	o := &outLog{}
	j := NewJoiner(JoinerOptions{Out: o.out})
	defer j.Close()
	j.Process(testEvent(1, unix.EACCES))
	j.Process(testEvent(2, unix.ENOENT))
	if got := o.tids(); !equalTIDs(got, 1, 2) {
		t.Fatalf("passed on %v at once, want [1 2]", got)
	}
}

func TestJoinerHoldsOnlyWhatAnLSMCouldCause(t *testing.T) {
	o := &outLog{}
	j := NewJoiner(JoinerOptions{Wait: time.Hour, Out: o.out})
	j.Process(testEvent(1, unix.ENOENT))
	ok := testEvent(2, 0)
	ok.Ret = 3
	j.Process(ok)
	unknown := testEvent(3, unix.EACCES)
	unknown.Syscall = "read"
	j.Process(unknown)
	if got := o.tids(); !equalTIDs(got, 1, 2, 3) {
		t.Fatalf("passed on %v at once, want [1 2 3]", got)
	}
	j.Close()
}

func TestJoinerRecordAfterEvent(t *testing.T) {
	o := &outLog{}
	flushed := make(chan struct{}, 10)
	j := NewJoiner(JoinerOptions{Wait: time.Hour, Out: o.out, Flush: func() { flushed <- struct{}{} }})
	defer j.Close()
	j.Process(testEvent(1, unix.EACCES))
	j.Process(testEvent(2, unix.ENOENT)) // behind a held event: waits too
	if got := o.tids(); len(got) != 0 {
		t.Fatalf("passed on %v before the denial arrived", got)
	}
	for _, r := range denialRecords(t, 1) {
		j.Record(r)
	}
	if got := o.tids(); !equalTIDs(got, 1, 2) {
		t.Fatalf("passed on %v after the denial, want [1 2]", got)
	}
	select {
	case <-flushed:
	default:
		t.Error("Flush not called after events released by a record")
	}
	checkLandlockReason(t, lsmOnly(t, o.evs[0].Reasons))
	if len(o.evs[1].Reasons) != 0 {
		t.Errorf("ENOENT event got reasons %+v", o.evs[1].Reasons)
	}
	if s := j.Stats(); s.Held != 1 || s.Joined != 1 || s.Expired != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestJoinerRecordBeforeEvent(t *testing.T) {
	o := &outLog{}
	j := NewJoiner(JoinerOptions{Wait: time.Hour, Out: o.out})
	defer j.Close()
	for _, r := range denialRecords(t, 1) {
		j.Record(r)
	}
	j.Process(testEvent(1, unix.EACCES))
	if got := o.tids(); !equalTIDs(got, 1) {
		t.Fatalf("passed on %v, want [1] at once", got)
	}
	checkLandlockReason(t, lsmOnly(t, o.evs[0].Reasons))
}

func TestJoinerDeadline(t *testing.T) {
	const wait = 30 * time.Millisecond
	o := &outLog{}
	j := NewJoiner(JoinerOptions{Wait: wait, Out: o.out})
	defer j.Close()
	start := time.Now()
	j.Process(testEvent(1, unix.EACCES))
	j.Process(testEvent(2, unix.EPERM))
	o.waitLen(t, 2, time.Second)
	if got := o.tids(); !equalTIDs(got, 1, 2) {
		t.Fatalf("passed on %v, want [1 2]", got)
	}
	if d := o.at[0].Sub(start); d < wait || d > wait+50*time.Millisecond {
		t.Errorf("held %v, want about %v", d, wait)
	}
	if s := j.Stats(); s.Held != 2 || s.Expired != 2 || s.Joined != 0 {
		t.Errorf("stats = %+v", s)
	}
}

// TestJoinerSettle: at the end of a run Settle waits for the denial of a
// held event that is still on its way, and for the deadline of one whose
// denial never comes, and no longer.
func TestJoinerSettle(t *testing.T) {
	const wait = 300 * time.Millisecond
	o := &outLog{}
	j := NewJoiner(JoinerOptions{Wait: wait, Out: o.out})
	defer j.Close()
	j.Process(testEvent(1, unix.EACCES))
	go func() {
		time.Sleep(20 * time.Millisecond)
		for _, r := range denialRecords(t, 1) {
			j.Record(r)
		}
	}()
	start := time.Now()
	j.Settle(context.Background())
	if d := time.Since(start); d >= wait {
		t.Errorf("Settle returned after %v, want as soon as the denial came (before %v)", d, wait)
	}
	if got := o.tids(); !equalTIDs(got, 1) {
		t.Fatalf("passed on %v after Settle, want [1]", got)
	}
	checkLandlockReason(t, lsmOnly(t, o.evs[0].Reasons))

	j.Process(testEvent(2, unix.EPERM)) // no denial will come
	start = time.Now()
	j.Settle(context.Background())
	if d := time.Since(start); d < wait-10*time.Millisecond || d > wait+200*time.Millisecond {
		t.Errorf("Settle without a denial returned after %v, want about the deadline, %v", d, wait)
	}
	if got := o.tids(); !equalTIDs(got, 1, 2) {
		t.Fatalf("passed on %v after the second Settle, want [1 2]", got)
	}

	j.Process(testEvent(3, unix.EPERM))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	start = time.Now()
	j.Settle(ctx)
	if d := time.Since(start); d > wait/2 {
		t.Errorf("Settle ignored its context: returned after %v", d)
	}
}

func TestJoinerCloseReleasesInOrder(t *testing.T) {
	o := &outLog{}
	j := NewJoiner(JoinerOptions{Wait: time.Hour, Out: o.out})
	for i := uint32(1); i <= 5; i++ {
		errno := unix.EACCES
		if i%2 == 0 {
			errno = unix.ENOENT
		}
		j.Process(testEvent(i, errno))
	}
	j.Close()
	j.Process(testEvent(6, unix.EACCES)) // after Close: passes straight
	if got := o.tids(); !equalTIDs(got, 1, 2, 3, 4, 5, 6) {
		t.Fatalf("passed on %v, want [1 2 3 4 5 6]", got)
	}
}

// TestJoinerConcurrent runs events, records and timers at once (for
// go test -race) and checks that nothing is lost or reordered.
func TestJoinerConcurrent(t *testing.T) {
	o := &outLog{}
	j := NewJoiner(JoinerOptions{Wait: 5 * time.Millisecond, Out: o.out})
	const n = 300
	recs := make([][]Record, n)
	for i := range recs {
		recs[i] = denialRecords(t, i+1)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			j.Process(testEvent(uint32(i+1), unix.EACCES))
			if i%50 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
		}
	})
	wg.Go(func() {
		for _, rs := range recs {
			for _, r := range rs {
				j.Record(r)
			}
		}
	})
	wg.Wait()
	o.waitLen(t, n, 2*time.Second)
	j.Close()
	got := o.tids()
	for i, tid := range got {
		if tid != uint32(i+1) {
			t.Fatalf("event %d passed on as number %d: order broken", tid, i+1)
		}
	}
	if s := j.Stats(); s.Joined+s.Expired != n {
		t.Errorf("stats = %+v: joined and expired do not add up to %d", s, n)
	}
}

// TestJoinerBounded checks that a storm of held events stops the oldest
// from waiting rather than growing without bound or dropping any.
func TestJoinerBounded(t *testing.T) {
	o := &outLog{}
	j := NewJoiner(JoinerOptions{Wait: time.Hour, Out: o.out})
	for i := range maxQueue + 10 {
		j.Process(testEvent(uint32(i+1), unix.EACCES))
	}
	if got := o.tids(); !equalTIDs(got, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10) {
		t.Fatalf("passed on %v while holding, want the 10 oldest", got)
	}
	j.Close()
	if got := len(o.tids()); got != maxQueue+10 {
		t.Fatalf("%d events passed on, want %d", got, maxQueue+10)
	}
}

// lsmOnly returns rs as LSM reasons, failing the test on any other kind.
func lsmOnly(t *testing.T, rs []tracer.Reason) []*tracer.LSMReason {
	t.Helper()
	var out []*tracer.LSMReason
	for _, r := range rs {
		l, ok := r.(*tracer.LSMReason)
		if !ok {
			t.Fatalf("reason %+v, want only LSM reasons", r)
		}
		out = append(out, l)
	}
	return out
}
