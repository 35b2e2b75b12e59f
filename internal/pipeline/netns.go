package pipeline

import (
	"context"

	"github.com/ctrace-dev/ctrace/internal/netns"
)

// NetNS adds the netns reason to failures on a network namespace file
// (setns, open, mount or umount of /run/netns/X): what the file is now,
// and the container whose spec names it (netns.Diagnoser). It reads the
// file's state when the event passes, a few milliseconds after the call,
// so it comes after the stages that hold events only as long as they
// must: after Containers, and after Filter, so that the events not shown
// cost no statfs.
type NetNS struct {
	d    *netns.Diagnoser
	next Next
}

// NewNetNS returns the stage. It reads the files below root (--host-root;
// "" on the node itself); index, fed by the resolver's Watch, names their
// containers, and may be nil.
func NewNetNS(root string, index *netns.Index) *NetNS {
	return &NetNS{d: &netns.Diagnoser{Root: root, Index: index}}
}

// Link implements Stage.
func (s *NetNS) Link(next Next) { s.next = next }

// Handle implements Stage.
func (s *NetNS) Handle(ev *Event) {
	s.d.Diagnose(ev.Event)
	s.next.Handle(ev)
}

// Close implements Stage.
func (s *NetNS) Close(context.Context) {}
