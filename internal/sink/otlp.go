package sink

import (
	"bytes"
	"context"
	"strings"
	"time"

	"github.com/ctrace-dev/ctrace/internal/export"
	"github.com/ctrace-dev/ctrace/internal/pipeline"
	"github.com/ctrace-dev/ctrace/internal/render"
)

// OTLPOptions configure the OTLP sink.
type OTLPOptions struct {
	// Timeout is the export timeout; Close waits twice as long for the
	// queue to drain. 10s when 0.
	Timeout time.Duration
	// Benign sends the known-harmless failures too (--show-benign): a
	// collector pays for every record, so by default they stay home,
	// as in text output.
	Benign bool
	// Explain and Window are the renderer's, as for the event lines.
	Explain bool
	Window  time.Duration
	// Done is told what became of the records once the queue drained.
	Done func(export.Stats)
}

// OTLP sends each shown event to the collector: the text line as the
// body, the JSON object's fields as the attributes (package export).
type OTLP struct {
	exp        *export.Exporter
	o          OTLPOptions
	text, json *render.Renderer
	tb, jb     bytes.Buffer
}

// NewOTLP returns a sink that sends through e.
func NewOTLP(e *export.Exporter, o OTLPOptions) *OTLP {
	s := &OTLP{exp: e, o: o}
	s.text = render.New("text", &s.tb, false)
	s.text.Explain = o.Explain
	s.json = render.New("json", &s.jb, false)
	s.text.Window, s.json.Window = o.Window, o.Window
	return s
}

// Write implements pipeline.Sink.
func (s *OTLP) Write(ev *pipeline.Event) {
	if !ev.Shown(s.o.Benign) {
		return
	}
	s.tb.Reset()
	s.jb.Reset()
	f := Findings(ev)
	s.text.Event(ev.Event, f)
	s.json.Event(ev.Event, f)
	s.exp.Export(export.Record{
		Time:   ev.Time,
		Text:   strings.TrimSuffix(s.tb.String(), "\n"),
		JSON:   s.jb.Bytes(),
		Failed: ev.Failed(),
	})
}

// Close implements pipeline.Sink: it sends what is queued, for up to
// twice the export timeout, and says what became of the events.
func (s *OTLP) Close() error {
	timeout := s.o.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	_ = s.exp.Close(ctx)
	if s.o.Done != nil {
		s.o.Done(s.exp.Stats())
	}
	return nil
}
