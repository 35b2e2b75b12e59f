package audit

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
	"github.com/ctrace-dev/ctrace/tracer"
	"golang.org/x/sys/unix"
)

// timings records when each side of a child's failure reached user space.
type timings struct {
	mu     sync.Mutex
	event  map[uint32]time.Time // the tracer's event
	record map[uint32]time.Time // the SYSCALL record, which completes a denial
	out    map[uint32]*tracer.Event
	outAt  map[uint32]time.Time
}

func newTimings() *timings {
	return &timings{event: map[uint32]time.Time{}, record: map[uint32]time.Time{},
		out: map[uint32]*tracer.Event{}, outAt: map[uint32]time.Time{}}
}

func (tm *timings) set(m map[uint32]time.Time, pid uint32) {
	tm.mu.Lock()
	if _, ok := m[pid]; !ok {
		m[pid] = time.Now()
	}
	tm.mu.Unlock()
}

// TestEndToEnd runs the real tracer and the real Reader through a Joiner,
// as ctrace run does, and checks that each Landlock-denied openat comes
// out with its reason. It logs how far apart the event and its audit
// records arrive.
func TestEndToEnd(t *testing.T) {
	testenv.RequireRoot(t, "reading and configuring kernel auditing")
	requireLandlockAudit(t)
	enableAudit(t)
	const n = 20
	children := make([]*child, n)
	pids := make([]uint32, n)
	for i := range children {
		children[i] = startChild(t)
		pids[i] = children[i].pid
	}
	ops, err := tracer.ParseSyscalls([]string{"openat"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tracer.Open(tracer.Options{Syscalls: ops, PIDs: pids})
	if err != nil {
		t.Fatalf("tracer.Open: %v", err)
	}
	defer tr.Close()

	tm := newTimings()
	j := NewJoiner(JoinerOptions{Wait: DefaultWait, Out: func(ev *tracer.Event) {
		tm.mu.Lock()
		tm.out[ev.Proc.PID] = ev.Clone()
		tm.outAt[ev.Proc.PID] = time.Now()
		tm.mu.Unlock()
	}})
	startReader(t, func(r Record) {
		if pid, ok := r.int("pid"); ok && r.Type == TypeSyscall {
			tm.set(tm.record, uint32(pid))
		}
		j.Record(r)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tr.Run(ctx, tracer.Sink{Event: func(ev *tracer.Event) {
			if ev.Syscall == "openat" && ev.Errno == unix.EACCES {
				tm.set(tm.event, ev.Proc.PID)
			}
			j.Process(ev)
		}})
	}()

	for _, c := range children {
		c.release(t)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		tm.mu.Lock()
		got := len(tm.out)
		tm.mu.Unlock()
		if got >= n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("tracer Run: %v", err)
	}
	j.Close()

	tm.mu.Lock()
	defer tm.mu.Unlock()
	var gaps, holds []time.Duration
	for _, pid := range pids {
		ev := tm.out[pid]
		if ev == nil {
			t.Errorf("no event from child %d", pid)
			continue
		}
		if ev.Syscall != "openat" || ev.Errno != unix.EACCES {
			t.Errorf("child %d: event %s errno %v, want openat EACCES", pid, ev.Syscall, ev.Errno)
		}
		var lsm []*tracer.LSMReason
		for r := range tracer.ReasonsOf[*tracer.LSMReason](ev) {
			if r.LSM == LSMLandlock {
				lsm = append(lsm, r)
			}
		}
		checkLandlockReason(t, lsm)
		gaps = append(gaps, tm.record[pid].Sub(tm.event[pid]))
		holds = append(holds, tm.outAt[pid].Sub(tm.event[pid]))
	}
	slices.Sort(gaps)
	slices.Sort(holds)
	if len(gaps) > 0 {
		t.Logf("SYSCALL record minus ring-buffer event, %d calls: min %v median %v max %v",
			len(gaps), gaps[0], gaps[len(gaps)/2], gaps[len(gaps)-1])
		t.Logf("event held by the Joiner: min %v median %v max %v", holds[0], holds[len(holds)/2], holds[len(holds)-1])
	}
	t.Logf("joiner %+v", j.Stats())
}
