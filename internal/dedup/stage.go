package dedup

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctrace-dev/ctrace/internal/pipeline"
)

// Options configure a Stage.
type Options struct {
	// Window is the dedup window; 0 turns deduplication off.
	Window time.Duration
	// Rate is the most events shown a second; 0 means no limit.
	Rate float64
	// MaxKeys bounds the kinds of failure counted at once
	// (DefaultMaxKeys when 0).
	MaxKeys int
	// Now is the clock (time.Now when nil); tests set it.
	Now func() time.Time
}

// Stage is the pipeline stage of --dedup and --rate-limit. It has a
// goroutine that passes on the summaries of windows that ended while no
// identical event came; mu serializes it with Handle.
type Stage struct {
	o       Options
	mu      sync.Mutex
	d       *Deduper[*pipeline.Event]
	l       *Limiter
	next    pipeline.Next
	stop    chan struct{}
	done    chan struct{}
	closed  bool
	limited atomic.Uint64
	// firsts are the events whose records opened a count in the kernel
	// (tracer.Event.AggID), as they were passed on: the summary of the
	// count is a copy of its first.
	firsts map[uint64]*pipeline.Event
}

// NewStage starts the stage; Close stops it.
func NewStage(o Options) *Stage {
	s := &Stage{o: o, stop: make(chan struct{}), done: make(chan struct{}), firsts: map[uint64]*pipeline.Event{}}
	if s.o.Now == nil {
		s.o.Now = time.Now
	}
	if o.Rate > 0 {
		s.l = NewLimiter(o.Rate)
	}
	if o.Window <= 0 {
		close(s.done)
		return s
	}
	s.d = NewDeduper(o.Window, o.MaxKeys, (*pipeline.Event).Clone,
		func(ev *pipeline.Event, t time.Time) { ev.Time = t })
	// A summary is at most a tenth of the window (and a second) late.
	go s.run(min(max(o.Window/10, 10*time.Millisecond), time.Second))
	return s
}

// Link implements pipeline.Stage.
func (s *Stage) Link(next pipeline.Next) { s.next = next }

func (s *Stage) run(tick time.Duration) {
	defer close(s.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		n := s.d.Len()
		now := s.o.Now()
		s.d.Tick(now, s.pass)
		s.forgetFirsts(now)
		released := n != s.d.Len()
		s.mu.Unlock()
		if released {
			s.next.Idle()
		}
	}
}

// Handle implements pipeline.Stage. Hidden events (known-harmless ones)
// pass straight on.
func (s *Stage) Handle(ev *pipeline.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev.Hidden {
		s.next.Handle(ev)
		return
	}
	if ev.Repeats > 0 && s.d != nil {
		s.kernelCount(ev)
		return
	}
	if s.d == nil || s.closed {
		s.pass(ev, 1)
		return
	}
	if ev.AggID != 0 {
		s.firsts[ev.AggID] = ev.Clone()
	}
	if s.d.Add(KeyOf(ev.Event, containerID(ev)), ev.Time, ev, s.pass) {
		ev.Hidden = true // counted by the sinks, shown in the summary
		s.next.Handle(ev)
	}
}

// kernelCount passes on the summary of a count made in the kernel (ev,
// tracer.Event.Repeats): a copy of the event whose record opened it, as
// the stages described it then (its container, its reasons found after
// the call), at the time of the last call counted; then ev itself,
// hidden, which the sinks that count calls count as its Repeats calls.
// Kernel counts come after their window has ended; each is its own
// summary, beside those of the windows here.
func (s *Stage) kernelCount(ev *pipeline.Event) {
	sum := s.firsts[ev.AggID]
	delete(s.firsts, ev.AggID)
	if sum == nil {
		// Its first was hidden (known-harmless, or over the rate
		// limit) or is gone: the count stands for itself.
		sum = ev.Clone()
		sum.Event.Repeats = 0
		sum.Hidden = false
	}
	sum.Time = ev.Time
	sum.Repeat = ev.Repeats
	sum.KernelCounted = true
	s.pass(sum, ev.Repeats)
	ev.Hidden = true
	s.next.Handle(ev)
}

// forgetFirsts drops the firsts whose count has not come three windows
// after them: the kernel sends no count for a record that had no
// repeats.
func (s *Stage) forgetFirsts(now time.Time) {
	for id, ev := range s.firsts {
		if now.Sub(ev.Time) > 3*s.o.Window {
			delete(s.firsts, id)
		}
	}
}

func containerID(ev *pipeline.Event) string {
	if ev.Container == nil {
		return ""
	}
	return ev.Container.ID
}

// pass passes on an event that stands for repeat calls, unless the rate
// limit is reached: then a single event goes on hidden, to be counted,
// and a summary, whose calls were counted already, goes nowhere.
func (s *Stage) pass(ev *pipeline.Event, repeat uint64) {
	if repeat > 1 || ev.KernelCounted {
		ev.Repeat = repeat
	}
	if s.l != nil && !s.l.Allow(s.o.Now(), repeat) {
		s.limited.Store(s.l.Dropped())
		if repeat > 1 {
			return
		}
		ev.Hidden = true
	}
	s.next.Handle(ev)
}

// RateLimited is the number of calls the rate limit kept from being
// shown so far; it may be called from any goroutine.
func (s *Stage) RateLimited() uint64 { return s.limited.Load() }

// Close implements pipeline.Stage: it passes on every summary still held.
func (s *Stage) Close(context.Context) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.stop)
	if s.d != nil {
		s.d.Flush(s.pass)
	}
	s.mu.Unlock()
	<-s.done
}

// ParseRate parses --rate-limit's N/s, N/m or N (a second) into events a
// second.
func ParseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(strings.TrimSpace(s), "/")
	per := 1.0
	switch unit {
	case "", "s":
	case "m":
		per = 60
	default:
		return 0, fmt.Errorf("unknown unit %q", unit)
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 || n > 1e9 {
		return 0, errors.New("not a positive number of events")
	}
	return n / per, nil
}
