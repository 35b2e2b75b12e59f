// Command ctrace-bench measures what ctrace costs a node, side by side with
// the tools one would use instead (strace, perf trace, bpftrace, opensnoop),
// in one run on one machine:
//
//   - success-path overhead: loops of open+close of an existing file and of
//     getppid (a syscall ctrace does not trace), one thread and one thread
//     per CPU, each tracer's run right after a run without a tracer, rounds
//     in rotating order, reported as the median of the paired ratios;
//   - failure throughput: failing openat on every CPU, events produced,
//     delivered and lost, ctrace's CPU time per event and peak RSS;
//   - start-up time (exec to the `ready:` line) and binary size;
//   - latency from a failing call to its event on ctrace's stdout;
//   - the kernel-side cost of ctrace's programs per call, from bpf_stats.
//
// It runs as root, after `make build` and build/deps.sh bench, from the
// repository's top directory (see `make bench`), and writes a JSON results
// file, a PNG plot and the results section of docs/BENCHMARKS.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

type config struct {
	ctrace, loop             string
	rounds                   int
	floorPairs, statRounds   int
	loopSec, tputSec, latSec float64
	out, md, png             string
	tracers                  string
	smoke                    bool
	threads                  int
	latRates                 []int
	smallBuffer              string
	stormProcs, stormCalls   int
	stormRounds              int
	// only, when set, names the parts to run (storm, bpf) and nothing
	// else: a change's effect on them, measured without the rest.
	only string
}

func main() {
	var c config
	flag.StringVar(&c.ctrace, "ctrace", "bin/ctrace", "ctrace binary")
	flag.StringVar(&c.loop, "loop", "bin/ctrbench", "ctrbench binary (bench/loop)")
	flag.IntVar(&c.rounds, "rounds", 7, "rounds of the success-path loops")
	flag.IntVar(&c.statRounds, "stat-rounds", 5, "alternating rounds of the kernel-side cost sessions (bpf_stats), each program's median reported")
	flag.IntVar(&c.floorPairs, "floor-pairs", 15, "pairs of ctrace and floor sessions for the above-the-floor comparison (see floorpairs.go)")
	flag.Float64Var(&c.loopSec, "loop-seconds", 0.5, "seconds per success-path loop")
	flag.Float64Var(&c.tputSec, "throughput-seconds", 10, "seconds of failing calls per throughput run")
	flag.Float64Var(&c.latSec, "latency-seconds", 3, "seconds per latency run")
	flag.StringVar(&c.out, "out", "docs/bench/results.json", "results file")
	flag.StringVar(&c.md, "md", "docs/BENCHMARKS.md", "markdown file whose results section is rewritten (empty: none)")
	flag.StringVar(&c.png, "png", "docs/bench/overhead.png", "plot (empty: none)")
	flag.StringVar(&c.tracers, "tracers", "ctrace,empty-rawtp,empty-tp-openat,empty-tp-all,ctrace-all-json,opensnoop,bpftrace,perf-trace,strace", "tracers to compare with no tracer")
	flag.BoolVar(&c.smoke, "smoke", false, "a quick check that the harness works: one short round of ctrace only, results in /tmp")
	flag.IntVar(&c.threads, "threads", runtime.NumCPU(), "threads of the multi-threaded loops and the throughput generator")
	flag.StringVar(&c.smallBuffer, "small-buffer", "256K", "ring buffer of the run that must lose records")
	flag.IntVar(&c.stormProcs, "storm-procs", 2, "processes of the failure storm (see storm.go)")
	flag.IntVar(&c.stormCalls, "storm-calls", 1000000, "failing calls of each storm process")
	flag.IntVar(&c.stormRounds, "storm-rounds", 3, "alternating untraced and traced storms")
	flag.StringVar(&c.only, "only", "", "run only these parts, comma-separated: storm (the failure storm), bpf (bpf_stats of the -tracers sessions that it knows); results as JSON on stdout")
	floorKind := flag.String("floor", "", "only attach empty programs until SIGINT (a tracer of the loops): rawtp, openat or all (see floor.go)")
	render := flag.String("render", "", "only rewrite the plot and the markdown from this results file")
	flag.Parse()
	if *render != "" {
		if err := rerender(&c, *render); err != nil {
			fmt.Fprintln(os.Stderr, "ctrace-bench:", err)
			os.Exit(1)
		}
		return
	}
	if *floorKind != "" {
		if err := floor(*floorKind); err != nil {
			fmt.Fprintln(os.Stderr, "ctrace-bench:", err)
			os.Exit(1)
		}
		return
	}
	c.latRates = []int{1000, 20000, 100000}
	if c.smoke {
		c.rounds, c.floorPairs, c.loopSec, c.tputSec, c.latSec = 1, 1, 0.2, 1, 0.5
		explicit := false
		flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "tracers" })
		if !explicit {
			c.tracers = "ctrace"
		}
		c.out, c.md, c.png = "/tmp/ctrace-bench-smoke/results.json", "", "/tmp/ctrace-bench-smoke/overhead.png"
		c.latRates = []int{1000}
		c.stormCalls, c.stormRounds = 100000, 1
	}
	if c.only != "" {
		if err := runOnly(&c); err != nil {
			fmt.Fprintln(os.Stderr, "ctrace-bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(&c); err != nil {
		fmt.Fprintln(os.Stderr, "ctrace-bench:", err)
		os.Exit(1)
	}
}

// peers are the tracers the loops can run under.
var peers = map[string]tracer{
	"none":            {Name: "none", Label: "no tracer"},
	"ctrace":          {Name: "ctrace", Label: "ctrace run", Cmd: []string{"ctrace", "run"}, ReadyLine: true},
	"empty-rawtp":     {Name: "empty-rawtp", Label: "empty progs: raw sys_enter/exit", Cmd: []string{"self", "-floor", "rawtp"}, ReadyLine: true},
	"empty-tp-openat": {Name: "empty-tp-openat", Label: "empty progs: openat tracepoints", Cmd: []string{"self", "-floor", "openat"}, ReadyLine: true},
	"empty-tp-all":    {Name: "empty-tp-all", Label: "empty progs: 60 syscall tracepoints", Cmd: []string{"self", "-floor", "all"}, ReadyLine: true},
	"ctrace-dedup":    {Name: "ctrace-dedup", Label: "ctrace run --dedup", Cmd: []string{"ctrace", "run", "--dedup"}, ReadyLine: true},
	"ctrace-all-json": {Name: "ctrace-all-json", Label: "ctrace run --all -o json", Cmd: []string{"ctrace", "run", "--all", "-o", "json"}, ReadyLine: true, DevNull: true},
	"strace":          {Name: "strace", Label: "strace -f -Z -e trace=openat", Wrap: []string{"strace", "-f", "-Z", "-e", "trace=openat", "-o", "/dev/null"}},
	"perf-trace":      {Name: "perf-trace", Label: "perf trace --failure -e openat", Cmd: []string{"perf", "trace", "--failure", "-e", "openat"}},
	"bpftrace":        {Name: "bpftrace", Label: "bpftrace (failing openat)", Cmd: []string{"bpftrace", "-e", bpftraceProg}},
	"opensnoop":       {Name: "opensnoop", Label: "opensnoop -x (libbpf-tools)", Cmd: []string{"opensnoop", "-x"}},
}

// bpftraceProg prints failing openat calls with their paths, as opensnoop -x
// and ctrace do: the path pointer is kept at entry and read at exit.
const bpftraceProg = `tracepoint:syscalls:sys_enter_openat { @p[tid] = args->filename; }
tracepoint:syscalls:sys_exit_openat /@p[tid]/ { if (args->ret < 0) { printf("%d %s %s %d\n", pid, comm, str(@p[tid]), args->ret); } delete(@p[tid]); }`

func run(c *config) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: tracers load eBPF programs")
	}
	for _, p := range []string{c.ctrace, c.loop} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%v (make build bench-tools)", err)
		}
	}
	if strings.Contains(c.tracers, "bpftrace") || strings.Contains(c.tracers, "perf-trace") {
		unmount, err := mountTracefs()
		if err != nil {
			return err
		}
		defer unmount()
	}
	dir, err := os.MkdirTemp("", "ctrace-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		return err
	}

	res := &results{
		Started: time.Now().UTC().Format(time.RFC3339),
		Smoke:   c.smoke,
		Env:     environment(c),
		Config: map[string]string{
			"rounds":             strconv.Itoa(c.rounds),
			"floor_pairs":        strconv.Itoa(c.floorPairs),
			"stat_rounds":        strconv.Itoa(c.statRounds),
			"loop_seconds":       fmt.Sprint(c.loopSec),
			"throughput_seconds": fmt.Sprint(c.tputSec),
			"latency_seconds":    fmt.Sprint(c.latSec),
			"threads":            strconv.Itoa(c.threads),
			"file":               "a regular file in " + os.TempDir(),
		},
	}
	t0 := time.Now()
	var names []string
	for _, n := range strings.Split(c.tracers, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if _, ok := peers[n]; !ok {
			return fmt.Errorf("unknown tracer %q", n)
		}
		names = append(names, n)
	}
	logf("success-path loops: %d rounds of %s", c.rounds, strings.Join(names, ", "))
	if res.Overhead, res.Startup, res.Foreign, err = overhead(c, names, file); err != nil {
		return err
	}
	if slices.Contains(names, "ctrace") && c.floorPairs > 0 {
		logf("ctrace against the floor: %d pairs", c.floorPairs)
		if res.AboveFloor, err = aboveFloor(c, file); err != nil {
			return err
		}
	}
	logf("failure throughput")
	if res.Throughput, err = throughput(c); err != nil {
		return err
	}
	logf("failure storm: %d rounds", c.stormRounds)
	res.Storm = storm(c)
	logf("latency")
	if res.Latency, err = latency(c); err != nil {
		return err
	}
	if !c.smoke {
		logf("kernel-side cost (bpf_stats)")
		res.BPF, res.Programs, err = bpfStats(c, file)
		if err != nil {
			logf("bpf_stats: %v", err)
		}
	}
	res.Startup.BinaryBytes = fileSize(c.ctrace)
	res.Targets = targets(res)
	res.Seconds = time.Since(t0).Seconds()

	if err := os.MkdirAll(filepath.Dir(c.out), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	logf("wrote %s", c.out)
	if c.png != "" {
		if err := os.MkdirAll(filepath.Dir(c.png), 0o755); err != nil {
			return err
		}
		if err := writePlot(c.png, res); err != nil {
			return err
		}
		logf("wrote %s", c.png)
	}
	md := markdown(res, c)
	if c.md != "" {
		if err := updateMarkdown(c.md, md); err != nil {
			return err
		}
		logf("wrote %s", c.md)
	} else {
		fmt.Print(md)
	}
	if err := smokeCheck(res, c); err != nil {
		return err
	}
	return nil
}

// runOnly runs the parts of c.only and prints their results, for
// comparing one change's builds (-ctrace) run after run without the
// 10 minutes of the whole.
func runOnly(c *config) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: tracers load eBPF programs")
	}
	dir, err := os.MkdirTemp("", "ctrace-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		return err
	}
	res := &results{Started: time.Now().UTC().Format(time.RFC3339), Env: environment(c)}
	for _, part := range strings.Split(c.only, ",") {
		switch strings.TrimSpace(part) {
		case "storm":
			logf("failure storm: %d rounds", c.stormRounds)
			res.Storm = storm(c)
		case "bpf":
			logf("kernel-side cost (bpf_stats)")
			if res.BPF, res.Programs, err = bpfStats(c, file); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown part %q (storm, bpf)", part)
		}
	}
	res.Targets = stormTargets(res)
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(append(b, '\n'))
	return err
}

// rerender rewrites the plot and the markdown section from a results file,
// after a change to how they are drawn.
func rerender(c *config, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var res results
	if err := json.Unmarshal(b, &res); err != nil {
		return err
	}
	c.out = path
	c.rounds, _ = strconv.Atoi(res.Config["rounds"])
	c.floorPairs, _ = strconv.Atoi(res.Config["floor_pairs"])
	if n, err := strconv.Atoi(res.Config["stat_rounds"]); err == nil {
		c.statRounds = n
	}
	c.loopSec, _ = strconv.ParseFloat(res.Config["loop_seconds"], 64)
	c.tputSec, _ = strconv.ParseFloat(res.Config["throughput_seconds"], 64)
	c.threads, _ = strconv.Atoi(res.Config["threads"])
	res.Targets = targets(&res)
	if c.png != "" {
		if err := writePlot(c.png, &res); err != nil {
			return err
		}
	}
	if c.md != "" {
		return updateMarkdown(c.md, markdown(&res, c))
	}
	return nil
}

// smokeCheck fails when the harness did not measure what it should: a
// tracer that should be there and was not, or loss accounting that does
// not add up. Whether targets are met is not its business.
func smokeCheck(res *results, c *config) error {
	var errs []string
	for _, o := range res.Overhead {
		if o.Tracer == "ctrace" && o.Unavailable != "" {
			errs = append(errs, "ctrace: "+o.Unavailable)
		}
	}
	for _, t := range res.Throughput {
		if t.Error != "" {
			errs = append(errs, t.Name+": "+t.Error)
		} else if !t.Exact {
			errs = append(errs, fmt.Sprintf("%s: produced %d != delivered %d + lost %d", t.Name, t.Produced, t.Delivered, t.Lost))
		}
	}
	if s := res.Storm; s != nil {
		if s.Error != "" {
			errs = append(errs, "storm: "+s.Error)
		} else if !s.Exact {
			errs = append(errs, "storm: shown counts + lost != calls")
		}
	}
	for _, l := range res.Latency {
		if l.Samples == 0 {
			errs = append(errs, fmt.Sprintf("latency at %d/s: no samples", l.Rate))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s ctrace-bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

// ---- success path ------------------------------------------------------

type loopSpec struct {
	Mode    string
	Threads int
}

func (l loopSpec) key() string { return fmt.Sprintf("%s/%dt", l.Mode, l.Threads) }

// successLoops are the loops of the success path: a traced call that
// succeeds, the same under a seccomp filter, and a call ctrace does not
// trace, each with one thread and with threads threads.
func successLoops(threads int) []loopSpec {
	return []loopSpec{{"open", 1}, {"open", threads}, {"open-seccomp", 1}, {"open-seccomp", threads},
		{"getppid", 1}, {"getppid", threads}}
}

// runLoops runs each loop once under t (a tracer already attached, or
// strace's wrap), keyed by loopSpec.key.
func runLoops(c *config, t tracer, loops []loopSpec, file string) (map[string]loopResult, error) {
	out := map[string]loopResult{}
	for _, l := range loops {
		args := []string{l.Mode, strconv.Itoa(l.Threads), fmt.Sprint(c.loopSec)}
		if strings.HasPrefix(l.Mode, "open") {
			args = append(args, file)
		}
		r, err := runLoop(context.Background(), t.Wrap, c.loop, args...)
		if err != nil {
			return nil, err
		}
		out[l.key()] = r
	}
	return out, nil
}

// overhead runs the loops with no tracer and under each tracer, paired:
// each tracer's session follows a session without one, and the order of
// the tracers rotates from round to round.
func overhead(c *config, names []string, file string) ([]overheadResult, startupResult, []int, error) {
	loops := successLoops(c.threads)
	ns := map[string]map[string][]float64{}    // tracer -> loop -> ns/iter
	ratio := map[string]map[string][]float64{} // tracer -> loop -> paired ratio
	cpu := map[string]map[string][]float64{}   // the same from the threads' CPU time
	cpuRatio := map[string]map[string][]float64{}
	fast := map[string]map[string][]float64{} // the fastest 1% of batches
	fastRatio := map[string]map[string][]float64{}
	unavailable := map[string]string{}
	var ready, readyCPU, idleRSS []float64
	var foreign []int
	for _, n := range append([]string{"none"}, names...) {
		ns[n], ratio[n] = map[string][]float64{}, map[string][]float64{}
		cpu[n], cpuRatio[n] = map[string][]float64{}, map[string][]float64{}
		fast[n], fastRatio[n] = map[string][]float64{}, map[string][]float64{}
	}
	runLoops := func(t tracer) (map[string]loopResult, error) { return runLoops(c, t, loops, file) }
	for round := range c.rounds {
		order := slices.Clone(names)
		if len(order) > 0 {
			k := round % len(order)
			order = append(order[k:], order[:k]...)
		}
		for _, n := range order {
			if unavailable[n] != "" {
				continue
			}
			foreign = append(foreign, foreignTracing())
			base, err := runLoops(peers["none"])
			if err != nil {
				return nil, startupResult{}, nil, err
			}
			t := peers[n]
			var s *session
			if t.Cmd != nil {
				if s, err = startSession(t, c.ctrace, nil, nil); err != nil {
					unavailable[n] = err.Error()
					logf("%s: unavailable: %v", n, err)
					continue
				}
				if strings.HasPrefix(n, "ctrace") {
					ready = append(ready, s.readyAt.Seconds()*1000)
					readyCPU = append(readyCPU, s.cpuAtReady.Seconds()*1000)
				}
			}
			got, err := runLoops(t)
			if s != nil {
				st := s.stop()
				if n == "ctrace" {
					idleRSS = append(idleRSS, float64(st.maxRSS)/(1<<20))
				}
			}
			if err != nil {
				unavailable[n] = err.Error()
				logf("%s: %v", n, err)
				continue
			}
			for k, v := range base {
				ns["none"][k] = append(ns["none"][k], v.NSPerIter)
				ns[n][k] = append(ns[n][k], got[k].NSPerIter)
				ratio[n][k] = append(ratio[n][k], got[k].NSPerIter/v.NSPerIter)
				cpu["none"][k] = append(cpu["none"][k], v.CPUPerIter)
				cpu[n][k] = append(cpu[n][k], got[k].CPUPerIter)
				cpuRatio[n][k] = append(cpuRatio[n][k], got[k].CPUPerIter/v.CPUPerIter)
				fast["none"][k] = append(fast["none"][k], v.FastNSPerCall)
				fast[n][k] = append(fast[n][k], got[k].FastNSPerCall)
				fastRatio[n][k] = append(fastRatio[n][k], got[k].FastNSPerCall/v.FastNSPerCall)
			}
			logf("round %d %-16s open/1t %.2fx (cpu %.2fx) getppid/1t %.2fx (cpu %.2fx)", round+1, n,
				ratio[n]["open/1t"][len(ratio[n]["open/1t"])-1], cpuRatio[n]["open/1t"][len(cpuRatio[n]["open/1t"])-1],
				ratio[n]["getppid/1t"][len(ratio[n]["getppid/1t"])-1], cpuRatio[n]["getppid/1t"][len(cpuRatio[n]["getppid/1t"])-1])
		}
	}
	var out []overheadResult
	for _, n := range append([]string{"none"}, names...) {
		o := overheadResult{Tracer: n, Label: peers[n].Label, Unavailable: unavailable[n], Loops: map[string]loopStat{}}
		for _, l := range loops {
			k := l.key()
			st := loopStat{NSPerIter: median(ns[n][k]), Runs: len(ns[n][k]), CPUPerIter: median(cpu[n][k]), FastNSPerCall: median(fast[n][k])}
			if n == "none" {
				st.Ratio, st.CPURatio, st.FastRatio = 1, 1, 1
			} else if len(ratio[n][k]) > 0 {
				st.Ratio = median(ratio[n][k])
				st.CPURatio = median(cpuRatio[n][k])
				st.FastRatio = median(fastRatio[n][k])
				st.RatioMin, st.RatioMax = slices.Min(ratio[n][k]), slices.Max(ratio[n][k])
				st.Ratios = ratio[n][k]
				st.FastRatios = fastRatio[n][k]
			}
			o.Loops[k] = st
		}
		out = append(out, o)
	}
	st := startupResult{Runs: len(ready)}
	if len(ready) > 0 {
		st.MedianMS, st.MaxMS = median(ready), slices.Max(ready)
	}
	st.IdleRSSMiB = median(idleRSS)
	st.CPUMS = median(readyCPU)
	return out, st, foreign, nil
}

// ---- failure throughput --------------------------------------------------

func throughput(c *config) ([]throughputResult, error) {
	var out []throughputResult
	// The generator alone: how fast failing calls go with no tracer.
	r, err := runLoop(context.Background(), nil, c.loop, "fail", strconv.Itoa(c.threads), fmt.Sprint(c.tputSec))
	if err != nil {
		return nil, err
	}
	out = append(out, throughputResult{
		Name: "no tracer", Produced: r.Iterations, Exact: true,
		ProducedPerSec: float64(r.Iterations) / (float64(r.ThreadNS) / 1e9 / float64(r.Threads)),
	})
	runs := []struct {
		name string
		args []string
		sec  float64
	}{
		{"ctrace -o json", []string{"-o", "json"}, c.tputSec},
		{"ctrace -o text", []string{"-o", "text"}, c.tputSec},
		{"ctrace -o json --buffer-size " + c.smallBuffer, []string{"-o", "json", "--buffer-size", c.smallBuffer}, c.tputSec / 2},
	}
	for _, run := range runs {
		logf("throughput: %s", run.name)
		out = append(out, throughputRun(c, run.name, run.args, run.sec))
	}
	return out, nil
}

func throughputRun(c *config, name string, args []string, sec float64) throughputResult {
	res := throughputResult{Name: name}
	// Only ctrbench's calls, so that produced, delivered and lost are the
	// same calls; the filter is applied in the kernel.
	extra := append([]string{"--comm", "ctrbench"}, args...)
	s, err := startSession(peers["ctrace"], c.ctrace, extra, nil)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.StartupMS = s.readyAt.Seconds() * 1000
	t0 := time.Now()
	r, err := runLoop(context.Background(), nil, c.loop, "fail", strconv.Itoa(c.threads), fmt.Sprint(sec))
	genEnd := time.Now()
	st := s.stop()
	if err != nil {
		res.Error = err.Error()
		return res
	}
	wall := time.Since(t0)
	res.Produced = r.Iterations
	genSec := float64(r.ThreadNS) / 1e9 / float64(r.Threads)
	res.ProducedPerSec = float64(r.Iterations) / genSec
	res.Delivered = s.marked
	res.Other = s.lines - s.marked
	res.Lost = st.lost
	res.Exact = res.Produced == res.Delivered+res.Lost
	res.DeliveredPerSec = float64(res.Delivered) / wall.Seconds()
	res.DrainMS = float64(time.Since(genEnd).Milliseconds())
	res.CPUSeconds = st.cpu.Seconds()
	busy := st.cpu - s.cpuAtReady
	res.CPUAfterReadySeconds = busy.Seconds()
	if res.Delivered > 0 {
		res.CPUNSPerEvent = float64(busy.Nanoseconds()) / float64(res.Delivered)
	}
	res.MaxRSSMiB = float64(st.maxRSS) / (1 << 20)
	if st.exit != "" {
		res.Error = "ctrace: " + st.exit + ": " + s.lastStderr()
	}
	logf("  produced %d (%.0f/s) delivered %d (%.0f/s) lost %d exact=%v cpu %.0f ns/event rss %.1f MiB",
		res.Produced, res.ProducedPerSec, res.Delivered, res.DeliveredPerSec, res.Lost, res.Exact, res.CPUNSPerEvent, res.MaxRSSMiB)
	return res
}

// ---- latency ---------------------------------------------------------------

func latency(c *config) ([]latencyResult, error) {
	var out []latencyResult
	for _, rate := range c.latRates {
		logf("latency at %d calls/s", rate)
		var samples []float64
		onLine := func(line []byte, at int64) {
			i := strings.Index(string(line), "ctrbench/lat/")
			if i < 0 {
				return
			}
			rest := string(line[i+len("ctrbench/lat/"):])
			j := 0
			for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
				j++
			}
			ts, err := strconv.ParseInt(rest[:j], 10, 64)
			if err != nil {
				return
			}
			samples = append(samples, float64(at-ts)/1e3)
		}
		res := latencyResult{Rate: rate, Output: "json"}
		s, err := startSession(peers["ctrace"], c.ctrace, []string{"--comm", "ctrbench", "-o", "json"}, onLine)
		if err != nil {
			res.Error = err.Error()
			out = append(out, res)
			continue
		}
		r, err := runLoop(context.Background(), nil, c.loop, "lat", strconv.Itoa(rate), fmt.Sprint(c.latSec))
		st := s.stop()
		if err != nil {
			res.Error = err.Error()
		}
		res.Produced, res.Lost = r.Iterations, st.lost
		res.Samples = len(samples)
		if len(samples) > 0 {
			res.P50US, res.P99US, res.MaxUS = quantile(samples, 0.5), quantile(samples, 0.99), slices.Max(samples)
		}
		logf("  %d samples p50 %.0f us p99 %.0f us", res.Samples, res.P50US, res.P99US)
		out = append(out, res)
	}
	return out, nil
}

// ---- helpers ----------------------------------------------------------------

func median(v []float64) float64 { return quantile(v, 0.5) }

func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (pos-float64(i))*(s[i+1]-s[i])
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}
