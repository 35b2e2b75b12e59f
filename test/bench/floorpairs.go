package main

import (
	"fmt"
	"math"
	"slices"
)

// pairedStat is the median of paired ratios, with how far it can be
// trusted: a 95% interval of the median that assumes nothing about how the
// machine's noise is distributed (order statistics, the sign test's
// interval), and the lowest and highest ratio.
type pairedStat struct {
	Ratio float64 `json:"ratio_median"`
	Low   float64 `json:"ci95_low"`
	High  float64 `json:"ci95_high"`
	// Interval: there were enough pairs for Low and High (6 or more).
	Interval bool      `json:"ci95"`
	Min      float64   `json:"ratio_min"`
	Max      float64   `json:"ratio_max"`
	Ratios   []float64 `json:"ratios"`
}

func newPairedStat(ratios []float64) pairedStat {
	st := pairedStat{Ratio: median(ratios), Ratios: ratios}
	if len(ratios) > 0 {
		st.Min, st.Max = slices.Min(ratios), slices.Max(ratios)
		st.Low, st.High, st.Interval = medianInterval(ratios)
	}
	return st
}

// medianInterval is the distribution-free 95% interval of the median of v:
// the k-th lowest and k-th highest values, k the largest for which fewer
// than k of n samples fall below the median with probability at most
// 2.5% (a fair coin tossed n times). Below 6 samples no such k exists:
// ok is false.
func medianInterval(v []float64) (lo, hi float64, ok bool) {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0, 0, false
	}
	k := 0
	for j := 1; j <= n/2; j++ {
		if binomialCDF(n, j-1) <= 0.025 {
			k = j
		}
	}
	if k == 0 {
		return s[0], s[n-1], false
	}
	return s[k-1], s[n-k], true
}

// binomialCDF is P(X <= m) for X ~ Binomial(n, 1/2).
func binomialCDF(n, m int) float64 {
	sum, c := 0.0, 1.0 // c = n choose i
	for i := 0; i <= m; i++ {
		sum += c
		c = c * float64(n-i) / float64(i+1)
	}
	return sum / math.Pow(2, float64(n))
}

// floorComparison is ctrace against the floor on one loop, from the
// loop's time per iteration, from the fastest 1% of its batches, and from
// the threads' CPU time.
type floorComparison struct {
	Time     pairedStat `json:"time"`
	Fastest  pairedStat `json:"fastest"`
	CPURatio float64    `json:"cpu_ratio_median"`
	Pairs    int        `json:"pairs"`
}

// aboveFloor measures what ctrace's programs cost above empty programs on
// the same tracepoints: the one comparison of the benchmark whose target
// (3%) is smaller than this kind of machine's noise from one session to
// the next. Sessions of the floor and of ctrace alternate, F C F C ... C F,
// with no untraced session between them, and each ctrace session is
// compared with the geometric mean of the floor sessions on either side:
// that cancels a drift of the machine's speed that is linear over the
// three, which pairing each with an untraced session of its own does not.
func aboveFloor(c *config, file string) (map[string]floorComparison, error) {
	loops := successLoops(c.threads)
	fl, ct := peers["empty-tp-all"], peers["ctrace"]
	session := func(t tracer) (map[string]loopResult, error) {
		s, err := startSession(t, c.ctrace, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err)
		}
		got, err := runLoops(c, t, loops, file)
		if st := s.stop(); err == nil && st.exit != "" {
			err = fmt.Errorf("%s: %s: %s", t.Name, st.exit, s.lastStderr())
		}
		return got, err
	}
	ratio, fast, cpu := map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
	// between is ctrace's value against the geometric mean of the floor's
	// before and after.
	between := func(c, a, b float64) float64 { return c / math.Sqrt(a*b) }
	prev, err := session(fl)
	if err != nil {
		return nil, err
	}
	for pair := range c.floorPairs {
		got, err := session(ct)
		if err != nil {
			return nil, err
		}
		next, err := session(fl)
		if err != nil {
			return nil, err
		}
		for _, l := range loops {
			k := l.key()
			ratio[k] = append(ratio[k], between(got[k].NSPerIter, prev[k].NSPerIter, next[k].NSPerIter))
			fast[k] = append(fast[k], between(got[k].FastNSPerCall, prev[k].FastNSPerCall, next[k].FastNSPerCall))
			cpu[k] = append(cpu[k], between(got[k].CPUPerIter, prev[k].CPUPerIter, next[k].CPUPerIter))
		}
		logf("floor pair %d: ctrace / floor open/1t %.3f (fastest %.3f) open-seccomp/1t %.3f (%.3f) getppid/1t %.3f (%.3f)", pair+1,
			ratio["open/1t"][pair], fast["open/1t"][pair], ratio["open-seccomp/1t"][pair], fast["open-seccomp/1t"][pair],
			ratio["getppid/1t"][pair], fast["getppid/1t"][pair])
		prev = next
	}
	out := map[string]floorComparison{}
	for k := range ratio {
		out[k] = floorComparison{Time: newPairedStat(ratio[k]), Fastest: newPairedStat(fast[k]), CPURatio: median(cpu[k]), Pairs: len(ratio[k])}
	}
	return out, nil
}
