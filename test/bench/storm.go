package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
)

// stormResult is the failure storm of a crash-looping workload: stormProcs
// processes each making stormCalls failing openat of one missing path
// (ctrbench storm), untraced and under `ctrace run --dedup`, alternating,
// so that each traced run has an untraced one just before it.
type stormResult struct {
	Procs  int          `json:"processes"`
	Calls  int          `json:"calls_per_process"`
	Rounds []stormRound `json:"rounds"`
	// Medians of the rounds: ns per failing call, the processes' own
	// time, and the traced run's ratio to the untraced run before it.
	UntracedNS float64 `json:"untraced_ns_per_call_median"`
	TracedNS   float64 `json:"traced_ns_per_call_median"`
	Ratio      float64 `json:"ratio_median"`
	// The floor: empty programs on ctrace's tracepoints, between the
	// untraced and the traced run of each round. What the attachment
	// alone costs the storming processes, and ctrace above it.
	FloorNS    float64 `json:"floor_ns_per_call_median"`
	FloorRatio float64 `json:"floor_ratio_median"`        // floor / untraced
	AboveFloor float64 `json:"traced_floor_ratio_median"` // traced / floor
	RatioMin   float64 `json:"ratio_min"`
	RatioMax   float64 `json:"ratio_max"`
	Lost       uint64  `json:"lost_max"`
	Exact      bool    `json:"exact"` // every round: shown counts + lost = calls
	Error      string  `json:"error,omitempty"`
}

type stormRound struct {
	UntracedNS float64 `json:"untraced_ns_per_call"`
	FloorNS    float64 `json:"floor_ns_per_call"`
	TracedNS   float64 `json:"traced_ns_per_call"`
	Calls      uint64  `json:"calls"`
	Lines      uint64  `json:"lines"`   // JSON events of the storm's path shown
	Counted    uint64  `json:"counted"` // the calls they stand for (repeat_count, else 1)
	Lost       uint64  `json:"lost"`
}

var repeatCount = []byte(`"repeat_count":`)

// storm runs the failure storm's rounds.
func storm(c *config) *stormResult {
	res := &stormResult{Procs: c.stormProcs, Calls: c.stormCalls, Exact: true}
	args := []string{"storm", strconv.Itoa(c.stormProcs), strconv.Itoa(c.stormCalls)}
	var ratios, untraced, traced, floors, floorRatios, above []float64
	for i := range max(c.stormRounds, 1) {
		base, err := runLoop(context.Background(), nil, c.loop, args...)
		if err != nil {
			res.Error = err.Error()
			return res
		}
		var r stormRound
		r.UntracedNS = base.NSPerIter
		if r.FloorNS, err = stormFloor(c, args); err != nil {
			res.Error = "floor: " + err.Error()
			return res
		}
		// Only ctrbench's calls and only openat, as a user chasing a
		// crash loop would run it; every line is the storm's.
		s, err := startSession(peers["ctrace"], c.ctrace,
			[]string{"--dedup", "--comm", "ctrbench", "-e", "openat", "-o", "json"},
			func(line []byte, _ int64) {
				if !bytes.Contains(line, failMarker) {
					return
				}
				r.Lines++
				n := uint64(1)
				if i := bytes.Index(line, repeatCount); i >= 0 {
					rest := line[i+len(repeatCount):]
					end := bytes.IndexAny(rest, ",}")
					if v, err := strconv.ParseUint(string(rest[:max(end, 0)]), 10, 64); err == nil {
						n = v
					}
				}
				r.Counted += n
			})
		if err != nil {
			res.Error = err.Error()
			return res
		}
		tr, err := runLoop(context.Background(), nil, c.loop, args...)
		st := s.stop()
		if err != nil {
			res.Error = err.Error()
			return res
		}
		if st.exit != "" {
			res.Error = "ctrace: " + st.exit + ": " + s.lastStderr()
			return res
		}
		r.TracedNS, r.Calls, r.Lost = tr.NSPerIter, tr.Iterations, st.lost
		res.Exact = res.Exact && r.Counted+r.Lost == r.Calls
		res.Lost = max(res.Lost, r.Lost)
		res.Rounds = append(res.Rounds, r)
		ratios = append(ratios, r.TracedNS/r.UntracedNS)
		untraced, traced = append(untraced, r.UntracedNS), append(traced, r.TracedNS)
		floors, floorRatios, above = append(floors, r.FloorNS), append(floorRatios, r.FloorNS/r.UntracedNS), append(above, r.TracedNS/r.FloorNS)
		logf("  storm round %d: %.0f ns/call untraced, %.0f under the floor, %.0f traced (%.3fx; %.3fx the floor); %d calls = %d counted in %d lines + %d lost",
			i, r.UntracedNS, r.FloorNS, r.TracedNS, r.TracedNS/r.UntracedNS, r.TracedNS/r.FloorNS, r.Calls, r.Counted, r.Lines, r.Lost)
	}
	res.Ratio, res.RatioMin, res.RatioMax = median(ratios), slices.Min(ratios), slices.Max(ratios)
	res.UntracedNS, res.TracedNS = median(untraced), median(traced)
	res.FloorNS, res.FloorRatio, res.AboveFloor = median(floors), median(floorRatios), median(above)
	return res
}

// stormFloor times the storm under empty programs on the tracepoints
// ctrace attaches (the floor of its design), and returns ns per call.
func stormFloor(c *config, args []string) (float64, error) {
	s, err := startSession(peers["empty-tp-all"], c.ctrace, nil, nil)
	if err != nil {
		return 0, err
	}
	r, err := runLoop(context.Background(), nil, c.loop, args...)
	s.stop()
	if err != nil {
		return 0, err
	}
	return r.NSPerIter, nil
}

// stormTargets are the storm's targets: its cost to the storming
// processes, its accounting, and, by the kernel's statistics, what a
// repeat and a first cost ctrace's exit program with --dedup.
func stormTargets(res *results) []targetResult {
	var out []targetResult
	if s := res.Storm; s != nil && s.Error == "" && len(s.Rounds) > 0 {
		out = append(out, targetResult{
			Target: fmt.Sprintf("failure storm (%d processes, %d failing openat each, of one path) under ctrace run --dedup: ns per call traced / untraced at most 1.3, nothing lost, counts exact", s.Procs, s.Calls),
			Measured: fmt.Sprintf("%.3fx (%.0f against %.0f ns; rounds %.3f-%.3f), %d lost at most, shown counts + lost = calls in every round: %v; empty programs on the same tracepoints alone: %.3fx (%.0f ns), ctrace %.3fx of that",
				s.Ratio, s.TracedNS, s.UntracedNS, s.RatioMin, s.RatioMax, s.Lost, s.Exact, s.FloorRatio, s.FloorNS, s.AboveFloor),
			Met: s.Ratio <= 1.3 && s.Lost == 0 && s.Exact,
		})
	}
	for _, spec := range []struct {
		loop, what string
		limit      float64
	}{{"fail/1t", "a repeated failing openat (counted in the kernel)", 250}, {"fail-distinct/1t", "the first failing openat of its path (sent whole)", 1000}} {
		for _, st := range res.BPF {
			if st.Tracer == "ctrace-dedup" && st.Loop == spec.loop && st.Program == "tp_exit_openat" {
				out = append(out, targetResult{
					Target:   fmt.Sprintf("with --dedup, the exit program's time for %s under %.0f ns (bpf_stats)", spec.what, spec.limit),
					Measured: fmt.Sprintf("%.0f ns per run (rounds %.0f-%.0f)", st.NSPerRun, st.NSMin, st.NSMax),
					Met:      st.NSPerRun < spec.limit,
				})
			}
		}
	}
	return out
}

// stormMarkdown is the storm's section of the results.
func stormMarkdown(s *stormResult) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\n### Failure storm\n\n`ctrbench storm %d %d`: %d processes, each one thread making %d failing `openat` of one missing path, started together; untraced, then under empty programs on the tracepoints ctrace attaches (the floor: what the attachment alone costs), then under `ctrace run --dedup --comm ctrbench -e openat -o json` (the kernel counts the repeats), in rounds. ns per call is the processes' own time per call; counted is what the JSON lines of the storm's path stand for (`repeat_count`, else 1), read by the harness through a pipe.\n\n",
		s.Procs, s.Calls, s.Procs, s.Calls)
	if s.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", s.Error)
		return b.String()
	}
	b.WriteString("| round | untraced ns/call | floor ns/call | traced ns/call | ratio | ratio to the floor | calls | lines | counted | lost | counted + lost = calls |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i, r := range s.Rounds {
		ok := "yes"
		if r.Counted+r.Lost != r.Calls {
			ok = "**no**"
		}
		fmt.Fprintf(&b, "| %d | %.0f | %.0f | %.0f | %.3f | %.3f | %d | %d | %d | %d | %s |\n", i+1, r.UntracedNS, r.FloorNS, r.TracedNS, r.TracedNS/r.UntracedNS, r.TracedNS/r.FloorNS, r.Calls, r.Lines, r.Counted, r.Lost, ok)
	}
	return b.String()
}
