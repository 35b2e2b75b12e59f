package dedup

import (
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Stage.
type Options struct {
	// Window is the dedup window; 0 turns deduplication off.
	Window time.Duration
	// Rate is the most events passed on a second; 0 means no limit.
	Rate float64
	// MaxKeys bounds the kinds of failure counted at once
	// (DefaultMaxKeys when 0).
	MaxKeys int
	// Lock is held by whoever calls Handle; the stage's own goroutine,
	// which passes on the summaries of windows that ended, takes it too,
	// so that out is never called by two goroutines at once. Nil: the
	// stage locks a mutex of its own in Handle.
	Lock sync.Locker
	// Idle, if set, is called by the stage's goroutine, without Lock,
	// after it passed summaries on: the moment to flush buffered output.
	Idle func()
	// Now is the clock (time.Now when nil); tests set it.
	Now func() time.Time
}

// Funcs tell a Stage about its events.
type Funcs[E any] struct {
	Key   func(E) Key
	Time  func(E) time.Time
	Clone func(E) E
	// SetTime (optional) gives a summary the time of the last call it
	// stands for.
	SetTime func(E, time.Time)
}

// Stage deduplicates and rate-limits a stream of events into out, with a
// goroutine that passes on the summaries of windows that ended while no
// identical event came.
type Stage[E any] struct {
	o       Options
	f       Funcs[E]
	own     bool // o.Lock is the stage's own
	d       *Deduper[E]
	l       *Limiter
	out     func(ev E, repeat uint64)
	stop    chan struct{}
	done    chan struct{}
	closed  bool
	limited atomic.Uint64
}

// NewStage starts a stage; out receives each event passed on with the
// number of calls it stands for. Close stops it.
func NewStage[E any](o Options, f Funcs[E], out func(ev E, repeat uint64)) *Stage[E] {
	s := &Stage[E]{o: o, f: f, out: out, stop: make(chan struct{}), done: make(chan struct{})}
	if s.o.Now == nil {
		s.o.Now = time.Now
	}
	if s.o.Lock == nil {
		s.o.Lock, s.own = &sync.Mutex{}, true
	}
	if o.Rate > 0 {
		s.l = NewLimiter(o.Rate)
	}
	if o.Window <= 0 {
		close(s.done)
		return s
	}
	s.d = NewDeduper(o.Window, o.MaxKeys, f.Clone, f.SetTime)
	// A summary is at most a tenth of the window (and a second) late.
	tick := min(max(o.Window/10, 10*time.Millisecond), time.Second)
	go s.run(tick)
	return s
}

func (s *Stage[E]) run(tick time.Duration) {
	defer close(s.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.o.Lock.Lock()
		n := s.d.Len()
		if !s.closed {
			s.d.Tick(s.o.Now(), s.pass)
		}
		released := n != s.d.Len()
		s.o.Lock.Unlock()
		if released && s.o.Idle != nil {
			s.o.Idle()
		}
	}
}

// Handle takes one event; ev is valid only during the call. With
// Options.Lock set, the caller holds it.
func (s *Stage[E]) Handle(ev E) {
	if s.own {
		s.o.Lock.Lock()
		defer s.o.Lock.Unlock()
	}
	if s.d == nil || s.closed {
		s.pass(ev, 1)
		return
	}
	s.d.Add(s.f.Key(ev), s.f.Time(ev), ev, s.pass)
}

func (s *Stage[E]) pass(ev E, repeat uint64) {
	if s.l != nil && !s.l.Allow(s.o.Now(), repeat) {
		s.limited.Store(s.l.Dropped())
		return
	}
	s.out(ev, repeat)
}

// RateLimited is the number of calls the rate limit dropped so far; it
// may be called from any goroutine.
func (s *Stage[E]) RateLimited() uint64 { return s.limited.Load() }

// Close stops the stage's goroutine and passes on every summary still
// held; events handled afterwards pass straight on. It takes Lock.
func (s *Stage[E]) Close() {
	s.o.Lock.Lock()
	if s.closed {
		s.o.Lock.Unlock()
		return
	}
	s.closed = true
	close(s.stop)
	if s.d != nil {
		s.d.Flush(s.pass)
	}
	s.o.Lock.Unlock()
	<-s.done
}
