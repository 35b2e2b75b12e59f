package sink

import (
	"context"
	"strings"
	"time"

	"github.com/ctrace-dev/ctrace/internal/pipeline"
	"github.com/ctrace-dev/ctrace/internal/podevents"
	"github.com/ctrace-dev/ctrace/internal/render"
	"github.com/ctrace-dev/ctrace/tracer/xlat"
)

// PodEvents turns the failures of a pod's containers that have a hint
// into Kubernetes Events on the pod (package podevents): one Event per
// hint rule, the rule in CamelCase its reason (UsernsUnmappedOwner), the
// call its action, the hint and the call its note. Known-harmless
// failures, host processes and containers without a pod make none.
type PodEvents struct {
	pub *podevents.Publisher
	// Done is told what became of the diagnoses once Close has posted
	// what was queued.
	Done func(podevents.Stats)
}

// NewPodEvents returns a sink that posts through p.
func NewPodEvents(p *podevents.Publisher, done func(podevents.Stats)) *PodEvents {
	return &PodEvents{pub: p, Done: done}
}

// Write implements pipeline.Sink.
func (s *PodEvents) Write(ev *pipeline.Event) {
	for _, d := range Diagnoses(ev) {
		s.pub.Post(d)
	}
}

// Diagnoses returns the Events an event makes: one per hint of a shown,
// not known-harmless failure; none for a process outside a pod.
func Diagnoses(ev *pipeline.Event) []podevents.Diagnosis {
	if !ev.Shown(false) || len(ev.Hints) == 0 {
		return nil
	}
	c := ev.Container
	if c == nil || c.Pod == "" || c.PodNamespace == "" || c.PodUID == "" {
		return nil
	}
	name := c.ContainerName
	if name == "" {
		name = c.ID
	}
	action := ev.Syscall + " " + xlat.ErrnoName(ev.Errno) + " in " + name
	call := render.Call(ev.Event)
	out := make([]podevents.Diagnosis, 0, len(ev.Hints))
	for _, h := range ev.Hints {
		note := string(xlat.AppendEscaped(nil, h.Text)) + "\nFailed call in container " + name + ": " + call
		out = append(out, podevents.Diagnosis{
			Pod:    podevents.Pod{Name: c.Pod, Namespace: c.PodNamespace, UID: c.PodUID},
			Reason: CamelCase(h.Rule),
			Action: action,
			Note:   note,
		})
	}
	return out
}

// CamelCase turns a rule's name into an Event reason, as Kubernetes
// writes them: "userns-unmapped-owner" -> "UsernsUnmappedOwner".
func CamelCase(rule string) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(rule, func(r rune) bool { return r == '-' || r == '_' || r == ' ' }) {
		b.WriteString(strings.ToUpper(w[:1]))
		b.WriteString(w[1:])
	}
	return b.String()
}

// Close implements pipeline.Sink: it posts what is queued, waiting up to
// five seconds for the API server, and says what became of it.
func (s *PodEvents) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.pub.Close(ctx) // what did not make it is in the stats
	if s.Done != nil {
		s.Done(s.pub.Stats())
	}
	return nil
}
