package pipeline

import (
	"context"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/busy"
)

// Busy adds the busy reason to an umount2 that failed with EBUSY and to
// the removal of a mount point (rmdir, unlink, unlinkat): who holds the
// mount (package busy). It reads /proc when the event passes, after
// Containers, so that a holder's container is known, and after Filter,
// so that events not shown cost no scan of the node's processes.
type Busy struct {
	f    busy.Finder
	next Next
}

// NewBusy returns the stage. proc is the node's /proc; containers lists
// the containers ctrace knows (correlate.Resolver.Containers), and may be
// nil.
func NewBusy(proc string, containers func() []*correlate.Container) *Busy {
	return &Busy{f: busy.Finder{Proc: proc, Containers: containers}}
}

// Link implements Stage.
func (s *Busy) Link(next Next) { s.next = next }

// Handle implements Stage.
func (s *Busy) Handle(ev *Event) {
	s.f.Diagnose(ev.Event)
	s.next.Handle(ev)
}

// Close implements Stage.
func (s *Busy) Close(context.Context) {}
