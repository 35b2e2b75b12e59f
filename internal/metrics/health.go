package metrics

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// DefaultStall is how long the tracer's reader may go without coming
// round before /healthz calls ctrace wedged. The reader comes round at
// least every 200 ms when idle (tracer.Run's poll) and every BeatEvery
// events in a storm; only a blocked output (a stdout nobody reads) or a
// stuck stage keeps it away for seconds.
const DefaultStall = 5 * time.Second

// BeatEvery is how many events the reader handles between beats in a
// storm: a beat reads the clock, which the reader avoids per event.
const BeatEvery = 1024

// Health is what /healthz says: 200 while the tracer's programs are
// attached and its reader keeps reading; 503, with the reason, while
// ctrace starts, once the reader stopped, or when it has been stuck for
// longer than Stall. A liveness probe then restarts a ctrace that no
// longer traces. Its methods may be called on a nil Health (no
// --metrics-addr), and from any goroutine.
type Health struct {
	stall    time.Duration
	attached atomic.Int64 // -1 until the tracer is open
	beat     atomic.Int64 // unix nanoseconds of the reader's last round
	stopped  atomic.Pointer[string]
}

// NewHealth returns the health of a ctrace that is starting.
func NewHealth(stall time.Duration) *Health {
	h := &Health{stall: stall}
	h.attached.Store(-1)
	return h
}

// Attached says how many syscalls the tracer traces: it is open.
func (h *Health) Attached(n int) {
	if h == nil {
		return
	}
	h.Beat()
	h.attached.Store(int64(n))
}

// Beat says that the reader came round.
func (h *Health) Beat() {
	if h != nil {
		h.beat.Store(time.Now().UnixNano())
	}
}

// Stopped says that the reader stopped, with the error it stopped on or
// nil at the end of the run.
func (h *Health) Stopped(err error) {
	if h == nil {
		return
	}
	why := "tracing stopped: the run is ending"
	if err != nil {
		why = "tracing stopped: " + err.Error()
	}
	h.stopped.Store(&why)
}

// Check is nil when ctrace traces, else why not.
func (h *Health) Check() error {
	if h == nil {
		return nil
	}
	if why := h.stopped.Load(); why != nil {
		return errors.New(*why)
	}
	switch n := h.attached.Load(); {
	case n < 0:
		return errors.New("starting: the programs are not attached yet")
	case n == 0:
		return errors.New("no syscall traced: no program attached")
	}
	if since := time.Since(time.Unix(0, h.beat.Load())); since > h.stall {
		return fmt.Errorf("wedged: the reader has not come round for %s (output blocked?)", since.Round(time.Second))
	}
	return nil
}
