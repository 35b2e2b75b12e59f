// Package dedup folds identical failures into one line with a count, and
// caps how many events a second go on, so that a node in a failure storm
// sends a handful of records instead of millions.
//
// Two failures are identical when they share the container, the process
// name, the syscall, the errno, the kinds of reasons found and the
// normalized path arguments (Key). The first of a kind is passed on at
// once; the identical ones that follow within the window (--dedup-window,
// 10 s by default) are counted, and when the window ends one more event
// is passed on standing for them all: the first of them, at the time of
// the last, with its repeat count (JSON "repeat_count", OTLP
// ctrace.repeat_count, text "[N identical calls in 10s]"). The next
// identical failure opens a new window. So the repeat counts of what is
// shown (1 for an event without one) add up to the failures that came in,
// less what the rate limit dropped, which it counts.
//
// With --dedup the kernel counts repeats too (tracer.Options.Aggregate):
// a count arrives as an event with Repeats, after its kernel window, and
// Stage passes on a summary made from the first event of the count, as
// it passed here, marked KernelCounted (docs/design.md, "Failure storms").
//
// In the pipeline (Stage), a folded or rate-limited event is not dropped
// but passed on hidden, so that the metrics, the summary table and
// --fail-on-events still count every call; a window's summary carries
// Repeat, and the sinks that count calls skip it.
package dedup

import (
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/tracer"
)

// DefaultWindow is --dedup-window's default.
const DefaultWindow = 10 * time.Second

// DefaultMaxKeys bounds the failures being counted at once. When the table
// is full, a failure of a new kind is passed on as it is, uncounted: a
// node with more than this many kinds of failure in one window is shown
// them all rather than losing any.
const DefaultMaxKeys = 4096

// Key identifies identical failures.
type Key struct {
	Container string // container id, "" for a host process
	Comm      string
	Syscall   string
	Errno     unix.Errno
	Reasons   string // the reason kinds, sorted, joined with ","
	Paths     string // string and descriptor arguments, normalized, joined with "\x00"
}

// KeyOf returns ev's key; container is the id of its container, or "".
func KeyOf(ev *tracer.Event, container string) Key {
	k := Key{Container: container, Comm: ev.Proc.Comm, Syscall: ev.Syscall, Errno: ev.Errno}
	if len(ev.Reasons) > 0 {
		kinds := make([]string, 0, len(ev.Reasons))
		for i := range ev.Reasons {
			kinds = append(kinds, string(ev.Reasons[i].Kind()))
		}
		sort.Strings(kinds)
		k.Reasons = strings.Join(kinds, ",")
	}
	var paths []string
	for i := range ev.Args {
		a := &ev.Args[i]
		if (a.Kind == tracer.KindString || a.Kind == tracer.KindFD) && a.Str != "" {
			paths = append(paths, NormalizePath(a.Str))
		}
	}
	k.Paths = strings.Join(paths, "\x00")
	return k
}

// NormalizePath replaces what varies between otherwise identical failures
// with "#": runs of digits (/proc/4242/stat, net:[4026531840]) and runs of
// eight or more hex digits that hold a digit (container and snapshot ids).
func NormalizePath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); {
		if !isHex(p[i]) {
			b.WriteByte(p[i])
			i++
			continue
		}
		j, digit := i, false
		for ; j < len(p) && isHex(p[j]); j++ {
			digit = digit || isDigit(p[j])
		}
		if j-i >= 8 && digit {
			b.WriteByte('#')
			i = j
			continue
		}
		for i < j {
			if !isDigit(p[i]) {
				b.WriteByte(p[i])
				i++
				continue
			}
			for i < j && isDigit(p[i]) {
				i++
			}
			b.WriteByte('#')
		}
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// Deduper counts identical events within a window. It is not safe for
// concurrent use: Stage serializes it.
type Deduper[E any] struct {
	window  time.Duration
	maxKeys int
	clone   func(E) E
	setTime func(E, time.Time)
	entries map[Key]*entry[E]
}

type entry[E any] struct {
	start  time.Time // the first event's time
	held   E         // a clone of the first repeat, nil-equivalent until one came
	has    bool
	last   time.Time // the last repeat's time
	repeat uint64    // repeats after the first event
}

// NewDeduper makes a deduper; clone copies an event that must outlive the
// call that passed it, setTime (optional) moves a held event's time to
// that of the last identical one.
func NewDeduper[E any](window time.Duration, maxKeys int, clone func(E) E, setTime func(E, time.Time)) *Deduper[E] {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Deduper[E]{window: window, maxKeys: maxKeys, clone: clone, setTime: setTime, entries: map[Key]*entry[E]{}}
}

// Add takes an event of key k that happened at t, and calls out for what
// is passed on now, in order: the summary of k's window if t is past it,
// then ev itself when it opens a window. repeat is the number of calls an
// event stands for: 1, or more for a summary. It returns true when ev was
// folded into its window's count instead.
func (d *Deduper[E]) Add(k Key, t time.Time, ev E, out func(ev E, repeat uint64)) (folded bool) {
	e := d.entries[k]
	if e != nil && !t.Before(e.start.Add(d.window)) {
		d.release(k, e, out)
		e = nil
	}
	if e == nil {
		if len(d.entries) < d.maxKeys {
			d.entries[k] = &entry[E]{start: t}
		}
		out(ev, 1)
		return false
	}
	e.repeat++
	e.last = t
	if !e.has {
		e.held, e.has = d.clone(ev), true
	}
	return true
}

func (d *Deduper[E]) release(k Key, e *entry[E], out func(E, uint64)) {
	delete(d.entries, k)
	if e.repeat == 0 {
		return
	}
	if d.setTime != nil {
		d.setTime(e.held, e.last)
	}
	out(e.held, e.repeat)
}

// Tick passes on the summaries of the windows that ended by now, oldest
// first.
func (d *Deduper[E]) Tick(now time.Time, out func(E, uint64)) {
	d.releaseWhere(func(e *entry[E]) bool { return !now.Before(e.start.Add(d.window)) }, out)
}

// Flush passes on every summary still held, oldest first.
func (d *Deduper[E]) Flush(out func(E, uint64)) {
	d.releaseWhere(func(*entry[E]) bool { return true }, out)
}

func (d *Deduper[E]) releaseWhere(due func(*entry[E]) bool, out func(E, uint64)) {
	var keys []Key
	for k, e := range d.entries {
		if due(e) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return d.entries[keys[i]].start.Before(d.entries[keys[j]].start) })
	for _, k := range keys {
		d.release(k, d.entries[k], out)
	}
}

// Len is the number of kinds of failure being counted.
func (d *Deduper[E]) Len() int { return len(d.entries) }

// Limiter passes at most Rate events a second, with bursts of up to Rate
// (a token bucket), and counts the calls it drops.
type Limiter struct {
	rate    float64
	tokens  float64
	last    time.Time
	dropped uint64
}

// NewLimiter makes a limiter of rate events a second.
func NewLimiter(rate float64) *Limiter {
	return &Limiter{rate: rate, tokens: max(rate, 1)}
}

// Allow says whether an event at now may pass; weight is the number of
// calls it stands for, counted as dropped when it may not.
func (l *Limiter) Allow(now time.Time, weight uint64) bool {
	if !l.last.IsZero() {
		if d := now.Sub(l.last).Seconds(); d > 0 {
			l.tokens = min(max(l.rate, 1), l.tokens+d*l.rate)
		}
	}
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return true
	}
	l.dropped += weight
	return false
}

// Dropped is the number of calls dropped so far.
func (l *Limiter) Dropped() uint64 { return l.dropped }
