package pipeline

// Tally counts what a run saw, for its exit status (--fail-on-events)
// and its closing notice. Read it after the pipeline is closed.
type Tally struct {
	// Failures are the failed calls that are not known-harmless.
	Failures int
	// Hidden are the known-harmless failures not shown.
	Hidden int
}

// Write implements Sink.
func (t *Tally) Write(ev *Event) {
	if ev.Repeat > 0 {
		return // a summary: its calls were counted
	}
	if ev.Benign == nil && ev.Failed() {
		t.Failures++
	}
	if ev.Hidden && ev.Benign != nil {
		t.Hidden++
	}
}

// Close implements Sink.
func (t *Tally) Close() error { return nil }
