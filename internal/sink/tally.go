package sink

import "github.com/ctrace-dev/ctrace/internal/pipeline"

// Tally counts what a run saw, for its exit status (--fail-on-events)
// and its closing notice. Read it after the pipeline is closed.
type Tally struct {
	// Failures are the failed calls that are not known-harmless.
	Failures int
	// Hidden are the known-harmless failures not shown.
	Hidden int
}

// Write implements pipeline.Sink.
func (t *Tally) Write(ev *pipeline.Event) {
	n := int(ev.Calls()) // a count made in the kernel stands for its calls
	if ev.Counted(false) && ev.Failed() {
		t.Failures += n
	}
	if ev.Counted(true) && ev.Benign != nil && !ev.Shown(true) {
		t.Hidden += n
	}
}

// Close implements pipeline.Sink.
func (t *Tally) Close() error { return nil }
