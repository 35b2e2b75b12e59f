package tracer

import (
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// aggGrace is how long after a window's end its counts are read where
// the kernel cannot be asked to wait for the programs that may still add
// to them (see syncPrograms): a program that took the time just before
// the end may add to them after it, later still on a virtual CPU that
// its host stopped.
const aggGrace = time.Second

// aggregator reads the counts of Options.Aggregate: the kernel counts,
// in its repeats map, failures identical to one it sent whole in the
// same window (bpf/aggregate.h), by key and window. A program adds only
// to entries of the window its time falls in, so once a window has
// ended, the programs that can still touch its entries are those that
// started before its end. sweep waits for them (syncPrograms), then for
// the ring buffer to be read to its end (their first records), and only
// then reads each entry, once, and deletes it: never zeroed under a
// program that adds to it, never read before its first record, and no
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
	canSync   bool        // syncPrograms works here
}

func newAggregator(m *ebpf.Map, window time.Duration) *aggregator {
	return &aggregator{
		m: m, window: uint64(window), firsts: map[bpfAggKey]*Event{},
		// A count is at most a tenth of the window (and a second) late,
		// as user space's own dedup summaries.
		every:   min(max(window/10, 10*time.Millisecond), time.Second),
		canSync: canSyncPrograms(),
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

// sweep reads and deletes the entries whose window has ended, or every
// entry if all is set (the programs are detached), and passes each count
// on as an event. Call it when the ring buffer is empty; drained says
// whether it still is (every record sent so far was read). It does
// nothing, for now, when the ring is not empty once the programs that
// could touch those entries are done: their first records are to be read
// before their counts.
func (a *aggregator) sweep(all bool, bootBase int64, drained func() bool, emit func(*Event)) error {
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
		end := (k.Epoch + 1) * a.window
		if !a.canSync {
			end += uint64(aggGrace)
		}
		if all || end <= now {
			a.keys = append(a.keys, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read the kernel's counts: %w", err)
	}
	if len(a.keys) == 0 {
		return nil
	}
	// The windows of a.keys ended before now: wait for the programs
	// that started before their end.
	if a.canSync && !syncPrograms() {
		return nil
	}
	if !all && !drained() {
		return nil // the next sweep, once the reader has caught up
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
