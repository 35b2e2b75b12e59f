package tracer

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// BenchmarkKernelCost measures what ctrace's programs cost in the kernel
// per call, from the kernel's run-time statistics (BPF_ENABLE_STATS, on
// only while the benchmark runs): a failing openat of a short path, and a
// successful openat of /dev/null (with its close). ns/call is the time the
// exit program and the entry program spent per run; the statistics add
// two clock reads of their own to every run (about 20-30 ns here). The
// failing calls come in bursts that the reader reads whole before the
// next: every record is delivered, none is counted lost.
//
//	go test -run '^$' -bench KernelCost -count 6 ./tracer
func BenchmarkKernelCost(b *testing.B) {
	if testing.Short() {
		b.Skip("skipped in -short mode")
	}
	testenv.RequireRoot(b, "loading eBPF programs")
	calls := []struct {
		name string
		call func()
	}{
		// A 12-byte path, as a PATH search or a loader probes.
		{"openat-fail", func() {
			_, _ = unix.Openat(unix.AT_FDCWD, "/no/such/fil", unix.O_RDONLY, 0)
		}},
		{"openat", func() {
			fd, err := unix.Openat(unix.AT_FDCWD, "/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
		}},
	}
	for _, c := range calls {
		for _, filtered := range []bool{false, true} {
			name := "call=" + c.name
			if filtered {
				name += "/seccomp"
			}
			b.Run(name, func(b *testing.B) { kernelCost(b, c.name, c.call, filtered, 0) })
		}
	}
	// --dedup: the same failure again and again is counted in the
	// kernel (a repeat); a failure of a path not seen in the window
	// opens a count and is sent (a first). The paths have the same 12
	// bytes as above. Past the map's 8192 entries a first is sent whole
	// without opening a count, which costs about the same.
	b.Run("call=openat-fail/dedup-repeat", func(b *testing.B) {
		kernelCost(b, "openat-fail", calls[0].call, false, time.Hour)
	})
	var paths []string
	for i := range 1 << 16 {
		paths = append(paths, fmt.Sprintf("/no/such/%03x", i&0xfff)+string(rune('a'+i>>12)))
	}
	i := 0
	b.Run("call=openat-fail/dedup-first", func(b *testing.B) {
		kernelCost(b, "openat-fail-distinct", func() {
			_, _ = unix.Openat(unix.AT_FDCWD, paths[i%len(paths)], unix.O_RDONLY, 0)
			i++
		}, false, time.Hour)
	})
}

// kernelCost is one case of BenchmarkKernelCost. filtered runs the calls
// on a thread under an allow-all seccomp filter, as a container's
// processes run: its traced calls leave an entry mark.
func kernelCost(b *testing.B, name string, call func(), filtered bool, agg time.Duration) {
	// The benchmark's own failures are sent and read, as a
	// node's would be.
	tr, err := Open(Options{IncludeSelf: true, Aggregate: agg})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	// Counts the benchmark's own failures read, to show that
	// every one was delivered.
	var got atomic.Uint64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tr.Run(ctx, Sink{Event: func(ev *Event) {
			if ev.Syscall == "openat" && len(ev.Args) > 1 && strings.HasPrefix(ev.Args[1].Str, "/no/such/") && ev.Repeats == 0 {
				got.Add(1)
			}
		}})
	}()
	defer func() { cancel(); <-done }()
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Skipf("kernel run-time statistics unavailable: %v", err)
	}
	defer stats.Close()
	progs := map[string]*ebpf.Program{
		"exit":  tr.coll.Programs["tp_exit_openat"],
		"entry": tr.coll.Programs["tp_sys_enter"],
	}
	before := map[string]*ebpf.ProgramStats{}
	for k, p := range progs {
		if p == nil {
			b.Skipf("program for %s not loaded (raw dispatch?)", k)
		}
		if before[k], err = p.Stats(); err != nil {
			b.Fatal(err)
		}
	}
	loop := func() {
		for i := range b.N {
			call()
			// A storm from one loop outruns one
			// reader here; records that do not fit
			// are counted lost and cost less. The
			// loop waits for the reader every
			// burst, well within the ring.
			if name == "openat-fail" && agg == 0 && (i+1)%burst == 0 {
				waitRead(&got, uint64(i+1))
			}
		}
	}
	b.ResetTimer()
	if filtered {
		if err := onFilteredThread(loop); err != nil {
			b.Fatal(err)
		}
	} else {
		loop()
	}
	b.StopTimer()
	for k, p := range progs {
		after, err := p.Stats()
		if err != nil {
			b.Fatal(err)
		}
		runs := after.RunCount - before[k].RunCount
		if runs == 0 {
			b.Fatalf("%s program never ran", k)
		}
		b.ReportMetric(float64(after.Runtime-before[k].Runtime)/float64(runs), k+"-ns/run")
	}
	if name != "openat-fail" || agg > 0 {
		// Counted in the kernel, the repeats come at the window's
		// end; the first records are sent without a wait.
		if tr.Lost() != 0 {
			b.Errorf("%d records lost", tr.Lost())
		}
		return
	}
	waitRead(&got, uint64(b.N))
	if n := got.Load(); n != uint64(b.N) || tr.Lost() != 0 {
		b.Errorf("read %d of %d failures, %d records lost", n, b.N, tr.Lost())
	}
}

// onFilteredThread runs fn on an OS thread that an allow-all seccomp
// filter is installed on first (that thread's alone: no TSYNC), and that
// ends with fn: the goroutine returns locked to it.
func onFilteredThread(fn func()) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the filter ends with the thread
		if err := installSeccomp([]unix.SockFilter{{Code: retK, K: retAllow}}, false); err != nil {
			done <- err
			return
		}
		fn()
		done <- nil
	}()
	return <-done
}

// burst is how many failing calls BenchmarkKernelCost makes before it
// waits for the reader: some 700 KiB of records.
const burst = 4096

// waitRead waits up to a second for got to reach n.
func waitRead(got *atomic.Uint64, n uint64) {
	for end := time.Now().Add(time.Second); got.Load() < n && time.Now().Before(end); {
		time.Sleep(100 * time.Microsecond)
	}
}
