package pipeline

import (
	"context"

	"github.com/ctrace-dev/ctrace/internal/idmap"
	"github.com/ctrace-dev/ctrace/internal/nslimit"
)

// NSLimit adds the ns_limit reason to namespace creations refused by a
// limit, the nesting depth or a node policy (internal/nslimit). It reads
// the limits through a process in the caller's user namespace, so it
// comes first, with Permission, while the caller or its parent most
// likely still runs.
type NSLimit struct {
	d    nslimit.Diagnoser
	next Next
}

// NewNSLimit returns the stage; proc is the node's /proc.
func NewNSLimit(proc string) *NSLimit { return &NSLimit{d: nslimit.Diagnoser{Proc: proc}} }

// Link implements Stage.
func (s *NSLimit) Link(next Next) { s.next = next }

// Handle implements Stage.
func (s *NSLimit) Handle(ev *Event) {
	s.d.Diagnose(ev.Event)
	s.next.Handle(ev)
}

// Close implements Stage.
func (s *NSLimit) Close(context.Context) {}

// IDMap adds the idmap reason to mount_setattr and fsmount calls refused
// an idmapping (internal/idmap). The caller's descriptors are the only
// way to its mount, so it comes first, while the caller runs.
type IDMap struct {
	d    *idmap.Diagnoser
	next Next
}

// NewIDMap returns the stage; proc is the node's /proc.
func NewIDMap(proc string) *IDMap { return &IDMap{d: &idmap.Diagnoser{Proc: proc}} }

// Link implements Stage.
func (s *IDMap) Link(next Next) { s.next = next }

// Handle implements Stage.
func (s *IDMap) Handle(ev *Event) {
	s.d.Diagnose(ev.Event)
	s.next.Handle(ev)
}

// Close implements Stage.
func (s *IDMap) Close(context.Context) {}
