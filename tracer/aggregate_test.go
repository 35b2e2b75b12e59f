package tracer

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// aggRounds is how many times the exactness tests repeat: a lost or
// doubled count shows as a race, rarely.
const aggRounds = 20

// storm runs trigger children that make failing openat calls (the storm
// trigger) on tr, which follows them; env sets each child's storm. It
// returns when they are done.
func storm(t *testing.T, tr *Tracer, envs ...[]string) {
	t.Helper()
	var kids []*child
	for _, env := range envs {
		c := startTrigger(t, "storm", env...)
		if err := tr.Trace(uint32(c.pid)); err != nil {
			t.Fatal(err)
		}
		kids = append(kids, c)
	}
	for _, c := range kids {
		if _, err := c.gate.Write([]byte{'\n'}); err != nil {
			t.Fatalf("release trigger: %v", err)
		}
		c.gate.Close()
	}
	for _, c := range kids {
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("trigger: %v\n%s", err, c.out.String())
		}
	}
}

// runToEnd opens a tracer with opts, runs fn while it traces, then stops
// it as ctrace run does at its end (Run's context cancelled: what is
// left is read, every count included) and returns what it read.
func runToEnd(t *testing.T, opts Options, fn func(tr *Tracer)) (*collector, uint64) {
	t.Helper()
	testenv.RequireRoot(t, "loading eBPF programs")
	tr, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer tr.Close()
	c := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx, c.sink()) }()
	fn(tr)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(c.bad) > 0 {
		t.Fatalf("malformed records: %v", c.bad)
	}
	return c, tr.Lost()
}

// calls sums the calls the events of path stand for: 1 for a record, the
// count for a count's event. sent is the records among them.
func calls(c *collector, path string) (n, sent uint64) {
	for _, ev := range c.find(func(ev *Event) bool { return ev.Syscall == "openat" && ev.Args[1].Str == path }) {
		n += ev.Calls()
		if ev.Repeats == 0 {
			sent++
		}
	}
	return n, sent
}

func aggOptions(t *testing.T, window time.Duration) Options {
	return Options{Follow: true, Syscalls: mustOps(t, "openat"), Aggregate: window}
}

// TestAggregateExact: identical failures from several threads of several
// processes are counted in the kernel, and the counts and records add up
// to the calls exactly, with nothing lost, whether a count is read after
// its window or at the end of the run.
func TestAggregateExact(t *testing.T) {
	const procs, threads, per = 3, 4, 5000
	for round := range aggRounds {
		// Short windows in some rounds: several windows per storm,
		// counts read during the run; long ones: read at its end.
		window := []time.Duration{20 * time.Millisecond, 10 * time.Second}[round%2]
		path := fmt.Sprintf("/nonexistent/ctrace-storm-%d", round)
		env := []string{"CTRACE_BURST=" + strconv.Itoa(per), "CTRACE_STORM_THREADS=" + strconv.Itoa(threads), "CTRACE_STORM_PATH=" + path}
		col, lost := runToEnd(t, aggOptions(t, window), func(tr *Tracer) {
			var envs [][]string
			for range procs {
				envs = append(envs, env)
			}
			storm(t, tr, envs...)
		})
		n, sent := calls(col, path)
		t.Logf("round %d, window %v: %d calls in %d records and %d counts, %d lost", round, window, n, sent, len(col.find(func(ev *Event) bool { return ev.Repeats > 0 })), lost)
		if n+lost != procs*threads*per || lost != 0 {
			t.Fatalf("round %d: shown %d + lost %d, want %d and nothing lost", round, n, lost, procs*threads*per)
		}
		if sent > procs*threads*per/10 {
			t.Errorf("round %d: %d records sent for %d identical calls: not aggregated", round, sent, n)
		}
	}
}

// TestAggregateDistinctShown: failures distinct from a storm's, made
// while it runs, are each sent whole, none folded into its count.
func TestAggregateDistinctShown(t *testing.T) {
	const per, distinct = 20000, 500
	for round := range aggRounds {
		path := fmt.Sprintf("/nonexistent/ctrace-storm-%d", round)
		other := fmt.Sprintf("/nonexistent/ctrace-other-%d", round)
		col, lost := runToEnd(t, aggOptions(t, 10*time.Second), func(tr *Tracer) {
			storm(t, tr,
				[]string{"CTRACE_BURST=" + strconv.Itoa(per), "CTRACE_STORM_THREADS=2", "CTRACE_STORM_PATH=" + path},
				[]string{"CTRACE_BURST=1", "CTRACE_STORM_DISTINCT=" + strconv.Itoa(distinct), "CTRACE_STORM_PATH=" + other})
		})
		if lost != 0 {
			t.Fatalf("round %d: %d lost", round, lost)
		}
		if n, _ := calls(col, path); n != 2*per {
			t.Errorf("round %d: the storm's calls add up to %d, want %d", round, n, 2*per)
		}
		for i := range distinct {
			p := fmt.Sprintf("%s/%d", other, i)
			if n, sent := calls(col, p); n != 1 || sent != 1 {
				t.Fatalf("round %d: %s: %d calls in %d records, want its one call sent", round, p, n, sent)
			}
		}
		// A line a round: the kernel matrix stops a guest that prints
		// nothing for minutes, and emulated, a round takes tens of s.
		t.Logf("round %d: the storm's %d calls counted, %d distinct failures each sent whole", round, 2*per, distinct)
	}
}

// TestAggregateMapFull: a storm of more distinct failures than the
// kernel's map holds counts what it can and sends the rest whole; every
// call is accounted for.
func TestAggregateMapFull(t *testing.T) {
	const distinct, per = 12000, 3
	for round := range aggRounds / 4 {
		prefix := fmt.Sprintf("/nonexistent/ctrace-full-%d", round)
		// A window longer than the storm, however slow the machine: the
		// entries stay until it ends, and the map fills.
		col, lost := runToEnd(t, aggOptions(t, time.Hour), func(tr *Tracer) {
			storm(t, tr, []string{"CTRACE_BURST=" + strconv.Itoa(per), "CTRACE_STORM_DISTINCT=" + strconv.Itoa(distinct), "CTRACE_STORM_PATH=" + prefix})
		})
		var total, sent, whole uint64
		byPath := map[string]int{}
		for _, ev := range col.find(func(ev *Event) bool { return strings.HasPrefix(ev.Args[1].Str, prefix+"/") }) {
			total += ev.Calls()
			if ev.Repeats == 0 {
				sent++
				byPath[ev.Args[1].Str]++
			}
		}
		for _, n := range byPath {
			if n == per {
				whole++
			}
		}
		t.Logf("round %d: %d calls in %d records, %d paths sent whole every time, %d lost", round, total, sent, whole, lost)
		if total+lost != distinct*per {
			t.Fatalf("round %d: shown %d + lost %d, want %d", round, total, lost, distinct*per)
		}
		if whole == 0 {
			t.Errorf("round %d: the map never filled", round)
		}
	}
}

// TestWindowAdvance: the window advances every Options.Aggregate, and a
// closed window is over at once where the programs can be waited for,
// else aggGrace after it was closed, however short the windows are.
func TestWindowAdvance(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, c := range []struct {
		name        string
		window      time.Duration
		sync        bool
		at          []time.Duration // sweeps, after t0
		open, final uint64          // after the last
	}{
		{"not yet", time.Second, true, []time.Duration{999 * time.Millisecond}, 0, 0},
		{"closed, waited for", time.Second, true, []time.Duration{time.Second}, 1, 1},
		{"closed, in its grace", time.Second, false, []time.Duration{time.Second, 1900 * time.Millisecond}, 1, 0},
		{"closed, grace over", 3 * time.Second, false, []time.Duration{3 * time.Second, 4 * time.Second}, 1, 1},
		// Windows shorter than the grace: each is over a grace after
		// its own close, not after the last one's.
		{"short windows", 20 * time.Millisecond, false, []time.Duration{
			20 * time.Millisecond, 40 * time.Millisecond, 60 * time.Millisecond, 1045 * time.Millisecond}, 4, 2},
		{"a late sweep closes one window", time.Second, true, []time.Duration{5 * time.Second}, 1, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var word uint64
			a := &aggregator{epoch: &windowWord{word: &word}, window: c.window, nextClose: t0.Add(c.window), canSync: c.sync}
			for _, d := range c.at {
				a.advance(t0.Add(d))
			}
			if a.open != c.open || a.final != c.final || word != c.open {
				t.Errorf("open %d, final %d, the kernel's word %d; want open %d, final %d", a.open, a.final, word, c.open, c.final)
			}
		})
	}
}
