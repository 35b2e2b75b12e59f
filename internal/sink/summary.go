package sink

import (
	"bufio"
	"fmt"

	"github.com/ctrace-dev/ctrace/internal/pipeline"
	"github.com/ctrace-dev/ctrace/internal/summary"
	"github.com/ctrace-dev/ctrace/tracer/xlat"
)

// SummaryOptions say where the summary table goes.
type SummaryOptions struct {
	// Out, when not nil, gets the table after the events (--summary).
	Out *bufio.Writer
	// File, when not "", gets the table too (--summary-file).
	File string
	// JSON writes the table as JSON.
	JSON bool
	// Benign counts the known-harmless failures too (--show-benign).
	Benign bool
	// Done filters the error of writing to Out, as NewLines's done.
	Done func(error) error
}

// Summary counts failures for the table written at exit.
type Summary struct {
	t *summary.Table
	o SummaryOptions
}

// NewSummary returns the summary sink.
func NewSummary(o SummaryOptions) *Summary {
	return &Summary{t: summary.New(summary.Names{Errno: xlat.ErrnoName}), o: o}
}

// Write implements pipeline.Sink.
func (s *Summary) Write(ev *pipeline.Event) {
	if ev.Counted(s.o.Benign) {
		s.t.Add(ev.Event, ev.Container)
	}
}

// Close implements pipeline.Sink: it writes the table.
func (s *Summary) Close() error {
	if s.o.Out != nil {
		if err := s.o.Done(s.t.Write(s.o.Out, s.o.JSON)); err != nil {
			return err
		}
		if err := s.o.Done(s.o.Out.Flush()); err != nil {
			return err
		}
	}
	if s.o.File != "" {
		if err := s.t.WriteFile(s.o.File, s.o.JSON); err != nil {
			return fmt.Errorf("--summary-file: %w", err)
		}
	}
	return nil
}
