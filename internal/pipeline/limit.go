package pipeline

import "context"

// Limit ends the run after max shown events (--count): it calls stop
// after the last, and passes nothing on after it, not even hidden events,
// while the tracer drains what is left.
type Limit struct {
	max, n int
	stop   func()
	next   Next
}

// NewLimit returns the stage; max 0 passes everything.
func NewLimit(max int, stop func()) *Limit { return &Limit{max: max, stop: stop} }

// Link implements Stage.
func (s *Limit) Link(next Next) { s.next = next }

// Handle implements Stage.
func (s *Limit) Handle(ev *Event) {
	if s.max > 0 && s.n >= s.max {
		return
	}
	s.next.Handle(ev)
	if ev.Hidden {
		return
	}
	s.n++
	if s.max > 0 && s.n >= s.max {
		s.stop()
	}
}

// Close implements Stage.
func (s *Limit) Close(context.Context) {}
