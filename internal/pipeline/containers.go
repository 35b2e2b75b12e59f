package pipeline

import (
	"context"
	"time"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/tracer"
)

// Containers names each event's container and pod (correlate.Queue). An
// event of a container that containerd has not described yet is held, in
// order, until it has or the wait passed; it then goes on with the
// container's id only.
type Containers struct {
	q    *correlate.Queue
	next Next
	ev   Event // for passed events; the queue's calls are serialized
}

// NewContainers starts the queue on r; wait 0 means correlate.DefaultWait.
func NewContainers(r *correlate.Resolver, wait time.Duration) *Containers {
	s := &Containers{}
	s.q = r.NewQueue(correlate.QueueOptions{Out: s.out, Wait: wait})
	return s
}

// Link implements Stage.
func (s *Containers) Link(next Next) { s.next = next }

// Handle implements Stage.
func (s *Containers) Handle(ev *Event) { s.q.Push(ev.Event) }

func (s *Containers) out(ev *tracer.Event, c *correlate.Container) {
	s.ev = Event{Event: ev, Container: c}
	s.next.Handle(&s.ev)
}

// Close passes on what the queue holds, with what the cache knows now,
// without waiting, and stops the queue.
func (s *Containers) Close(context.Context) { s.q.Close() }
