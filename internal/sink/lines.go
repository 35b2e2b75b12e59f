package sink

import (
	"bufio"
	"fmt"
	"sync"

	"github.com/ctrace-dev/ctrace/internal/pipeline"
	"github.com/ctrace-dev/ctrace/internal/render"
)

// Lines writes each shown event as a text line or a JSON object.
type Lines struct {
	// mu orders writes from the stage goroutines that pass held events
	// on with the flushes from the tracer's.
	mu  sync.Mutex
	r   *render.Renderer
	out *bufio.Writer
	// done tells a write error that ends the output (a closed stdout)
	// from one to report.
	done func(error) error
}

// NewLines returns a sink that writes with r to out. done filters the
// error of the last flush: it returns nil for an error that is a normal
// end (stdout's reader went away).
func NewLines(r *render.Renderer, out *bufio.Writer, done func(error) error) *Lines {
	return &Lines{r: r, out: out, done: done}
}

// Write implements pipeline.Sink.
func (s *Lines) Write(ev *pipeline.Event) {
	if !ev.Shown(true) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.r.Event(ev.Event, Findings(ev))
}

// Idle writes out what is buffered: a trickle of events is seen at once,
// a storm is written in large blocks.
func (s *Lines) Idle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.out.Flush()
}

// Close implements pipeline.Sink.
func (s *Lines) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.done(s.out.Flush()); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// Findings is what the stages found about ev, as the renderer takes it.
func Findings(ev *pipeline.Event) render.Findings {
	return render.Findings{Container: ev.Container, Benign: ev.Benign, Hints: ev.Hints, Repeat: ev.Repeat, KernelCounted: ev.KernelCounted}
}
