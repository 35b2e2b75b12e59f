package pipeline

import (
	"context"

	"github.com/ctrace-dev/ctrace/internal/hints"
)

// Hints adds what to do about a failure's reasons (hints.For): the
// advice the text and JSON lines and the OTLP records carry. It reads the
// reasons and the container that the stages before it found, so it comes
// after them; and after Benign and Dedup, so that an event no sink shows
// (hidden) costs nothing: a storm of identical failures folded into one
// line asks for one set of hints, not one per call.
type Hints struct {
	on   bool
	next Next
}

// NewHints returns the stage; off (--no-hints) passes events on without
// hints.
func NewHints(on bool) *Hints { return &Hints{on: on} }

// Link implements Stage.
func (s *Hints) Link(next Next) { s.next = next }

// Handle implements Stage.
func (s *Hints) Handle(ev *Event) {
	if s.on && !ev.Hidden {
		ev.Hints = hints.For(ev.Event, ev.Container)
	}
	s.next.Handle(ev)
}

// Close implements Stage.
func (s *Hints) Close(context.Context) {}
