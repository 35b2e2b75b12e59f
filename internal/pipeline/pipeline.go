package pipeline

import (
	"context"
	"sync"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/benign"
	"github.com/ctrace-dev/ctrace/internal/hints"
	"github.com/ctrace-dev/ctrace/tracer"
)

// Event is a decoded event and what the stages learned about it.
type Event struct {
	*tracer.Event
	// Container is the event's container, nil for a host process; set
	// by Containers.
	Container *correlate.Container
	// Benign is the known-harmless failure the event is, or nil; set by
	// Benign.
	Benign *benign.Rule
	// Hidden marks an event that is counted and measured but not shown
	// (a known-harmless failure without --show-benign); set by Benign,
	// and by dedup.Stage for a failure folded into a count or over the
	// rate limit.
	Hidden bool
	// Repeat, when set, makes the event a summary of Repeat identical
	// calls that the sinks already saw as hidden events (dedup.Stage):
	// sinks that show events show the count, sinks that count calls
	// skip it.
	Repeat uint64
	// KernelCounted marks a summary whose calls the kernel counted
	// (tracer.Event.Repeats): a copy of the first of them, which was
	// shown, with what the stages learnt about that one.
	KernelCounted bool
	// Hints is what to do about the failure's reasons, nil without a
	// rule that applies; set by Hints.
	Hints []hints.Hint

	// recheckPermission and recheckExec mark a failure Permission or
	// Exec could not explain for want of its container, for their
	// Recheck stages.
	recheckPermission, recheckExec bool
}

// Shown reports whether the outputs that show events (the event lines,
// OTLP) show ev: a stage hid none of it (a known-harmless failure the run
// does not show, a call folded into a dedup count or over the rate
// limit). An output that shows fewer known-harmless failures than the
// run does (OTLP without --show-benign) passes benign false.
func (e *Event) Shown(benign bool) bool { return !e.Hidden && (benign || e.Benign == nil) }

// Counted reports whether ev is one call for the outputs that count calls
// (metrics, the summary, the exit status): every event but a dedup
// summary (Repeat), whose calls were counted one by one as they passed,
// hidden. With benign false, known-harmless failures do not count either.
func (e *Event) Counted(benign bool) bool { return e.Repeat == 0 && (benign || e.Benign == nil) }

// Clone returns a copy that stays valid after the stage that passed ev
// returns: a stage that holds an event holds its clone.
func (e *Event) Clone() *Event {
	c := *e
	c.Event = e.Event.Clone()
	return &c
}

// Handler takes events. Handle is never called by two goroutines at once,
// and ev is valid only until Handle returns: the stage before may reuse it.
type Handler interface {
	Handle(ev *Event)
}

// Stage is one step between the tracer and the sinks.
type Stage interface {
	Handler
	// Link is called once, before the first event, with what follows
	// the stage.
	Link(next Next)
	// Close passes on, in order, every event the stage still holds,
	// waiting for what they wait for no longer than ctx allows, and
	// frees what the stage holds. Events handled afterwards pass
	// straight on.
	Close(ctx context.Context)
}

// Sink is an output: it sees every event that passed all stages, in
// order, one at a time (Write is never called by two goroutines at once).
type Sink interface {
	Write(ev *Event)
	// Close is called once, after the last event: a sink writes what
	// it kept and flushes.
	Close() error
}

// Idler is a Sink that buffers output: Idle is the moment to write it,
// when no event is coming for now. It may be called while Write runs on
// another goroutine.
type Idler interface {
	Idle()
}

// LossCounter is a Sink that counts the records the kernel lost: delta
// since the last call, and the total.
type LossCounter interface {
	Lost(delta, total uint64)
}

// Next is what follows a stage: the next stage, or the sinks.
type Next struct {
	h Handler
	p *Pipeline
}

// Handle passes ev on.
func (n Next) Handle(ev *Event) { n.h.Handle(ev) }

// Idle tells the sinks that no event is coming for now; a stage calls it
// after it passed held events on from its own goroutine.
func (n Next) Idle() { n.p.Idle() }

// Pipeline runs events through its stages into its sinks.
type Pipeline struct {
	stages []Stage
	sinks  sinks
	first  Handler
	ev     Event // the tracer's event, reused
	once   sync.Once
	err    error
}

// New links stages, in the order given, to the sinks.
func New(stages []Stage, outputs ...Sink) *Pipeline {
	p := &Pipeline{stages: stages, sinks: outputs}
	var h Handler = p.sinks
	for i := len(stages) - 1; i >= 0; i-- {
		stages[i].Link(Next{h: h, p: p})
		h = stages[i]
	}
	p.first = h
	return p
}

// Process takes one event from the tracer; it has the signature of
// tracer.Sink.Event, and must be called from one goroutine.
func (p *Pipeline) Process(ev *tracer.Event) {
	p.ev = Event{Event: ev}
	p.first.Handle(&p.ev)
}

// Idle tells the sinks that no event is coming for now, as tracer.Sink.Idle.
func (p *Pipeline) Idle() {
	for _, s := range p.sinks {
		if i, ok := s.(Idler); ok {
			i.Idle()
		}
	}
}

// Lost tells the sinks that count them about lost records, as
// tracer.Sink.Lost.
func (p *Pipeline) Lost(delta, total uint64) {
	for _, s := range p.sinks {
		if l, ok := s.(LossCounter); ok {
			l.Lost(delta, total)
		}
	}
}

// Close closes the stages, first to last, so that what each still holds
// reaches the sinks in order, and then the sinks. It returns the first
// sink's error. Only the first call of Close or Abort does anything.
func (p *Pipeline) Close(ctx context.Context) error {
	p.once.Do(func() {
		p.closeStages(ctx)
		for _, s := range p.sinks {
			if err := s.Close(); err != nil && p.err == nil {
				p.err = err
			}
		}
	})
	return p.err
}

// Abort closes the stages without waiting, and not the sinks: a run that
// failed before it began writes no summary. It frees what the stages
// hold (an audit setting to restore, goroutines) on every way out.
func (p *Pipeline) Abort() {
	p.once.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		p.closeStages(ctx)
	})
}

func (p *Pipeline) closeStages(ctx context.Context) {
	for _, s := range p.stages {
		s.Close(ctx)
	}
}

// sinks hands each event to every sink, in order.
type sinks []Sink

func (ss sinks) Handle(ev *Event) {
	for _, s := range ss {
		s.Write(ev)
	}
}
