package pipeline

import (
	"context"

	"github.com/ctrace-dev/ctrace/correlate"
)

// Filter passes on the events of the containers, pods or namespaces
// asked for (--container, --pod, --host, ...).
type Filter struct {
	f    correlate.Filter
	next Next
}

// NewFilter returns the stage; the zero correlate.Filter passes all.
func NewFilter(f correlate.Filter) *Filter { return &Filter{f: f} }

// Link implements Stage.
func (s *Filter) Link(next Next) { s.next = next }

// Handle implements Stage.
func (s *Filter) Handle(ev *Event) {
	if s.f.Match(ev.Container) {
		s.next.Handle(ev)
	}
}

// Close implements Stage.
func (s *Filter) Close(context.Context) {}
