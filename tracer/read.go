package tracer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf/ringbuf"
)

// Sink receives what Run reads. Event is required; the others may be nil.
type Sink struct {
	// Event is called for every decoded record, in ring-buffer order.
	// The Event is valid only until Event returns: the next record is
	// decoded into it. A sink that keeps an event keeps its Clone.
	Event func(*Event)
	// Lost is called when the kernel could not send some records because
	// the ring buffer was full: delta since the last call, and the total.
	Lost func(delta, total uint64)
	// Malformed is called for a record that does not decode. The record
	// is skipped; reading goes on.
	Malformed func(raw []byte, err error)
	// Idle is called when everything the kernel sent so far has been
	// read: the moment to flush buffered output.
	Idle func()
}

// pollEvery bounds how late a cancellation or a loss report can be.
const pollEvery = 200 * time.Millisecond

// catchUp is how long Run waits for more records, after reading any,
// before it looks again. The kernel wakes the reader only when it sleeps
// until woken (sleepFlag), which it does only after a catch-up wait found
// nothing: a wake-up cost more than the rest of a failing call's record
// together, and in a storm the reader would otherwise be woken for almost
// every record. A record of a storm is read at most catchUp after it was
// sent; a record after a quiet spell wakes the reader at once. A wake-up
// can be missed only where the flag's ordering is not what sleepFlag.set
// says; the record is then read at the next one or within pollEvery.
const catchUp = 500 * time.Microsecond

// clockEvery is how many records in a row Run reads without looking at
// the clock, about 100 us' worth in a storm; loss reports can be that
// much later than pollEvery.
const clockEvery = 64

// Run reads records until ctx is done, then reads what is left in the ring
// buffer and returns nil. It returns early only if the ring buffer fails.
// Run must not be called twice at once.
func (t *Tracer) Run(ctx context.Context, sink Sink) error {
	var rec ringbuf.Record
	// Every record is decoded into the decoder's one Event: Sink.Event
	// does not keep it.
	dec := NewDecoder(t.bootBase, t.lsm)
	dec.dec.known = &t.cgroups
	now := time.Now()
	lastPoll := now
	var deadline time.Time
	draining := false
	// The clock is read after a read that may have waited (the ring was
	// empty before it) and every clockEvery records otherwise: in a
	// storm, reading it for every record cost a twentieth of the time.
	mayWait, unclocked := true, 0
	// The next wait is a catch-up wait (see catchUp): a record was
	// read since the last wait that found nothing. A wait that timed
	// out returns the records that came meanwhile before its timeout,
	// so a timeout ends catching up only when no record came since the
	// last one (fresh).
	catching, fresh := false, false
	// With Options.Aggregate, the programs are detached once the ring
	// is drained, the ring is drained again, and the counts are read.
	detached := false
	for {
		if !draining && ctx.Err() != nil {
			// Whatever the kernel wrote before now is still read.
			draining = true
			t.rd.SetDeadline(time.Now())
		} else if !draining && catching && (mayWait || deadline.Sub(now) > catchUp) {
			// From the last record read. Also while there is more
			// to read: what the ring holds may be only a wake-up's
			// empty record, after which the ring buffer reader
			// waits, and nothing wakes a reader that is catching
			// up.
			deadline = now.Add(catchUp)
			t.rd.SetDeadline(deadline)
		} else if !catching && !draining && deadline.Sub(now) < pollEvery/2 {
			// Moved on only when half spent: the wait it bounds
			// ends sooner, never later.
			deadline = now.Add(pollEvery)
			t.rd.SetDeadline(deadline)
		}
		// A wait that only a record should end: the kernel wakes
		// the reader for the first record sent after this.
		asleep := !draining && !catching && mayWait
		if asleep {
			t.asleep.set(1)
			// The ring buffer reader waits before it looks, once it
			// has found the ring empty: a record sent before the
			// kernel could see the flag, which woke no one, is read
			// now instead.
			if t.rd.AvailableBytes() > 0 {
				t.asleep.set(0)
				asleep = false
				deadline = now
				t.rd.SetDeadline(deadline)
			}
		}
		err := t.rd.ReadInto(&rec)
		if asleep {
			t.asleep.set(0)
		}
		if unclocked++; mayWait || err != nil || unclocked >= clockEvery {
			now, unclocked = time.Now(), 0
		}
		mayWait = true
		if err == nil {
			catching, fresh = true, true
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			catching, fresh = fresh, false
		}
		if now.Sub(lastPoll) >= pollEvery || err != nil {
			t.pollLost(sink)
			lastPoll = time.Now()
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			if draining && t.agg != nil && !detached {
				// No count may grow after the last sweep: detach,
				// then read what was sent before that.
				detached = true
				if err := t.detach(); err != nil {
					return fmt.Errorf("detach before reading the kernel's counts: %w", err)
				}
				t.rd.SetDeadline(time.Now())
				continue
			}
			if t.agg != nil && (draining || t.agg.due(now)) {
				// The ring is empty: every count's first record
				// has been read.
				if err := t.agg.sweep(draining, t.bootBase, t.drained, sink.Event); err != nil {
					return err
				}
				t.pollLost(sink)
			}
			if sink.Idle != nil {
				sink.Idle()
			}
			if draining {
				return nil
			}
			continue
		case errors.Is(err, ringbuf.ErrClosed):
			return nil
		default:
			return fmt.Errorf("read ring buffer: %w", err)
		}
		ev, err := dec.Decode(rec.RawSample)
		if err != nil {
			if sink.Malformed != nil {
				sink.Malformed(rec.RawSample, err)
			}
			continue
		}
		if ev == nil {
			continue // a kernel log line, for its call's event
		}
		if t.agg != nil {
			t.agg.opened(ev)
		}
		sink.Event(ev)
		mayWait = t.rd.AvailableBytes() == 0
		if mayWait && t.agg != nil && !draining && t.agg.due(now) {
			if err := t.agg.sweep(false, t.bootBase, t.drained, sink.Event); err != nil {
				return err
			}
		}
		if sink.Idle != nil && mayWait {
			sink.Idle()
		}
	}
}

// drained reports whether the ring buffer holds no record the reader has
// not read.
func (t *Tracer) drained() bool { return t.rd.AvailableBytes() == 0 }

// Lost returns the number of records lost so far, as of the last poll.
func (t *Tracer) Lost() uint64 { return t.lost }

// LostByOp reads the kernel's loss counters now, by syscall.
func (t *Tracer) LostByOp() (map[string]uint64, error) {
	out := map[string]uint64{}
	m := t.coll.Maps["lost"]
	var perCPU []uint64
	for o := Op(1); o < bpfCtraceOpCTRACE_OP_MAX; o++ {
		if err := m.Lookup(uint32(o), &perCPU); err != nil {
			return nil, fmt.Errorf("read lost counter of %s: %w", o, err)
		}
		var n uint64
		for _, c := range perCPU {
			n += c
		}
		if n > 0 {
			out[o.String()] = n
		}
	}
	return out, nil
}

func (t *Tracer) pollLost(sink Sink) {
	by, err := t.LostByOp()
	if err != nil {
		return
	}
	var total uint64
	for _, n := range by {
		total += n
	}
	if t.agg != nil {
		total += t.agg.orphans
	}
	if total > t.lost {
		delta := total - t.lost
		t.lost = total
		if sink.Lost != nil {
			sink.Lost(delta, total)
		}
	}
}

func unixNano() int64 { return time.Now().UnixNano() }

// Bounds of the kernel log lines waiting for their call's exit record.
const (
	logsPerThread = 16
	logThreads    = 4096
	logMaxAge     = 10 * time.Second
)

type logLine struct {
	boot time.Duration
	msg  string
}

// pendingLogs holds kernel log lines by thread until the exit record of
// the call that logged them says how many are its own. The kernel sends
// lines only while a thread is in a traced call, and always before that
// call's exit record; lines of calls that then succeeded are never taken
// and age out.
type pendingLogs struct {
	by map[uint32][]logLine
}

func (p *pendingLogs) add(tid uint32, boot time.Duration, msg string) {
	if p.by == nil {
		p.by = map[uint32][]logLine{}
	}
	if len(p.by) >= logThreads {
		p.prune(boot)
	}
	l := append(p.by[tid], logLine{boot, msg})
	if len(l) > logsPerThread {
		l = l[len(l)-logsPerThread:]
	}
	p.by[tid] = l
}

// take returns the last n lines of tid and forgets all of its lines.
func (p *pendingLogs) take(tid uint32, n int) []string {
	l := p.by[tid]
	delete(p.by, tid)
	if n <= 0 || len(l) == 0 {
		return nil
	}
	l = l[max(0, len(l)-n):]
	out := make([]string, len(l))
	for i, x := range l {
		out[i] = x.msg
	}
	return out
}

// prune drops lines older than logMaxAge, or all of them if that is not
// enough.
func (p *pendingLogs) prune(now time.Duration) {
	for tid, l := range p.by {
		if now-l[len(l)-1].boot > logMaxAge {
			delete(p.by, tid)
		}
	}
	if len(p.by) >= logThreads {
		clear(p.by)
	}
}
