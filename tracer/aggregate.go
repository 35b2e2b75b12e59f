package tracer

import (
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// aggGrace is how long after a window was closed its counts are read
// where the kernel cannot be asked to wait for the programs that may
// still add to them (see syncPrograms): a program that read the window
// just before it was closed may add to its counts after, later still on
// a virtual CPU that its host stopped.
const aggGrace = time.Second

// aggregator reads the counts of Options.Aggregate: the kernel counts,
// in its repeats map, failures identical to one it sent whole in the
// same window (bpf/aggregate.h), by key and window. The window is a
// number that this side alone advances, in the agg_epoch map, every
// Options.Aggregate: a program keys its count by the window it read. Once
// a window is closed (the number advanced), the programs that can still
// touch its entries are those that read it before. sweep waits for them
// (syncPrograms), then for the ring buffer to be read to its end (their
// first records), and only then reads each entry, once, and deletes it:
// never zeroed under a program that adds to it, never read before its
// first record, and no count is lost. The Run goroutine alone uses it.
type aggregator struct {
	m      *ebpf.Map
	epoch  *windowWord
	window time.Duration
	// open is the window programs count in now; the ones before
	// final are over: no program adds to their entries.
	open, final uint64
	nextClose   time.Time
	// closes are the windows closed less than aggGrace ago, oldest
	// first, where syncPrograms cannot be had: a window is over
	// aggGrace after it was closed.
	closes []windowClose
	// firsts holds, by the key it opened, a copy of each record that
	// opened a count: the count's event is a copy of it. At most as
	// many as the map holds entries.
	firsts map[bpfAggKey]*Event
	nextID uint64
	// orphans are calls counted against a record that was lost at the
	// ring buffer: they are reported as lost, so that shown, counted
	// and lost still add up to the calls.
	orphans   uint64
	lastSweep time.Time
	every     time.Duration
	keys      []bpfAggKey // reused by sweep
	canSync   bool        // syncPrograms works here
	// coarse: the kernel keeps a repeat's time on the coarse monotonic
	// clock (agg_coarse_clock), not the boot clock.
	coarse bool
}

type windowClose struct {
	open uint64 // the window opened
	at   time.Time
}

func newAggregator(m *ebpf.Map, epoch *windowWord, window time.Duration, coarse bool) *aggregator {
	return &aggregator{
		m: m, epoch: epoch, window: window, firsts: map[bpfAggKey]*Event{},
		nextClose: time.Now().Add(window),
		// A count is at most a tenth of the window (and a second) late,
		// as user space's own dedup summaries.
		every:   min(max(window/10, 10*time.Millisecond), time.Second),
		canSync: canSyncPrograms(),
		coarse:  coarse,
	}
}

// opened notes an event whose record opened a count, and gives it the
// AggID its count's event will carry.
func (a *aggregator) opened(ev *Event) {
	if ev.aggKey.Hash == 0 {
		return
	}
	a.nextID++
	ev.AggID = a.nextID
	a.firsts[ev.aggKey] = ev.Clone()
}

// due reports whether a sweep is due at now (the wall clock).
func (a *aggregator) due(now time.Time) bool { return now.Sub(a.lastSweep) >= a.every }

// advance closes the open window once it has lasted Options.Aggregate,
// and moves final past the windows no program can add to any more.
func (a *aggregator) advance(now time.Time) {
	if !now.Before(a.nextClose) {
		a.open++
		a.epoch.store(a.open)
		a.nextClose = now.Add(a.window)
		// The windows before open are over once every program that
		// may have read an earlier one has returned.
		if a.canSync && syncPrograms() {
			a.final = a.open
			a.closes = a.closes[:0]
		} else {
			a.closes = append(a.closes, windowClose{open: a.open, at: now})
		}
	}
	for len(a.closes) > 0 && now.Sub(a.closes[0].at) >= aggGrace {
		a.final = max(a.final, a.closes[0].open)
		a.closes = a.closes[1:]
	}
}

// sweep reads and deletes the entries of the windows that are over, or
// every entry if all is set (the programs are detached), and passes each
// count on as an event. Call it when the ring buffer is empty; drained
// says whether it still is (every record sent so far was read). It does
// nothing, for now, when the ring is not empty once the programs that
// could touch those entries are done: their first records are to be read
// before their counts.
func (a *aggregator) sweep(all bool, bootBase int64, drained func() bool, emit func(*Event)) error {
	a.lastSweep = time.Now()
	a.advance(a.lastSweep)
	a.keys = a.keys[:0]
	var k bpfAggKey
	var v bpfAggVal
	it := a.m.Iterate()
	for it.Next(&k, &v) {
		if all || k.Epoch < a.final {
			a.keys = append(a.keys, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read the kernel's counts: %w", err)
	}
	if len(a.keys) == 0 {
		return nil
	}
	if !all && !drained() {
		return nil // the next sweep, once the reader has caught up
	}
	toBoot, err := a.toBoot()
	if err != nil {
		return err
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
		// The coarse clock lags by up to a tick: a repeat is never
		// shown before its first.
		ev.Boot = max(time.Duration(int64(v.LastNs)+toBoot), first.Boot)
		ev.Time = time.Unix(0, bootBase+int64(ev.Boot))
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

// toBoot is what turns a repeat's time into the boot clock's: the boot
// clock's lead on the monotonic one (the time the machine was suspended)
// when the kernel keeps the coarse monotonic clock, else 0.
func (a *aggregator) toBoot() (int64, error) {
	if !a.coarse {
		return 0, nil
	}
	var boot, mono unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono); err != nil {
		return 0, fmt.Errorf("read the monotonic clock: %w", err)
	}
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot); err != nil {
		return 0, fmt.Errorf("read the boot clock: %w", err)
	}
	return boot.Nano() - mono.Nano(), nil
}

// syncPrograms waits until every eBPF program running anywhere when it
// was called has returned, and reports whether it could: the kernel runs
// a tracepoint's programs with preemption off (in an RCU read-side
// section), and membarrier's MEMBARRIER_CMD_GLOBAL is synchronize_rcu().
// It is refused on kernels with nohz_full CPUs, and by seccomp profiles
// that forbid membarrier: then sweep waits aggGrace after a window
// instead.
func syncPrograms() bool {
	_, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdGlobal, 0, 0)
	return errno == 0
}

// MEMBARRIER_CMD_QUERY and MEMBARRIER_CMD_GLOBAL (linux/membarrier.h).
const (
	membarrierCmdQuery  = 0
	membarrierCmdGlobal = 1
)

// canSyncPrograms reports whether the kernel offers syncPrograms.
func canSyncPrograms() bool {
	cmds, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdQuery, 0, 0)
	return errno == 0 && cmds&membarrierCmdGlobal != 0
}
