package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

type results struct {
	Started  string            `json:"started"`
	Seconds  float64           `json:"seconds"`
	Smoke    bool              `json:"smoke"`
	Env      map[string]string `json:"environment"`
	Config   map[string]string `json:"config"`
	Overhead []overheadResult  `json:"overhead"`
	// AboveFloor is ctrace against the floor in sessions of their own
	// (floorpairs.go), by loop.
	AboveFloor map[string]floorComparison `json:"above_floor,omitempty"`
	Throughput []throughputResult         `json:"throughput"`
	Storm      *stormResult               `json:"storm,omitempty"`
	Latency    []latencyResult            `json:"latency"`
	Startup    startupResult              `json:"startup"`
	BPF        []bpfStat                  `json:"bpf_stats,omitempty"`
	// Foreign counts, before each pair of success-path runs, the tracing
	// eBPF programs others had loaded on the node.
	Foreign []int `json:"foreign_tracing_programs"`
	// Programs is what ctrace loaded: how many, and the instructions the
	// verifier went through for them (start-up's system time).
	Programs *programsResult `json:"programs,omitempty"`
	Targets  []targetResult  `json:"targets"`
}

type overheadResult struct {
	Tracer      string              `json:"tracer"`
	Label       string              `json:"label"`
	Unavailable string              `json:"unavailable,omitempty"`
	Loops       map[string]loopStat `json:"loops"` // open/1t, open/Nt, getppid/1t, getppid/Nt
}

type loopStat struct {
	NSPerIter float64 `json:"ns_per_iter_median"`
	Ratio     float64 `json:"ratio_median"` // to the no-tracer run just before, per round
	RatioMin  float64 `json:"ratio_min,omitempty"`
	RatioMax  float64 `json:"ratio_max,omitempty"`
	// Ratios are the per-round ratios, in round order: the same round of
	// two tracers makes a pair of its own.
	Ratios []float64 `json:"ratios,omitempty"`
	Runs   int       `json:"runs"`
	// The same from the loop threads' own CPU time, which leaves out the
	// time other tasks of this shared machine took the CPU from them, and
	// the work tracers do in their own processes (strace's, perf's and
	// the ring-buffer readers').
	CPUPerIter float64 `json:"cpu_ns_per_iter_median"`
	CPURatio   float64 `json:"cpu_ratio_median"`
	// The same from the fastest 1% of each loop's batches.
	FastNSPerCall float64   `json:"fast_ns_per_call_median"`
	FastRatio     float64   `json:"fast_ratio_median"`
	FastRatios    []float64 `json:"fast_ratios,omitempty"`
}

type throughputResult struct {
	Name                 string  `json:"name"`
	Produced             uint64  `json:"produced"`
	ProducedPerSec       float64 `json:"produced_per_s"`
	Delivered            uint64  `json:"delivered"`
	DeliveredPerSec      float64 `json:"delivered_per_s"`
	Lost                 uint64  `json:"lost"`
	Other                uint64  `json:"other_lines"`
	Exact                bool    `json:"exact"` // produced == delivered + lost
	CPUSeconds           float64 `json:"cpu_s"`
	CPUAfterReadySeconds float64 `json:"cpu_after_ready_s"`
	CPUNSPerEvent        float64 `json:"cpu_ns_per_event"` // after ready, per delivered event
	MaxRSSMiB            float64 `json:"max_rss_mib"`
	StartupMS            float64 `json:"startup_ms"`
	DrainMS              float64 `json:"drain_ms"` // generator end to ctrace's exit
	Error                string  `json:"error,omitempty"`
}

type latencyResult struct {
	Rate     int     `json:"rate_per_s"`
	Output   string  `json:"output"`
	Produced uint64  `json:"produced"`
	Samples  int     `json:"samples"`
	Lost     uint64  `json:"lost"`
	P50US    float64 `json:"p50_us"`
	P99US    float64 `json:"p99_us"`
	MaxUS    float64 `json:"max_us"`
	Error    string  `json:"error,omitempty"`
}

type startupResult struct {
	Runs        int     `json:"runs"`
	MedianMS    float64 `json:"median_ms"`
	MaxMS       float64 `json:"max_ms"`
	BinaryBytes int64   `json:"binary_bytes"`
	// Peak RSS of `ctrace run` (failures only) during the success-path
	// loops, when it has next to nothing to read.
	IdleRSSMiB float64 `json:"idle_max_rss_mib"`
	// CPU time (user + system, 10 ms resolution) ctrace used up to ready.
	CPUMS float64 `json:"cpu_to_ready_ms_median"`
}

type targetResult struct {
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

func environment(c *config) map[string]string {
	env := map[string]string{
		"go":      runtime.Version(),
		"cpus":    strconv.Itoa(runtime.NumCPU()),
		"kernel":  firstLine(command("uname", "-r")),
		"os":      osRelease(),
		"cpu":     cpuModel(),
		"ctrace":  firstLine(command(c.ctrace, "version")),
		"strace":  firstLine(command("strace", "-V")),
		"perf":    firstLine(command("perf", "version")),
		"cc":      firstLine(command("cc", "--version")),
		"machine": firstLine(command("uname", "-m")),
	}
	if v := firstLine(command("bpftrace", "--version")); v != "" {
		env["bpftrace"] = v
	}
	if v := firstLine(command("dpkg-query", "-W", "-f", "${Version}", "libbpf-tools")); v != "" {
		env["libbpf-tools (opensnoop)"] = v
	}
	return env
}

func command(name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func osRelease() string {
	b, _ := os.ReadFile("/etc/os-release")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// ---- kernel-side cost ----------------------------------------------------

type programsResult struct {
	Count         int    `json:"count"`
	VerifiedInsns uint64 `json:"verified_insns"`
	XlatedBytes   uint64 `json:"xlated_bytes"`
	Largest       string `json:"largest"`
}

type bpfStat struct {
	Tracer      string  `json:"tracer"`
	Loop        string  `json:"loop"`
	Program     string  `json:"program"`
	Runs        uint64  `json:"runs"`
	NSPerRun    float64 `json:"ns_per_run"` // median of the rounds
	RunsPerIter float64 `json:"runs_per_iteration"`
	Rounds      int     `json:"rounds,omitempty"`
	NSMin       float64 `json:"ns_per_run_min,omitempty"`
	NSMax       float64 `json:"ns_per_run_max,omitempty"`
}

type progInfo struct {
	ID        int    `json:"id"`
	Name      string `json:"name"`
	RunTimeNS uint64 `json:"run_time_ns"`
	RunCnt    uint64 `json:"run_cnt"`
	Type      string `json:"type"`
	Verified  uint64 `json:"verified_insns"`
	Xlated    uint64 `json:"bytes_xlated"`
}

// bpfStats runs the loops under ctrace and under the floors (empty
// programs: on the same tracepoints as ctrace's, for the traced loops, and
// on the raw syscall tracepoints, which every call runs, for getppid) with the kernel's BPF run-time statistics on
// (kernel.bpf_stats_enabled), and reports what each program costs per run.
// The statistics cost time of their own, which the floor's row shows, so
// they are on only here, never while the loops are timed. The sessions
// alternate c.statRounds times, and each program's figure is the median
// of its rounds: one second of a loop on a shared machine can be a fifth
// dearer than the next, for ctrace and floor alike. The eBPF peers among
// c.tracers (opensnoop, bpftrace) run the open+close loops too: on those,
// where every one of them runs a program at openat's entry and exit and
// nothing else differs, their programs' time is the comparison the timed
// loops are too noisy to make.
func bpfStats(c *config, file string) ([]bpfStat, *programsResult, error) {
	const knob = "/proc/sys/kernel/bpf_stats_enabled"
	old, err := os.ReadFile(knob)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(knob, []byte("1"), 0); err != nil {
		return nil, nil, err
	}
	defer func() { _ = os.WriteFile(knob, bytes.TrimSpace(old), 0) }()
	names := []string{"ctrace", "ctrace-dedup", "empty-tp-all", "empty-rawtp"}
	for _, peer := range []string{"opensnoop", "bpftrace"} {
		if slices.Contains(strings.Split(c.tracers, ","), peer) {
			names = append(names, peer)
		}
	}
	if c.only != "" {
		// Only the sessions asked for, in their order.
		names = slices.DeleteFunc(strings.Split(c.tracers, ","), func(n string) bool {
			_, ok := peers[n]
			return !ok || n == "none"
		})
	}
	var rounds [][]bpfStat
	var progs *programsResult
	for range max(c.statRounds, 1) {
		var round []bpfStat
		for _, name := range names {
			s, err := startSession(peers[name], c.ctrace, nil, nil)
			if err != nil && name != "ctrace" && !strings.HasPrefix(name, "empty-") {
				logf("bpf_stats: %s: %v", name, err)
				continue // a peer that is not installed
			}
			if err != nil {
				return medianStats(rounds), progs, err
			}
			st, pr, err := progStats(c, file, name, progIDs(s.cmd.Process.Pid))
			s.stop()
			if err != nil {
				return medianStats(rounds), progs, err
			}
			round = append(round, st...)
			if name == "ctrace" {
				progs = pr
			}
		}
		rounds = append(rounds, round)
	}
	return medianStats(rounds), progs, nil
}

// medianStats folds rounds of the same sessions into one: per tracer,
// loop and program, the median of the rounds' ns per run and runs per
// iteration, and the runs of all of them.
func medianStats(rounds [][]bpfStat) []bpfStat {
	type key struct{ tracer, loop, program string }
	var order []key
	byKey := map[key][]bpfStat{}
	for _, round := range rounds {
		for _, s := range round {
			k := key{s.Tracer, s.Loop, s.Program}
			if _, ok := byKey[k]; !ok {
				order = append(order, k)
			}
			byKey[k] = append(byKey[k], s)
		}
	}
	out := make([]bpfStat, 0, len(order))
	for _, k := range order {
		ss := byKey[k]
		m := bpfStat{Tracer: k.tracer, Loop: k.loop, Program: k.program, Rounds: len(ss)}
		var ns, per []float64
		for _, s := range ss {
			m.Runs += s.Runs
			ns, per = append(ns, s.NSPerRun), append(per, s.RunsPerIter)
		}
		m.NSPerRun, m.RunsPerIter = median(ns), median(per)
		m.NSMin, m.NSMax = slices.Min(ns), slices.Max(ns)
		out = append(out, m)
	}
	return out
}

func listProgs() ([]progInfo, error) {
	out, err := exec.Command("bpftool", "prog", "show", "-j").Output()
	if err != nil {
		return nil, fmt.Errorf("bpftool prog show: %w", err)
	}
	var progs []progInfo
	err = json.Unmarshal(out, &progs)
	return progs, err
}

func progStats(c *config, file, tracer string, ids map[int]bool) ([]bpfStat, *programsResult, error) {
	snapshot := func() (map[string]progInfo, error) {
		progs, err := listProgs()
		m := map[string]progInfo{}
		for _, p := range progs {
			if ids[p.ID] {
				m[p.Name] = p
			}
		}
		return m, err
	}
	first, err := snapshot()
	if err != nil {
		return nil, nil, err
	}
	pr := &programsResult{Count: len(first)}
	var most uint64
	for name, p := range first {
		pr.VerifiedInsns += p.Verified
		pr.XlatedBytes += p.Xlated
		if p.Verified > most {
			most, pr.Largest = p.Verified, fmt.Sprintf("%s (%d instructions verified)", name, p.Verified)
		}
	}
	getppid, open, seccomp, fail := []string{"getppid", "1", "1"}, []string{"open", "1", "1", file},
		[]string{"open-seccomp", "1", "1", file}, []string{"fail", "1", "1"}
	// With --dedup, fail's calls are repeats after the first; each of
	// fail-distinct's is the first of its path.
	distinct := []string{"fail-distinct", "1", "1"}
	loops := map[string][][]string{
		"ctrace":       {getppid, open, seccomp, fail},
		"ctrace-dedup": {fail, distinct},
		// fail: the floor of a repeat (an empty program on openat's
		// exit) against which ctrace-dedup's is read.
		"empty-tp-all": {open, seccomp, fail},
		"empty-rawtp":  {getppid},
		"opensnoop":    {open, seccomp},
		"bpftrace":     {open, seccomp},
	}[tracer]
	var out []bpfStat
	for _, l := range loops {
		before, err := snapshot()
		if err != nil {
			return nil, nil, err
		}
		r, err := runLoop(context.Background(), nil, c.loop, l...)
		if err != nil {
			return nil, nil, err
		}
		after, err := snapshot()
		if err != nil {
			return nil, nil, err
		}
		for name, a := range after {
			b := before[name]
			runs := a.RunCnt - b.RunCnt
			if runs < r.Iterations/10 {
				continue // programs this loop hardly touches
			}
			out = append(out, bpfStat{
				Tracer: tracer, Loop: l[0] + "/1t", Program: name, Runs: runs,
				NSPerRun:    float64(a.RunTimeNS-b.RunTimeNS) / float64(runs),
				RunsPerIter: float64(runs) / float64(r.Iterations),
			})
		}
	}
	return out, pr, nil
}

// kernelPerIter is, by the kernel's statistics, what a tracer's programs
// cost per iteration of a loop.
func kernelPerIter(stats []bpfStat, tracer, loop string) (ns float64, ok bool) {
	for _, s := range stats {
		if s.Tracer == tracer && s.Loop == loop {
			ns += s.NSPerRun * s.RunsPerIter
			ok = true
		}
	}
	return ns, ok
}

// kernelAboveFloor is, by the kernel's statistics, what ctrace's programs
// cost per iteration of a loop above the empty programs on the same
// tracepoints (both include the statistics' own clock reads, which cancel).
func kernelAboveFloor(stats []bpfStat, loop string) (ns float64, ok bool) {
	var ct, fl bool
	for _, s := range stats {
		if s.Loop != loop {
			continue
		}
		switch s.Tracer {
		case "ctrace":
			ns += s.NSPerRun * s.RunsPerIter
			ct = true
		case "empty-tp-all":
			ns -= s.NSPerRun * s.RunsPerIter
			fl = true
		}
	}
	return ns, ct && fl
}

// progIDs are the eBPF programs a process holds file descriptors of.
func progIDs(pid int) map[int]bool {
	ids := map[int]bool{}
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name())
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "prog_id:"); ok {
				if id, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
					ids[id] = true
				}
			}
		}
	}
	return ids
}

// foreignTracing counts the tracing eBPF programs loaded on the node by
// others (another ctrace, a test suite): they slow the baseline too, so
// the harness records how many there were while it ran.
func foreignTracing() int {
	progs, err := listProgs()
	if err != nil {
		return -1
	}
	n := 0
	for _, p := range progs {
		switch p.Type {
		case "raw_tracepoint", "tracepoint", "tracing", "kprobe", "perf_event":
			n++
		}
	}
	return n
}
