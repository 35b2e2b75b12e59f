package metrics

import "github.com/ctrace-dev/ctrace/internal/pipeline"

// Sink feeds Metrics from the pipeline: every event that passed the
// filters, hidden known-harmless ones included, and the lost records.
type Sink struct{ m *Metrics }

// NewSink returns a pipeline.Sink that updates m.
func NewSink(m *Metrics) *Sink { return &Sink{m: m} }

// Write implements pipeline.Sink.
// A dedup summary (Repeat) is skipped: its calls were counted already.
func (s *Sink) Write(ev *pipeline.Event) {
	if ev.Repeat == 0 {
		s.m.Observe(ev.Event, ev.Container, ev.Benign)
	}
}

// Lost implements pipeline.LossCounter.
func (s *Sink) Lost(_, total uint64) { s.m.Lost(total) }

// Close implements pipeline.Sink.
func (s *Sink) Close() error { return nil }
