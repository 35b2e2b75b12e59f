package audit

import (
	"context"
	"sync"
	"time"

	"github.com/ctrace-dev/ctrace/tracer"
)

// DefaultWait is how long a Joiner holds a failed event for its audit
// records by default. On the development machine the records arrive
// within a few milliseconds of the event, in either order; the rest is
// margin for a loaded node.
const DefaultWait = 100 * time.Millisecond

// maxQueue bounds the events a Joiner keeps. Events are never dropped:
// past this many, the oldest held event stops waiting and is passed on,
// which bounds memory in a failure storm at the price of its reason.
const maxQueue = 8192

// JoinerOptions configure a Joiner.
type JoinerOptions struct {
	// Wait is the longest an event is held for its audit records. Zero
	// holds nothing: events pass straight through (auditing disabled or
	// the Reader unavailable).
	Wait time.Duration
	// Out receives every event, in the order Process was called, with
	// the LSM reasons found appended. Calls are serialized but may come
	// from the goroutine of Process, of Record or of a timer; Out must
	// not call back into the Joiner. The event is valid until Out
	// returns (it may be the one given to Process).
	Out func(*tracer.Event)
	// Flush, if set, is called after events were released by a record or
	// a timer rather than by Process: the moment to flush buffered output.
	Flush func()
}

// JoinerStats counts what a Joiner did.
type JoinerStats struct {
	Held    uint64 // events held for audit records
	Joined  uint64 // events that got LSM reasons
	Expired uint64 // held events released at the deadline without one
	// MaxHeld is the longest an event was held.
	MaxHeld time.Duration
}

// Joiner attaches LSM reasons from audit records to the failed events
// they explain. Events that an LSM could have caused (EACCES or EPERM from
// a call it knows) are held until their denial arrives or Wait passes;
// the others pass at once unless an earlier event is held, because the
// order of events is kept. No event is ever dropped.
type Joiner struct {
	mu      sync.Mutex
	opts    JoinerOptions
	m       *Matcher
	queue   []*pending
	timer   *time.Timer
	closed  bool
	stats   JoinerStats
	waiting int           // queued events not yet done
	settled chan struct{} // closed when waiting drops to zero; see Settle
}

type pending struct {
	ev       *tracer.Event
	arrived  time.Time
	deadline time.Time
	done     bool // matched, or never waited for
}

// NewJoiner returns a Joiner. Close it to release what it holds.
func NewJoiner(opts JoinerOptions) *Joiner {
	return &Joiner{opts: opts, m: NewMatcher()}
}

// SetWait changes how long later events are held; zero stops holding
// (for example when the Reader stopped).
func (j *Joiner) SetWait(d time.Duration) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.opts.Wait = d
}

// Process takes one event; it has the signature of tracer.Sink.Event.
// An event that is held, or queued behind one that is, is cloned, so the
// caller may reuse it.
func (j *Joiner) Process(ev *tracer.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	hold := j.opts.Wait > 0 && !j.closed && mayExplain(ev)
	if !hold && len(j.queue) == 0 {
		j.opts.Out(ev)
		return
	}
	now := time.Now()
	p := &pending{ev: ev.Clone(), arrived: now, done: true}
	if hold {
		if !j.join(p) {
			p.done = false
			p.deadline = now.Add(j.opts.Wait)
			j.waiting++
		}
		j.stats.Held++
	}
	j.queue = append(j.queue, p)
	j.release(now)
}

// Record takes one audit record; it has the signature Reader.Run wants.
func (j *Joiner) Record(r Record) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.m.Add(r)
	if j.waiting == 0 || (r.Type != TypeSyscall && r.Type != TypeAVC && r.Type != TypeLandlockAccess) {
		return
	}
	for _, p := range j.queue {
		if !p.done && j.join(p) {
			p.done = true
			j.waiting--
		}
	}
	if j.release(time.Now()) && j.opts.Flush != nil {
		j.opts.Flush()
	}
}

// Stats returns the counters so far.
func (j *Joiner) Stats() JoinerStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.stats
}

// Close releases every held event, in order, and stops holding: events
// processed afterwards pass straight through.
func (j *Joiner) Close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closed = true
	if j.timer != nil {
		j.timer.Stop()
	}
	for _, p := range j.queue {
		if !p.done {
			p.done = true
			j.stats.Expired++
		}
	}
	j.waiting = 0
	j.release(time.Now())
}

// Settle blocks until no event is held any more (each was joined or
// reached its deadline, at most Wait after it came) or ctx ends. Call it
// before Close at the end of a run, while records are still read: the
// denials of the last failures, those of a command that failed and
// exited at once, are often still on their way.
func (j *Joiner) Settle(ctx context.Context) {
	for {
		j.mu.Lock()
		if j.waiting == 0 || j.closed {
			j.mu.Unlock()
			return
		}
		if j.settled == nil {
			j.settled = make(chan struct{})
		}
		ch := j.settled
		j.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// join looks for p's denial and attaches it.
func (j *Joiner) join(p *pending) bool {
	reasons, ok := j.m.Match(p.ev)
	if !ok {
		return false
	}
	p.ev.Reasons = mergeLSM(p.ev.Reasons, reasons)
	j.stats.Joined++
	return true
}

// release passes on the events at the head of the queue that are done
// or past their deadline, and arms the timer for the next deadline. It
// reports whether it passed any on.
func (j *Joiner) release(now time.Time) bool {
	n := 0
	for _, p := range j.queue {
		if !p.done {
			if now.Before(p.deadline) && len(j.queue)-n <= maxQueue {
				break
			}
			// A last look: a denial without a SYSCALL record matches
			// only after a grace period.
			if !j.join(p) {
				j.stats.Expired++
			}
			p.done = true
			j.waiting--
		}
		if held := now.Sub(p.arrived); p.deadline != (time.Time{}) && held > j.stats.MaxHeld {
			j.stats.MaxHeld = held
		}
		j.opts.Out(p.ev)
		n++
	}
	clear(j.queue[:n])
	j.queue = j.queue[n:]
	if len(j.queue) == 0 {
		j.queue = nil
	}
	if j.waiting == 0 && j.settled != nil {
		close(j.settled)
		j.settled = nil
	}
	j.arm()
	return n > 0
}

// arm sets the timer for the first held event's deadline.
func (j *Joiner) arm() {
	if j.closed || len(j.queue) == 0 {
		return
	}
	head := j.queue[0]
	if head.done {
		return
	}
	d := time.Until(head.deadline)
	if j.timer == nil {
		j.timer = time.AfterFunc(d, j.expire)
	} else {
		j.timer.Reset(d)
	}
}

// expire runs on the timer's goroutine.
func (j *Joiner) expire() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	if j.release(time.Now()) && j.opts.Flush != nil {
		j.opts.Flush()
	}
}
