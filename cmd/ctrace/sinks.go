package main

import (
	"bufio"
	"fmt"
	"io"
	"sync"

	"github.com/ctrace-dev/ctrace/internal/pipeline"
)

// The sinks that write to ctrace's output: the event lines (text or JSON)
// and the summary table. They share stdout's buffer.

// renderSink writes each shown event as a text line or a JSON object.
type renderSink struct {
	// mu orders writes from the stage goroutines that pass held events
	// on with the flushes from the tracer's.
	mu  sync.Mutex
	r   *renderer
	out *bufio.Writer
}

func newRenderSink(f *runFlags, out *bufio.Writer, color bool) *renderSink {
	r := newRenderer(f.output, out, color)
	r.explain = f.explain
	return &renderSink{r: r, out: out}
}

func (s *renderSink) Write(ev *pipeline.Event) {
	if ev.Hidden {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.r.eventIn(ev.Event, ev.Benign, ev.Container)
}

// Idle writes out what is buffered: a trickle of events is seen at once,
// a storm is written in large blocks.
func (s *renderSink) Idle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.out.Flush()
}

func (s *renderSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.out.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// summarySink counts failures for the table written at exit (--summary,
// --summary-file). Known-harmless failures count only with --show-benign.
type summarySink struct {
	s      *summary
	f      *containerFlags
	json   bool
	benign bool
	out    io.Writer
}

func newSummarySink(f *runFlags, out io.Writer) *summarySink {
	return &summarySink{s: newSummary(), f: &f.ctr, json: f.output == "json", benign: f.showBenign, out: out}
}

func (s *summarySink) Write(ev *pipeline.Event) {
	if ev.Benign != nil && !s.benign {
		return
	}
	s.s.add(ev.Event, ev.Container)
}

func (s *summarySink) Close() error { return writeSummary(s.s, s.f, s.json, s.out) }
