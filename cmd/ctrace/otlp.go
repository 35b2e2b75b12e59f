package main

import (
	"os"
	"strconv"
	"time"

	"github.com/rs/zerolog/log"
	"github.com/spf13/pflag"

	"github.com/ctrace-dev/ctrace/internal/export"
	"github.com/ctrace-dev/ctrace/internal/metrics"
	"github.com/ctrace-dev/ctrace/internal/sink"
)

// otlpFlags are run's flags about OTLP export.
type otlpFlags struct {
	endpoint string
	protocol string
	insecure setBool
	timeout  time.Duration
	queue    int
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
	return nil
}

// exportSink starts the OTLP exporter when export was asked for and
// returns its sink; nil otherwise.
func (f *runFlags) exportSink(met *metrics.Metrics) (*sink.OTLP, error) {
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
	return sink.NewOTLP(e, sink.OTLPOptions{
		Timeout: f.otlp.timeout,
		Benign:  f.showBenign,
		Explain: f.explain,
		Window:  f.dedup.window,
		Done:    reportExport,
	}), nil
}

// reportExport says at exit what became of the exported events.
func reportExport(st export.Stats) {
	ev := log.Info()
	if st.Failed > 0 || st.Dropped > 0 {
		ev = log.Warn()
	}
	ev.Uint64("sent", st.Sent).Uint64("failed", st.Failed).Uint64("dropped", st.Dropped).
		Msgf("OTLP: %d records sent, %d failed, %d dropped", st.Sent, st.Failed, st.Dropped)
}
