package main

import (
	"time"

	"github.com/rs/zerolog/log"
	"github.com/spf13/pflag"

	"github.com/ctrace-dev/ctrace/internal/dedup"
	"github.com/ctrace-dev/ctrace/internal/metrics"
)

// dedupFlags are run's flags about deduplication and the rate limit. They
// change what every output that shows events shows (stdout and OTLP), so
// they are run's own, not export's.
type dedupFlags struct {
	dedup     setBool
	window    time.Duration
	rateLimit string
}

func (f *dedupFlags) register(fl *pflag.FlagSet) {
	fl.Var(&f.dedup, "dedup", "show and export identical failures within --dedup-window once, then once more with their count; on by default with OTLP export")
	fl.Lookup("dedup").NoOptDefVal = "true"
	fl.DurationVar(&f.window, "dedup-window", dedup.DefaultWindow, "the window of --dedup")
	fl.StringVar(&f.rateLimit, "rate-limit", "", "show and export at most N events a second (N/s, or N/m a minute); the rest is counted (ctrace_events_rate_limited_total) and still counted by the metrics and the summary")
}

func (f *dedupFlags) check() error {
	if f.window < time.Millisecond {
		return usageError("--dedup-window %v: too short; allowed: a duration of 1ms or more, such as 10s", f.window)
	}
	if f.rateLimit != "" {
		if _, err := dedup.ParseRate(f.rateLimit); err != nil {
			return usageError("--rate-limit %s: %v; allowed: N/s or N/m with N a positive number, e.g. 100/s", f.rateLimit, err)
		}
	}
	return nil
}

// windowOn is --dedup-window when deduplication is on, else 0: the
// stage's window, and the kernel's, which counts repeats itself.
func (f *dedupFlags) windowOn(exporting bool) time.Duration {
	if (f.dedup.set && f.dedup.v) || (!f.dedup.set && exporting) {
		return f.window
	}
	return 0
}

// stage is the --dedup and --rate-limit stage, or nil when neither is on.
// Deduplication is on by default when exporting: a collector in front of
// a log store is where a storm costs most.
func (f *dedupFlags) stage(exporting bool, met *metrics.Metrics) *dedup.Stage {
	o := dedup.Options{Window: f.windowOn(exporting)}
	if f.rateLimit != "" {
		o.Rate, _ = dedup.ParseRate(f.rateLimit) // checked
	}
	if o.Window == 0 && o.Rate == 0 {
		return nil
	}
	s := dedup.NewStage(o)
	if o.Rate > 0 {
		met.AddCounter("ctrace_events_rate_limited_total", "Events not shown or exported because of --rate-limit; a deduplicated event counts the calls it stood for. The other metrics count them.",
			s.RateLimited)
	}
	return s
}

// reportLimited says at exit how many events --rate-limit kept back; s
// is nil when there was no limit.
func reportLimited(s *dedup.Stage) {
	if s == nil {
		return
	}
	if n := s.RateLimited(); n > 0 {
		log.Warn().Uint64("rate_limited", n).Msgf("--rate-limit: %d events not shown or exported", n)
	}
}
