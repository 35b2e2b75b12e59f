package correlate

import (
	"sync"
	"time"

	"github.com/ctrace-dev/ctrace/tracer"
)

// Defaults of QueueOptions.
const (
	// DefaultWait is how long an event waits for its container's
	// metadata: a containerd round trip takes about a millisecond, and
	// the event stream delivers a new container before its task starts;
	// a quarter of a second covers a loaded node without making a
	// trickle of events feel late.
	DefaultWait = 250 * time.Millisecond
	// DefaultQueueLen bounds the events held at once; past it the oldest
	// is released as it is.
	DefaultQueueLen = 4096
)

// QueueOptions configure a Queue.
type QueueOptions struct {
	// Out receives every event, in the order pushed, with its container
	// (nil for a host process). It is called from Push's goroutine or
	// the queue's own, never from two at once. The event is valid until
	// Out returns (it may be the one given to Push).
	Out func(*tracer.Event, *Container)
	// Wait bounds how long an event is held; 0 means DefaultWait.
	Wait time.Duration
	// Max bounds the events held; 0 means DefaultQueueLen.
	Max int
}

// Queue passes events on with their containers, in order. An event whose
// container is named (by its cgroup path or command line) but not yet
// known to the resolver's cache is held until containerd answers or Wait
// passes, whichever is first; events behind it wait behind it so that
// order is kept. Nothing is dropped: an event whose container could not be
// learned in time goes out with the container's id and namespace only.
// Events that need no wait (host processes, cached containers, containerd
// unreachable) go out at once, in Push's goroutine.
type Queue struct {
	r    *Resolver
	opts QueueOptions

	mu     sync.Mutex
	items  []held
	closed bool
	kick   chan struct{}
	done   chan struct{}
}

type held struct {
	ev       *tracer.Event
	deadline time.Time
}

// NewQueue starts a queue on r. Close releases what it holds and stops it.
func (r *Resolver) NewQueue(opts QueueOptions) *Queue {
	if opts.Wait <= 0 {
		opts.Wait = DefaultWait
	}
	if opts.Max <= 0 {
		opts.Max = DefaultQueueLen
	}
	q := &Queue{r: r, opts: opts, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go q.loop()
	return q
}

// Push passes ev on now, or holds a clone of it as the Queue's
// documentation says: the caller may reuse ev.
func (q *Queue) Push(ev *tracer.Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		c, _ := q.r.resolve(ev)
		q.opts.Out(ev, c)
		return
	}
	if len(q.items) == 0 {
		c, pending := q.r.resolve(ev)
		if !pending {
			q.opts.Out(ev, c)
			return
		}
	}
	q.items = append(q.items, held{ev: ev.Clone(), deadline: time.Now().Add(q.opts.Wait)})
	q.wake()
}

func (q *Queue) wake() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// Len returns the number of events held now.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// Close releases every held event, resolved as far as the cache knows
// now, and stops the queue. Later Pushes pass events on at once.
func (q *Queue) Close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	q.release(time.Now())
	q.mu.Unlock()
	q.wake()
	<-q.done
}

// release passes on the events at the head that need not wait any longer;
// with q.mu held. It returns the deadline of the event left at the head.
func (q *Queue) release(now time.Time) (time.Time, bool) {
	for len(q.items) > 0 {
		h := q.items[0]
		c, pending := q.r.resolve(h.ev)
		if pending && !q.closed && now.Before(h.deadline) && len(q.items) <= q.opts.Max {
			return h.deadline, true
		}
		q.opts.Out(h.ev, c)
		q.items[0] = held{}
		q.items = q.items[1:]
	}
	q.items = nil
	return time.Time{}, false
}

func (q *Queue) loop() {
	defer close(q.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		changed := q.r.changedCh()
		q.mu.Lock()
		deadline, waiting := q.release(time.Now())
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return
		}
		var tc <-chan time.Time
		if waiting {
			timer.Reset(time.Until(deadline))
			tc = timer.C
		}
		select {
		case <-changed:
		case <-tc:
		case <-q.kick:
		}
	}
}
