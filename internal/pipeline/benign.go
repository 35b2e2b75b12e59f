package pipeline

import (
	"context"

	"github.com/ctrace-dev/ctrace/internal/benign"
)

// Benign marks the known-harmless failures (runc set-up, loader and PATH probing:
// benign.Rules), and hides them unless they are to be shown. A hidden
// event still reaches the sinks, which count and measure it.
type Benign struct {
	show bool
	next Next
}

// NewBenign returns the stage; show keeps known-harmless failures visible
// (--show-benign, and JSON events, which carry the mark).
func NewBenign(show bool) *Benign { return &Benign{show: show} }

// Link implements Stage.
func (s *Benign) Link(next Next) { s.next = next }

// Handle implements Stage.
func (s *Benign) Handle(ev *Event) {
	ev.Benign, _ = benign.Match(ev.Event)
	ev.Hidden = ev.Benign != nil && !s.show
	s.next.Handle(ev)
}

// Close implements Stage.
func (s *Benign) Close(context.Context) {}
