package sink

import (
	"github.com/ctrace-dev/ctrace/internal/metrics"
	"github.com/ctrace-dev/ctrace/internal/pipeline"
)

// Metrics feeds the Prometheus metrics: every call that passed the
// filters, known-harmless ones included (their own label says so), and
// the lost records.
type Metrics struct{ m *metrics.Metrics }

// NewMetrics returns a sink that updates m.
func NewMetrics(m *metrics.Metrics) *Metrics { return &Metrics{m: m} }

// Write implements pipeline.Sink.
func (s *Metrics) Write(ev *pipeline.Event) {
	if ev.Counted(true) {
		s.m.Observe(ev.Event, ev.Container, ev.Benign)
	}
}

// Lost implements pipeline.LossCounter.
func (s *Metrics) Lost(_, total uint64) { s.m.Lost(total) }

// Close implements pipeline.Sink.
func (s *Metrics) Close() error { return nil }
