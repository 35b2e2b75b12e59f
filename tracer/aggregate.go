package tracer

import (
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// aggGrace is how long after a window's end its counts are read: a
// program that took the time just before the end may still add to them
// just after it, within the microseconds a program runs.
const aggGrace = 50 * time.Millisecond

// aggregator reads the counts of Options.Aggregate: the kernel counts,
// in its repeats map, failures identical to one it sent whole in the
// same window (bpf/aggregate.h), by key and window. The kernel adds to an
// entry only during its window, so the entries of a window that has
// ended (and aggGrace since) hold their final counts: each is read once
// and deleted, never zeroed under a program that adds to it, and no
// count is lost. The Run goroutine alone uses it.
type aggregator struct {
	m      *ebpf.Map
	window uint64 // ns
	// firsts holds, by the key it opened (with its window), a copy of
	// each record that opened a count: the count's event is a copy of
	// it. At most as many as the map holds entries.
	firsts map[bpfAggKey]*Event
	nextID uint64
	// orphans are calls counted against a record that was lost at the
	// ring buffer: they are reported as lost, so that shown, counted
	// and lost still add up to the calls.
	orphans   uint64
	lastSweep time.Time
	every     time.Duration
	keys      []bpfAggKey // reused by sweep
}

func newAggregator(m *ebpf.Map, window time.Duration) *aggregator {
	return &aggregator{
		m: m, window: uint64(window), firsts: map[bpfAggKey]*Event{},
		// A count is at most a tenth of the window (and a second) late,
		// as user space's own dedup summaries.
		every: min(max(window/10, 10*time.Millisecond), time.Second),
	}
}

// opened notes an event whose record opened a count, and gives it the
// AggID its count's event will carry.
func (a *aggregator) opened(ev *Event) {
	if ev.aggKey.Hash == 0 {
		return
	}
	k := ev.aggKey
	k.Epoch = uint64(ev.Boot) / a.window
	a.nextID++
	ev.AggID = a.nextID
	a.firsts[k] = ev.Clone()
}

// due reports whether a sweep is due at now (the wall clock).
func (a *aggregator) due(now time.Time) bool { return now.Sub(a.lastSweep) >= a.every }

// sweep reads and deletes the entries whose window ended at least
// aggGrace ago, or every entry if all is set (the programs are detached),
// and passes each count on as an event. The ring buffer must have been
// read to its end since the windows ended: a count's first record is
// read before its count.
func (a *aggregator) sweep(all bool, bootBase int64, emit func(*Event)) error {
	a.lastSweep = time.Now()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return fmt.Errorf("read the boot clock: %w", err)
	}
	now := uint64(ts.Nano())
	a.keys = a.keys[:0]
	var k bpfAggKey
	var v bpfAggVal
	it := a.m.Iterate()
	for it.Next(&k, &v) {
		if all || (k.Epoch+1)*a.window+uint64(aggGrace) <= now {
			a.keys = append(a.keys, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read the kernel's counts: %w", err)
	}
	for _, k := range a.keys {
		// Read after the window: the final count.
		if err := a.m.Lookup(&k, &v); err != nil {
			return fmt.Errorf("read a kernel count: %w", err)
		}
		if err := a.m.Delete(&k); err != nil {
			return fmt.Errorf("delete a kernel count: %w", err)
		}
		first := a.firsts[k]
		delete(a.firsts, k)
		if v.Count == 0 {
			continue
		}
		if first == nil {
			a.orphans += v.Count
			continue
		}
		ev := first.Clone()
		ev.Repeats = v.Count
		ev.Boot = time.Duration(v.LastNs)
		ev.Time = time.Unix(0, bootBase+int64(v.LastNs))
		emit(ev)
	}
	if all {
		// Records of windows whose entry the map never held (a record
		// sent whole when the map was full carries no hash) are not
		// here; these would be firsts of entries already swept.
		clear(a.firsts)
	}
	return nil
}

// isRuntimeComm is runtime_comm_is (bpf/task.h): runc and containerd
// processes, whose counts the kernel keeps per process.
func isRuntimeComm(c *[16]int8) bool {
	has := func(p string) bool {
		for i := range len(p) {
			if byte(c[i]) != p[i] {
				return false
			}
		}
		return true
	}
	return has("runc") || has("containerd")
}
