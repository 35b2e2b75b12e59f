package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog/log"
	"github.com/spf13/pflag"

	"github.com/ctrace-dev/ctrace/internal/dedup"
	"github.com/ctrace-dev/ctrace/internal/export"
	"github.com/ctrace-dev/ctrace/internal/metrics"
	"github.com/ctrace-dev/ctrace/internal/pipeline"
	"github.com/ctrace-dev/ctrace/internal/render"
)

// otlpFlags are run's flags about OTLP export, deduplication and the rate
// limit.
type otlpFlags struct {
	endpoint  string
	protocol  string
	insecure  setBool
	timeout   time.Duration
	queue     int
	dedup     setBool
	window    time.Duration
	rateLimit string
	stage     *dedup.Stage // once started, for reportLimited
}

// setBool is a boolean flag that knows whether it was given: the default
// of --otlp-insecure depends on the endpoint, that of --dedup on whether
// ctrace exports.
type setBool struct{ v, set bool }

func (b *setBool) String() string { return strconv.FormatBool(b.v) }
func (b *setBool) Type() string   { return "bool" }
func (b *setBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	b.v, b.set = v, true
	return nil
}

func (f *otlpFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.endpoint, "otlp-endpoint", "", "send each failure as an OTLP log record to the OpenTelemetry Collector at HOST:PORT or a URL; also OTEL_EXPORTER_OTLP_ENDPOINT (see docs/kubernetes.md)")
	fl.StringVar(&f.protocol, "otlp-protocol", "", "OTLP transport: grpc (default, port 4317) or http/protobuf (port 4318); also OTEL_EXPORTER_OTLP_PROTOCOL")
	fl.Var(&f.insecure, "otlp-insecure", "send OTLP without TLS; by default TLS is used unless the endpoint is a loopback address or an http:// URL (--otlp-insecure=false forces TLS)")
	fl.Lookup("otlp-insecure").NoOptDefVal = "true"
	fl.DurationVar(&f.timeout, "otlp-timeout", 0, "give up on a batch the collector has not taken after this long, retries included, and count its records as failed; 0 means OTEL_EXPORTER_OTLP_TIMEOUT or 10s")
	fl.IntVar(&f.queue, "otlp-queue-size", export.DefaultQueueSize, "events that may wait for the collector; more are dropped and counted (ctrace_export_dropped_total)")
	fl.Var(&f.dedup, "dedup", "show and export identical failures within --dedup-window once, then once more with their count; on by default with OTLP export")
	fl.Lookup("dedup").NoOptDefVal = "true"
	fl.DurationVar(&f.window, "dedup-window", dedup.DefaultWindow, "the window of --dedup")
	fl.StringVar(&f.rateLimit, "rate-limit", "", "show and export at most N events a second (N/s, or N/m a minute); the rest is counted (ctrace_events_rate_limited_total) and still counted by the metrics and the summary")
}

func (f *otlpFlags) exportConfig() export.Config {
	c := export.Config{Endpoint: f.endpoint, Protocol: f.protocol, Timeout: f.timeout}
	if f.insecure.set {
		c.Insecure = &f.insecure.v
	}
	return c
}

// exporting says whether OTLP export was asked for, by flag or environment.
func (f *otlpFlags) exporting() bool {
	return f.exportConfig().Enabled(os.Getenv)
}

// check validates the flags (and the OTEL_EXPORTER_OTLP_* variables when
// exporting) before anything is loaded.
func (f *otlpFlags) check() error {
	if f.exporting() {
		if err := f.exportConfig().Check(os.Getenv); err != nil {
			return usageError("%v", err)
		}
	} else if f.protocol != "" || f.insecure.set || f.timeout != 0 {
		return usageError("--otlp-protocol, --otlp-insecure and --otlp-timeout need an endpoint; allowed: with --otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if f.timeout < 0 {
		return usageError("--otlp-timeout %v: negative; allowed: a duration such as 5s (0 means the default)", f.timeout)
	}
	if f.queue < 1 {
		return usageError("--otlp-queue-size %d: out of range; allowed: 1 or more (default %d)", f.queue, export.DefaultQueueSize)
	}
	if f.window < time.Millisecond {
		return usageError("--dedup-window %v: too short; allowed: a duration of 1ms or more, such as 10s", f.window)
	}
	if f.rateLimit != "" {
		if _, err := parseRate(f.rateLimit); err != nil {
			return usageError("--rate-limit %s: %v; allowed: N/s or N/m with N a positive number, e.g. 100/s", f.rateLimit, err)
		}
	}
	return nil
}

// parseRate parses N/s, N/m or N (a second) into events a second.
func parseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(strings.TrimSpace(s), "/")
	per := 1.0
	switch unit {
	case "", "s":
	case "m":
		per = 60
	default:
		return 0, fmt.Errorf("unknown unit %q", unit)
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 || n > 1e9 {
		return 0, errors.New("not a positive number of events")
	}
	return n / per, nil
}

// dedupStage is the --dedup and --rate-limit stage, or nil when neither
// is on. Deduplication is on by default when exporting: a collector in
// front of a log store is where a storm costs most.
func (f *otlpFlags) dedupStage(met *metrics.Metrics) *dedup.Stage {
	var o dedup.Options
	if (f.dedup.set && f.dedup.v) || (!f.dedup.set && f.exporting()) {
		o.Window = f.window
	}
	if f.rateLimit != "" {
		o.Rate, _ = parseRate(f.rateLimit) // checked
	}
	if o.Window == 0 && o.Rate == 0 {
		return nil
	}
	s := dedup.NewStage(o)
	f.stage = s
	if o.Rate > 0 {
		met.AddCounter("ctrace_events_rate_limited_total", "Events not shown or exported because of --rate-limit; a deduplicated event counts the calls it stood for. The other metrics count them.",
			s.RateLimited)
	}
	return s
}

// reportLimited says at exit how many events --rate-limit kept back.
func (f *otlpFlags) reportLimited() {
	if f.stage == nil {
		return
	}
	if n := f.stage.RateLimited(); n > 0 {
		log.Warn().Uint64("rate_limited", n).Msgf("--rate-limit: %d events not shown or exported", n)
	}
}

// exportSink starts the OTLP exporter when export was asked for and
// returns its sink; nil otherwise.
func (f *runFlags) exportSink(met *metrics.Metrics) (*otlpSink, error) {
	if !f.otlp.exporting() {
		return nil, nil
	}
	e, err := export.New(export.Options{
		Config:    f.otlp.exportConfig(),
		QueueSize: f.otlp.queue,
		Version:   version,
		Warn:      func(msg string) { log.Warn().Msg(msg) },
	})
	if err != nil {
		return nil, err
	}
	met.AddCounter("ctrace_export_failed_total", "Events sent to the OTLP collector that it refused or did not take within --otlp-timeout, retries included.",
		func() uint64 { return e.Stats().Failed })
	met.AddCounter("ctrace_export_dropped_total", "Events never sent to the OTLP collector: its queue was full (--otlp-queue-size), or ctrace stopped first.",
		func() uint64 { return e.Stats().Dropped })
	log.Info().Str("otlp", e.Target()).Msgf("exporting failures as OTLP logs to %s", e.Target())
	s := &otlpSink{exp: e, timeout: f.otlp.timeout, showBenign: f.showBenign}
	s.text = render.New("text", &s.tb, false)
	s.text.Explain = f.explain
	s.json = render.New("json", &s.jb, false)
	s.text.Window, s.json.Window = f.otlp.window, f.otlp.window
	return s, nil
}

// otlpSink sends each shown event to the collector: the text line as the
// body, the JSON object's fields as the attributes (package export).
// Known-harmless failures go only with --show-benign, as in text output.
type otlpSink struct {
	exp        *export.Exporter
	timeout    time.Duration
	showBenign bool
	text, json *render.Renderer
	tb, jb     bytes.Buffer
}

// Write implements pipeline.Sink.
func (s *otlpSink) Write(ev *pipeline.Event) {
	if ev.Hidden || (ev.Benign != nil && !s.showBenign) {
		return
	}
	s.tb.Reset()
	s.jb.Reset()
	f := findings(ev)
	s.text.Event(ev.Event, f)
	s.json.Event(ev.Event, f)
	s.exp.Export(export.Record{
		Time:   ev.Time,
		Text:   strings.TrimSuffix(s.tb.String(), "\n"),
		JSON:   s.jb.Bytes(),
		Failed: ev.Failed(),
	})
}

// Close implements pipeline.Sink: it sends what is queued, for up to
// twice the export timeout, and says what became of the events.
func (s *otlpSink) Close() error {
	timeout := s.timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	_ = s.exp.Close(ctx)
	st := s.exp.Stats()
	ev := log.Info()
	if st.Failed > 0 || st.Dropped > 0 {
		ev = log.Warn()
	}
	ev.Uint64("sent", st.Sent).Uint64("failed", st.Failed).Uint64("dropped", st.Dropped).
		Msgf("OTLP: %d records sent, %d failed, %d dropped", st.Sent, st.Failed, st.Dropped)
	return nil
}
