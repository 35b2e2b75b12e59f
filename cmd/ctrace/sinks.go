package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog/log"
	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/pipeline"
	"github.com/ctrace-dev/ctrace/internal/render"
	"github.com/ctrace-dev/ctrace/internal/summary"
	"github.com/ctrace-dev/ctrace/tracer/xlat"
)

// The sinks that write to ctrace's output: the event lines (text or JSON)
// and the summary table. They share stdout's buffer.

// stdoutWriter is ctrace's stdout. When its reader goes away (ctrace run
// -o json | head), a write fails with EPIPE (SIGPIPE is caught: see
// runContext): that ends the run as a normal stop, and ctrace restores
// what it changed on the node and exits 0.
type stdoutWriter struct {
	f      *os.File
	end    func()
	broken atomic.Bool
}

func (w *stdoutWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if errors.Is(err, unix.EPIPE) && w.broken.CompareAndSwap(false, true) {
		log.Info().Msg("stdout closed: stopping")
		w.end()
	}
	return n, err
}

// closedStdout is err unless it says that stdout's reader went away,
// which is how a run piped into head ends.
func closedStdout(err error) error {
	if errors.Is(err, unix.EPIPE) {
		return nil
	}
	return err
}

// renderSink writes each shown event as a text line or a JSON object.
type renderSink struct {
	// mu orders writes from the stage goroutines that pass held events
	// on with the flushes from the tracer's.
	mu  sync.Mutex
	r   *render.Renderer
	out *bufio.Writer
}

func newRenderSink(f *runFlags, out *bufio.Writer, color bool) *renderSink {
	r := render.New(f.output, out, color)
	r.Explain = f.explain
	r.Window = f.otlp.window
	return &renderSink{r: r, out: out}
}

func (s *renderSink) Write(ev *pipeline.Event) {
	if ev.Hidden {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.r.Event(ev.Event, findings(ev))
}

// findings is what the stages found about ev, as the renderer takes it.
func findings(ev *pipeline.Event) render.Findings {
	return render.Findings{Container: ev.Container, Benign: ev.Benign, Hints: ev.Hints, Repeat: ev.Repeat}
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
	if err := closedStdout(s.out.Flush()); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// summarySink counts failures for the table written at exit: to stdout
// after the events (--summary), to a file (--summary-file), or both.
// Known-harmless failures count only with --show-benign.
type summarySink struct {
	t      *summary.Table
	f      *containerFlags
	json   bool
	benign bool
	out    *bufio.Writer
}

func newSummarySink(f *runFlags, out *bufio.Writer) *summarySink {
	names := summary.Names{Errno: xlat.ErrnoName}
	return &summarySink{t: summary.New(names), f: &f.ctr, json: f.output == "json", benign: f.showBenign, out: out}
}

func (s *summarySink) Write(ev *pipeline.Event) {
	if (ev.Benign != nil && !s.benign) || ev.Repeat > 0 {
		return
	}
	s.t.Add(ev.Event, ev.Container)
}

func (s *summarySink) Close() error {
	if s.f.summary {
		if err := closedStdout(s.t.Write(s.out, s.json)); err != nil {
			return err
		}
		if err := closedStdout(s.out.Flush()); err != nil {
			return err
		}
	}
	if s.f.summaryFile != "" {
		if err := s.t.WriteFile(s.f.summaryFile, s.json); err != nil {
			return fmt.Errorf("--summary-file: %w", err)
		}
	}
	return nil
}
