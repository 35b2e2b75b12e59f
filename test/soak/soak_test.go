package soak

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/summary"
	"github.com/ctrace-dev/ctrace/internal/testing/ctrdtest"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
	"github.com/ctrace-dev/ctrace/tracer"
	"github.com/ctrace-dev/ctrace/tracer/xlat"
)

// Bounds the soak asserts.
const (
	// maxRSSGrowth bounds how much the process's resident set may grow
	// from the end of the warm-up to the end of the soak. What ctrace
	// keeps is bounded far below it; the rest is the Go runtime's and the
	// kernel's slack (heap not yet returned, ring buffer pages touched
	// for the first time: the buffer is 1 MiB here).
	maxRSSGrowth = 24 << 20
	// maxHeapGrowth bounds the growth of the live Go heap.
	maxHeapGrowth = 8 << 20
	// logMarker starts the missing lower directories whose paths
	// overlayfs puts in each kernel log line.
	logMarker = "/nonexistent/ctrace-soak/"
)

func soakDuration(t *testing.T) time.Duration {
	if v := os.Getenv("CTRACE_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CTRACE_SOAK=%q: %v", v, err)
		}
		return d
	}
	if testing.Short() {
		return 5 * time.Second
	}
	// With containerd's start, the warm-up and the drain, the test takes
	// about a minute.
	return 50 * time.Second
}

// TestSoak runs the tracer, the resolver and the summary table as
// ctrace run --summary wires them, while a container takes an exec
// probe after another (each failing an openat) and the test fails
// overlay mounts whose kernel log lines all differ. At the end the
// container lists no more processes than are alive, the summary keeps
// at most MaxReasons per row and counts the rest, and the resident set
// grew less than maxRSSGrowth.
func TestSoak(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs and running containers")
	if missing := ctrdtest.Missing(); len(missing) > 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("missing %s (build/deps.sh test installs them)", strings.Join(missing, ", "))
		}
		t.Skipf("missing %s (build/deps.sh test installs them)", strings.Join(missing, ", "))
	}
	dur := soakDuration(t)
	d := ctrdtest.StartFor(t)

	ops, err := tracer.ParseSyscalls([]string{"openat", "mount"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tracer.Open(tracer.Options{Syscalls: ops, IncludeSelf: true, BufferSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	logReasons := false
	for _, f := range tr.Features() {
		if f.Name == "kernel_log" && f.Err == nil {
			logReasons = true
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := correlate.Open(ctx, correlate.Options{Address: d.Address})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	table := summary.New(summary.Names{Errno: xlat.ErrnoName})
	const ns, id = "default", "soak"
	var probeFails, logFails atomic.Int64
	q := res.NewQueue(correlate.QueueOptions{Out: func(ev *tracer.Event, c *correlate.Container) {
		table.Add(ev, c)
		switch {
		case ev.Syscall == "openat" && c != nil && c.ID == id:
			probeFails.Add(1)
		case ev.Syscall == "mount" && len(ev.Reasons) > 0 && strings.Contains(ev.Reasons[len(ev.Reasons)-1].Text(ev), logMarker):
			logFails.Add(1)
		}
	}})
	defer q.Close()
	var lost atomic.Uint64
	runDone := make(chan error, 1)
	rctx, stopRun := context.WithCancel(ctx)
	go func() {
		defer tr.Close()
		runDone <- tr.Run(rctx, tracer.Sink{Event: q.Push, Lost: func(_, total uint64) { lost.Store(total) }})
	}()
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	ok := res.WaitConnected(wctx)
	wcancel()
	if !ok {
		t.Fatalf("resolver did not connect to %s", d.Address)
	}
	run, err := d.Run(ctx, ctrdtest.RunOptions{Namespace: ns, ID: id, Args: []string{"/bin/sleep", "3600"}, Keep: true})
	if err != nil || run.StartErr != nil {
		t.Fatalf("start container: %v %v", err, run)
	}

	// The generators: exec probes into the container, one after
	// another, and failing mounts, each with its own kernel log line.
	var execs, mounts atomic.Int64
	var execErr atomic.Value
	generate := func(until time.Time) {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			for time.Now().Before(until) {
				n := execs.Add(1)
				if _, _, err := d.Exec(ctx, ns, run.Task, "probe"+strconv.FormatInt(n, 10), []string{"/bin/cat", "/missing-probe"}); err != nil {
					execErr.Store(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			target := t.TempDir()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for time.Now().Before(until) {
				<-tick.C
				n := mounts.Add(1)
				_ = unix.Mount("overlay", target, "overlay", 0,
					fmt.Sprintf("lowerdir=%s%d,upperdir=%s,workdir=%s", logMarker, n, target, target))
			}
		}()
		wg.Wait()
	}

	// Warm-up: caches, pools and the ring buffer's pages in use, then
	// the baseline.
	generate(time.Now().Add(3 * time.Second))
	time.Sleep(time.Second)
	rss0, heap0 := memory(t)
	start, execs0, mounts0 := time.Now(), execs.Load(), mounts.Load()
	probes0, logs0 := probeFails.Load(), logFails.Load()
	generate(start.Add(dur))
	elapsed := time.Since(start)
	time.Sleep(time.Second) // what the kernel sent is read
	if err, _ := execErr.Load().(error); err != nil {
		t.Fatalf("exec probe: %v", err)
	}
	rss1, heap1 := memory(t)
	rst, sst := res.Stats(), table.Stats()
	nExecs, nMounts := execs.Load()-execs0, mounts.Load()-mounts0
	nProbes, nLogs := probeFails.Load()-probes0, logFails.Load()-logs0
	t.Logf("soak of %v: %d execs (one per %v), %d failing mounts; events: %d probe openat, %d mounts with their kernel log line; lost %d",
		elapsed.Round(time.Millisecond), nExecs, (elapsed / time.Duration(max(nExecs, 1))).Round(time.Millisecond), nMounts,
		nProbes, nLogs, lost.Load())
	t.Logf("resolver %+v; summary %+v", rst, sst)
	t.Logf("resident set %.1f -> %.1f MiB (%+.1f), live heap %.1f -> %.1f MiB (%+.1f)",
		mib(rss0), mib(rss1), mib(rss1-rss0), mib(heap0), mib(heap1), mib(heap1-heap0))

	// The soak did what it is for.
	if nExecs < int64(dur/time.Second) || nProbes < nExecs/2 {
		t.Errorf("%d execs, %d of their failures seen: too few for a soak", nExecs, nProbes)
	}
	if logReasons && nLogs < int64(10*summary.MaxReasons) {
		t.Errorf("%d failures with distinct kernel log lines, want well over %d", nLogs, summary.MaxReasons)
	}
	// What ctrace keeps.
	if rst.MaxContainerPIDs > 2 { // the task, and an exec at most
		t.Errorf("a container lists %d processes after %d execs that all exited", rst.MaxContainerPIDs, nExecs+execs0)
	}
	if sst.Reasons > sst.Rows*summary.MaxReasons || sst.Rows > summary.MaxRows {
		t.Errorf("summary keeps %d reasons in %d rows, bounds %d per row and %d rows", sst.Reasons, sst.Rows, summary.MaxReasons, summary.MaxRows)
	}
	if logReasons && sst.OtherReasons < int(logFails.Load())-summary.MaxReasons*sst.Rows {
		t.Errorf("summary counted %d other reasons of %d distinct kernel log lines", sst.OtherReasons, logFails.Load())
	}
	if g := rss1 - rss0; g > maxRSSGrowth {
		t.Errorf("resident set grew %.1f MiB, bound %.1f", mib(g), mib(maxRSSGrowth))
	}
	if g := heap1 - heap0; g > maxHeapGrowth {
		t.Errorf("live heap grew %.1f MiB, bound %.1f", mib(g), mib(maxHeapGrowth))
	}

	stopRun()
	if err := <-runDone; err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := d.Remove(ctx, ns, id); err != nil {
		t.Errorf("remove container: %v", err)
	}
}

// memory returns the process's resident set and live heap, after a
// collection that returns what it can to the kernel.
func memory(t *testing.T) (rss, heap int64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10, int64(ms.HeapAlloc)
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0, 0
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
