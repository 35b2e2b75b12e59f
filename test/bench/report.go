package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// loopModes orders the loops' modes in tables.
var loopModes = []string{"open", "open-seccomp", "getppid"}

// sortedLoops orders loop keys by mode, one thread first.
func sortedLoops[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		ma, ta, _ := strings.Cut(a, "/")
		mb, tb, _ := strings.Cut(b, "/")
		if ma != mb {
			return slices.Index(loopModes, ma) - slices.Index(loopModes, mb)
		}
		if len(ta) != len(tb) {
			return len(ta) - len(tb)
		}
		return strings.Compare(ta, tb)
	})
	return keys
}

func loopLabel(k string) string {
	mode, th, _ := strings.Cut(k, "/")
	switch mode {
	case "open":
		mode = "open+close"
	case "open-seccomp":
		mode = "open+close under seccomp"
	case "fail-distinct":
		mode = "fail, a path per call"
	}
	th = strings.TrimSuffix(th, "t")
	if th == "1" {
		return mode + ", 1 thread"
	}
	return mode + ", " + th + " threads"
}

func overheadOf(res *results, tracer string) *overheadResult {
	for i := range res.Overhead {
		if res.Overhead[i].Tracer == tracer {
			return &res.Overhead[i]
		}
	}
	return nil
}

func throughputOf(res *results, prefix string) *throughputResult {
	for i := range res.Throughput {
		if res.Throughput[i].Name == prefix {
			return &res.Throughput[i]
		}
	}
	return nil
}

func pct(r float64) string { return fmt.Sprintf("%+.1f%%", (r-1)*100) }

// targets compares the results with the targets of the benchmark's issue.
func targets(res *results) []targetResult {
	var out []targetResult
	ct := overheadOf(res, "ctrace")
	if ct != nil && ct.Unavailable == "" {
		for _, spec := range []struct {
			mode  string
			limit float64
			name  string
		}{{"open", 1.05, "open+close"}, {"getppid", 1.02, "getppid (untraced)"}} {
			var parts []string
			met := true
			for _, k := range sortedLoops(ct.Loops) {
				if !strings.HasPrefix(k, spec.mode+"/") {
					continue
				}
				r := ct.Loops[k].Ratio
				parts = append(parts, fmt.Sprintf("%s %s (thread CPU %s)", loopLabel(k), pct(r), pct(ct.Loops[k].CPURatio)))
				met = met && r <= spec.limit
			}
			out = append(out, targetResult{
				Target:   fmt.Sprintf("ctrace success-path overhead, %s: at most %s", spec.name, pct(spec.limit)),
				Measured: strings.Join(parts, "; "), Met: met,
			})
		}
		if t, ok := aboveFloorTarget(res, ct); ok {
			out = append(out, t)
		}
		if t, ok := kernelAboveFloorTarget(res, ct); ok {
			out = append(out, t)
		}
		if t, ok := peersTarget(res, ct); ok {
			out = append(out, t)
		}
		if s := overheadOf(res, "strace"); s != nil && s.Unavailable == "" {
			r := s.Loops["open/1t"].Ratio
			out = append(out, targetResult{Target: "strace orders of magnitude slower (about 230x expected on open+close)", Measured: fmt.Sprintf("%.0fx on open+close, 1 thread", r), Met: r >= 10})
		}
	}
	if j := throughputOf(res, "ctrace -o json"); j != nil && j.Error == "" {
		out = append(out, targetResult{
			Target:   "at least 500,000 events/s decoded and written as JSON, no loss at the default ring buffer",
			Measured: fmt.Sprintf("%.0f events/s delivered of %.0f/s produced, %d lost", j.DeliveredPerSec, j.ProducedPerSec, j.Lost),
			Met:      j.DeliveredPerSec >= 500000 && j.Lost == 0,
		})
	}
	var exact []string
	allExact := true
	maxCPU, maxRSS := 0.0, 0.0
	for _, t := range res.Throughput {
		if t.Name == "no tracer" || t.Error != "" {
			continue
		}
		exact = append(exact, fmt.Sprintf("%s: %d = %d + %d", t.Name, t.Produced, t.Delivered, t.Lost))
		allExact = allExact && t.Exact
		maxCPU = max(maxCPU, t.CPUNSPerEvent)
		maxRSS = max(maxRSS, t.MaxRSSMiB)
	}
	if len(exact) > 0 {
		out = append(out,
			targetResult{Target: "exact loss accounting: produced = delivered + lost", Measured: strings.Join(exact, "; "), Met: allExact},
			targetResult{Target: "ctrace CPU under 2 us per event", Measured: fmt.Sprintf("at most %.2f us/event", maxCPU/1000), Met: maxCPU < 2000},
			targetResult{Target: "peak RSS under 64 MiB", Measured: fmt.Sprintf("at most %.1f MiB", maxRSS), Met: maxRSS < 64},
		)
	}
	out = append(out, stormTargets(res)...)
	if res.Startup.Runs > 0 {
		out = append(out, targetResult{
			Target:   "start-up (exec to ready) under 1 s",
			Measured: fmt.Sprintf("median %.0f ms, max %.0f ms over %d starts", res.Startup.MedianMS, res.Startup.MaxMS, res.Startup.Runs),
			Met:      res.Startup.MaxMS < 1000,
		})
	}
	return out
}

// aboveFloorTarget compares ctrace with empty programs on the same
// tracepoints: from the sessions that alternate the two when the run has
// them, else from each one's ratio to its own untraced session.
func aboveFloorTarget(res *results, ct *overheadResult) (targetResult, bool) {
	const limit = 1.03
	t := targetResult{Target: fmt.Sprintf("ctrace above the floor (empty programs on the same tracepoints): at most %s", pct(limit)), Met: true}
	var parts []string
	if len(res.AboveFloor) > 0 {
		// The fastest batches decide: the machine's noise only adds time,
		// and there it is smallest (ctrbench.c says why). The loops' whole
		// time is given beside them.
		for _, k := range sortedLoops(res.AboveFloor) {
			st := res.AboveFloor[k]
			interval := "too few pairs for a 95% interval"
			if st.Fastest.Interval {
				interval = fmt.Sprintf("95%%: %s to %s", pct(st.Fastest.Low), pct(st.Fastest.High))
			}
			parts = append(parts, fmt.Sprintf("%s %s (%s; whole loop %s)", loopLabel(k), pct(st.Fastest.Ratio), interval, pct(st.Time.Ratio)))
			t.Met = t.Met && st.Fastest.Ratio <= limit
		}
		t.Measured = fmt.Sprintf("fastest 1%% of batches, median of %d alternating pairs: ", res.AboveFloor["open/1t"].Pairs) + strings.Join(parts, "; ")
		return t, true
	}
	fl := overheadOf(res, "empty-tp-all")
	if fl == nil || fl.Unavailable != "" {
		return t, false
	}
	// Each paired with its own untraced session: their quotient.
	for _, k := range sortedLoops(ct.Loops) {
		f, ok := fl.Loops[k]
		if !ok || f.Ratio == 0 {
			continue
		}
		q := ct.Loops[k].Ratio / f.Ratio
		parts = append(parts, fmt.Sprintf("%s %s", loopLabel(k), pct(q)))
		t.Met = t.Met && q <= limit
	}
	t.Measured = strings.Join(parts, "; ")
	return t, true
}

// kernelAboveFloorTarget is the floor target from the kernel's run-time
// statistics: ctrace's programs against empty ones, per iteration, against
// the untraced loop. It leaves out what both pay alike (the syscall
// tracepoint path) and every other guest of the machine.
func kernelAboveFloorTarget(res *results, ct *overheadResult) (targetResult, bool) {
	const limit = 1.03
	t := targetResult{Target: fmt.Sprintf("ctrace's programs above empty ones on the same tracepoints, by the kernel's statistics: at most %s", pct(limit)), Met: true}
	none := overheadOf(res, "none")
	var parts []string
	for _, k := range []string{"open/1t", "open-seccomp/1t"} {
		ns, ok := kernelAboveFloor(res.BPF, k)
		if !ok || none == nil || none.Loops[k].NSPerIter == 0 {
			continue
		}
		q := 1 + ns/none.Loops[k].NSPerIter
		parts = append(parts, fmt.Sprintf("%s %+.0f ns, %s of %.0f ns", loopLabel(k), ns, pct(q), none.Loops[k].NSPerIter))
		t.Met = t.Met && q <= limit
	}
	t.Measured = strings.Join(parts, "; ")
	return t, len(parts) > 0
}

// peersTarget compares ctrace with the eBPF peers and perf trace, round by
// round: the quotient of ctrace's ratio and the peer's in the same round,
// from the fastest batches where the loops report them (as the floor
// target: the machine's noise only adds time, and a 0.5 s loop's whole
// time moves by more than the difference between two tracers), else from
// the loops' whole time.
// On open+close, where every one of them traces the call, ctrace must
// cost less: by the kernel's statistics of the programs where the run has
// them for both (bpfStats: each runs a program at openat's entry and exit,
// and the rest of the call's path is the same for all), and then the timed
// quotient must not say otherwise beyond its noise (its 95% interval
// wholly above 1); without them, by the timed median quotient, below 1.
// The statistics are taken with one thread: a program's time per call is
// the same with two, where each thread runs it for its own calls, so the
// two-thread loops are judged by the one-thread figures.
// getppid is a call none of them traces: all pay
// only the kernel's syscall-tracepoint path, which costs the same however
// many syscalls are enabled, so there ctrace fails only when the 95%
// interval of the quotient lies wholly above 1 (a difference the noise
// does not explain).
func peersTarget(res *results, ct *overheadResult) (targetResult, bool) {
	t := targetResult{Target: "ctrace overhead lower than every eBPF peer (opensnoop, bpftrace) and perf trace on open+close (by the kernel's statistics of the programs, and the timed loops not higher beyond their noise); on getppid, which none of them traces, not higher beyond the noise (fastest batches, median of the rounds' quotients)", Met: true}
	var parts, kernel []string
	measured := false
	for _, peer := range []string{"opensnoop", "bpftrace", "perf-trace"} {
		p := overheadOf(res, peer)
		if p == nil || p.Unavailable != "" {
			continue
		}
		measured = true
		for _, k := range sortedLoops(ct.Loops) {
			a, b := ct.Loops[k], p.Loops[k]
			q, lo := a.Ratio/b.Ratio, a.Ratio/b.Ratio
			ra, rb := a.Ratios, b.Ratios
			if len(a.FastRatios) > 0 && len(b.FastRatios) > 0 {
				q, lo = a.FastRatio/b.FastRatio, a.FastRatio/b.FastRatio
				ra, rb = a.FastRatios, b.FastRatios
			}
			if len(ra) == len(rb) && len(ra) > 0 {
				qs := make([]float64, len(ra))
				for i := range qs {
					qs[i] = ra[i] / rb[i]
				}
				q = median(qs)
				if l, _, ok := medianInterval(qs); ok {
					lo = l
				}
			}
			k1 := strings.TrimSuffix(k, "/2t") + "/1t"
			if !strings.HasSuffix(k, "/2t") {
				k1 = k
			}
			kc, okc := kernelPerIter(res.BPF, "ctrace", k1)
			kp, okp := kernelPerIter(res.BPF, peer, k1)
			switch {
			case strings.HasPrefix(k, "getppid/"):
				if lo > 1 {
					t.Met = false
					parts = append(parts, fmt.Sprintf("%s: ctrace / %s %.3f, 95%% interval from %.3f", loopLabel(k), peer, q, lo))
				}
			case okc && okp:
				if k == k1 {
					kernel = append(kernel, fmt.Sprintf("%s: ctrace's programs %.0f ns per iteration, %s's %.0f", loopLabel(k), kc, peer, kp))
				}
				kernel = append(kernel, fmt.Sprintf("%s: timed ctrace / %s %.3f (95%% interval from %.3f)", loopLabel(k), peer, q, lo))
				if kc >= kp || lo > 1 {
					t.Met = false
				}
			case q >= 1:
				t.Met = false
				parts = append(parts, fmt.Sprintf("%s: ctrace / %s %.3f", loopLabel(k), peer, q))
			}
		}
	}
	if !measured {
		return t, false
	}
	if len(parts) == 0 {
		parts = append(parts, "lower on every open+close loop; on getppid within the noise")
	}
	t.Measured = strings.Join(append(parts, kernel...), "; ")
	return t, true
}

const (
	beginMark = "<!-- bench results: begin (written by make bench) -->"
	endMark   = "<!-- bench results: end -->"
)

// updateMarkdown replaces the results section of path, or creates the file
// with only that section.
func updateMarkdown(path, section string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b = []byte("# Benchmarks\n\n" + beginMark + "\n" + endMark + "\n")
	} else if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, beginMark), strings.Index(s, endMark)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no results section (%q ... %q)", path, beginMark, endMark)
	}
	s = s[:i+len(beginMark)] + "\n" + section + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}

// markdown renders the results as the section of docs/BENCHMARKS.md.
func markdown(res *results, c *config) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("\nRun of %s, %.0f s in all (%d rounds of %g s loops). ", res.Started, res.Seconds, c.rounds, c.loopSec)
	p("Machine: %s; %s CPUs (%s); kernel %s; %s.\n", res.Env["os"], res.Env["cpus"], res.Env["cpu"], res.Env["kernel"], res.Env["go"])
	p("Tools: %s; %s; %s; %s; libbpf-tools %s.\n", res.Env["ctrace"], res.Env["strace"], res.Env["perf"], res.Env["bpftrace"], res.Env["libbpf-tools (opensnoop)"])
	foreign := 0
	for _, n := range res.Foreign {
		if n > 0 {
			foreign++
		}
	}
	if foreign > 0 {
		p("\nDuring %d of %d baseline runs other tracing eBPF programs were loaded on the node (up to %d, e.g. another ctrace under test): they slow the baseline and the traced runs alike and make the ratios smaller than on a quiet node.\n",
			foreign, len(res.Foreign), slices.Max(res.Foreign))
	}

	p("\n### Targets\n\n| target | measured | met |\n|---|---|---|\n")
	for _, t := range res.Targets {
		met := "**no**"
		if t.Met {
			met = "yes"
		}
		p("| %s | %s | %s |\n", t.Target, t.Measured, met)
	}

	p("\n### Success-path overhead\n\nTime per iteration as a ratio to no tracer: median of the per-round ratios (each traced run against the untraced run just before it), with the lowest and highest ratio in brackets. The first row gives the untraced time per iteration.\n\n")
	var loops []string
	if len(res.Overhead) > 0 {
		loops = sortedLoops(res.Overhead[0].Loops)
	}
	p("| tracer |")
	for _, k := range loops {
		p(" %s |", loopLabel(k))
	}
	p("\n|---|")
	for range loops {
		p("---|")
	}
	p("\n")
	for _, o := range res.Overhead {
		p("| %s |", o.Label)
		if o.Unavailable != "" {
			for range loops {
				p(" n/a |")
			}
			p("\n")
			continue
		}
		for _, k := range loops {
			st := o.Loops[k]
			if o.Tracer == "none" {
				p(" %.0f ns |", st.NSPerIter)
			} else if st.Ratio >= 100 {
				p(" %.0fx (%.0f-%.0f) |", st.Ratio, st.RatioMin, st.RatioMax)
			} else {
				p(" %.3fx (%.3f-%.3f) |", st.Ratio, st.RatioMin, st.RatioMax)
			}
		}
		p("\n")
	}
	// table writes a row per tracer: the untraced time, then the ratios.
	table := func(of func(loopStat) (ns, ratio float64)) {
		p("| tracer |")
		for _, k := range loops {
			p(" %s |", loopLabel(k))
		}
		p("\n|---|")
		for range loops {
			p("---|")
		}
		p("\n")
		for _, o := range res.Overhead {
			if o.Unavailable != "" {
				continue
			}
			p("| %s |", o.Label)
			for _, k := range loops {
				ns, r := of(o.Loops[k])
				if o.Tracer == "none" {
					p(" %.0f ns |", ns)
				} else {
					p(" %.3fx |", r)
				}
			}
			p("\n")
		}
	}
	p("\nThe same from the loop threads' own CPU time (CLOCK_THREAD_CPUTIME_ID), which leaves out the time other tasks of the machine had the CPU; it also leaves out what a tracer does in its own process (strace's and perf's work, the ring-buffer readers'), so only the rows of ctrace and the floor, whose success-path work all happens in the traced thread, mean the same as above.\n\n")
	table(func(st loopStat) (float64, float64) { return st.CPUPerIter, st.CPURatio })
	if len(res.Overhead) > 0 && res.Overhead[0].Loops["open/1t"].FastNSPerCall > 0 {
		p("\nThe same from the fastest 1%% of each loop's batches of 64 calls, the time per call nothing else on the machine got in the way of (the noise of a shared machine only ever adds time); for strace, whose calls take a millisecond, that is the fastest few batches.\n\n")
		table(func(st loopStat) (float64, float64) { return st.FastNSPerCall, st.FastRatio })
	}
	for _, o := range res.Overhead {
		if o.Unavailable != "" {
			p("\n%s: not measured: `%s`\n", o.Label, strings.ReplaceAll(o.Unavailable, "`", "'"))
		}
	}
	if c.png != "" {
		p("\n![success-path overhead](bench/%s)\n", lastElem(c.png))
	}

	if len(res.AboveFloor) > 0 {
		p("\n### ctrace against the floor\n\n%d pairs of sessions: empty programs on the same 60 syscall tracepoints and `ctrace run`, alternating (F C F C ... C F) with no untraced session between them; each ctrace session against the geometric mean of the floor sessions on either side. For the fastest 1%% of each loop's batches of 64 calls and for the loop's whole time: the median of those ratios, its 95%% interval (order statistics: it assumes nothing about how the noise is distributed), and the lowest and highest ratio; the last column is the median from the threads' own CPU time.\n\n| loop | fastest batches: ctrace / floor | 95%% interval | lowest-highest | whole loop: ctrace / floor | 95%% interval | lowest-highest | thread CPU |\n|---|---|---|---|---|---|---|---|\n", c.floorPairs)
		for _, k := range sortedLoops(res.AboveFloor) {
			st := res.AboveFloor[k]
			interval := func(s pairedStat) string {
				if !s.Interval {
					return "too few pairs"
				}
				return fmt.Sprintf("%.3f-%.3f", s.Low, s.High)
			}
			f, w := st.Fastest, st.Time
			p("| %s | %.3f | %s | %.3f-%.3f | %.3f | %s | %.3f-%.3f | %.3f |\n", loopLabel(k),
				f.Ratio, interval(f), f.Min, f.Max, w.Ratio, interval(w), w.Min, w.Max, st.CPURatio)
		}
	}

	p("\n### Failure throughput\n\n`ctrbench fail`: failing openat on every CPU (%d threads) for %g s, traced with `ctrace run --comm ctrbench` (the filter is applied in the kernel, so produced, delivered and lost count the same calls). Delivered is counted on ctrace's stdout, read by the harness through a pipe. CPU is ctrace's own user+system time after it was ready, per delivered event; RSS is its peak resident set.\n\n", c.threads, c.tputSec)
	p("| run | produced | produced/s | delivered | delivered/s | lost | produced = delivered + lost | CPU/event | peak RSS |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, t := range res.Throughput {
		if t.Error != "" {
			p("| %s | error: %s |||||||\n", t.Name, t.Error)
			continue
		}
		if t.Name == "no tracer" {
			p("| %s | %d | %.0f | | | | | | |\n", t.Name, t.Produced, t.ProducedPerSec)
			continue
		}
		ok := "yes"
		if !t.Exact {
			ok = "**no**"
		}
		p("| %s | %d | %.0f | %d | %.0f | %d | %s | %.2f us | %.1f MiB |\n", t.Name, t.Produced, t.ProducedPerSec, t.Delivered, t.DeliveredPerSec, t.Lost, ok, t.CPUNSPerEvent/1000, t.MaxRSSMiB)
	}

	if res.Storm != nil {
		p("%s", stormMarkdown(res.Storm))
	}

	p("\n### Latency\n\nFrom a failing openat (`ctrbench lat`, one thread, paced; the path carries the call's CLOCK_MONOTONIC time) to its JSON line read from ctrace's stdout.\n\n| rate | events | lost | p50 | p99 | max |\n|---|---|---|---|---|---|\n")
	for _, l := range res.Latency {
		if l.Error != "" {
			p("| %d/s | error: %s |||||\n", l.Rate, l.Error)
			continue
		}
		p("| %d/s | %d of %d | %d | %.0f us | %.0f us | %.0f us |\n", l.Rate, l.Samples, l.Produced, l.Lost, l.P50US, l.P99US, l.MaxUS)
	}

	p("\n### Start-up\n\nFrom exec of `ctrace run` to its `ready:` line on stderr, over every ctrace start of the run: median %.0f ms, max %.0f ms (%d starts). Binary size %.1f MiB (`make build`, stripped). CPU time used up to ready (user+system): median %.0f ms. Peak RSS of `ctrace run` during the success-path loops (next to no events): median %.1f MiB.\n",
		res.Startup.MedianMS, res.Startup.MaxMS, res.Startup.Runs, float64(res.Startup.BinaryBytes)/(1<<20), res.Startup.CPUMS, res.Startup.IdleRSSMiB)
	if pr := res.Programs; pr != nil {
		p("ctrace loaded %d eBPF programs, %d KiB of instructions after the verifier's rewriting", pr.Count, pr.XlatedBytes/1024)
		if pr.VerifiedInsns > 0 { // bpftool 7.1 does not report it
			p("; the verifier went through %d instructions in all, most for %s", pr.VerifiedInsns, pr.Largest)
		}
		p(".\n")
	}

	if len(res.BPF) > 0 {
		p("\n### Kernel-side cost per call\n\nctrace's programs under each loop (one thread, 1 s), and the floors' empty programs: on ctrace's tracepoints under the open+close loops, on the raw syscall tracepoints under getppid; from the kernel's run-time statistics (`kernel.bpf_stats_enabled`, on only for this step). The statistics add their own clock reads to every run: the empty programs' time is that cost alone. Programs run for every syscall of every task on the node, so there is a little more than one run per iteration. The sessions (ctrace, the floor on its tracepoints, the floor on the raw tracepoints) alternate %d times; each figure is the median of the rounds, with the lowest and highest round.\n\n| tracer | loop | program | runs per iteration | ns per run | lowest-highest |\n|---|---|---|---|---|---|\n", c.statRounds)
		for _, s := range res.BPF {
			p("| %s | %s | %s | %.2f | %.0f | %.0f-%.0f |\n", s.Tracer, loopLabel(s.Loop), s.Program, s.RunsPerIter, s.NSPerRun, s.NSMin, s.NSMax)
		}
	}
	p("\nFull numbers: [bench/%s](bench/%s).\n\n", lastElem(c.out), lastElem(c.out))
	return b.String()
}

func lastElem(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}
