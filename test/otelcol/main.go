// Command otelcol is an OpenTelemetry Collector built from the collector's
// own Go modules for ctrace's tests: the OTLP receiver (gRPC and HTTP), the
// debug exporter, and a "jsonlines" exporter that appends every batch of
// log records it receives to a file as one line of OTLP JSON, so that tests
// can assert attribute values without parsing the debug exporter's text.
//
// It is its own Go module so that ctrace's module does not depend on the
// collector's dependency tree; the tests build it with `go build` and cache
// the binary (internal/testing/otelcoltest).
//
//	otelcol --config collector.yaml
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

func main() {
	config := flag.String("config", "", "collector configuration file (YAML)")
	flag.Parse()
	if *config == "" {
		fmt.Fprintln(os.Stderr, "otelcol: --config is required")
		os.Exit(2)
	}
	if err := run(*config); err != nil {
		fmt.Fprintln(os.Stderr, "otelcol:", err)
		os.Exit(1)
	}
}

func run(config string) error {
	col, err := otelcol.NewCollector(otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "otelcol", Description: "ctrace test collector", Version: "test"},
		Factories: factories,
		// The collector handles SIGINT and SIGTERM itself otherwise; one
		// handler here keeps shutdown in one place.
		DisableGracefulShutdown: true,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				URIs:              []string{config},
				DefaultScheme:     "file",
				ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory()},
			},
		},
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		col.Shutdown()
	}()
	return col.Run(context.Background())
}

func factories() (otelcol.Factories, error) {
	var f otelcol.Factories
	var err error
	if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory()); err != nil {
		return f, err
	}
	if f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](debugexporter.NewFactory(), newJSONLinesFactory()); err != nil {
		return f, err
	}
	f.Telemetry = otelconftelemetry.NewFactory()
	return f, nil
}

// jsonLinesConfig configures the jsonlines exporter.
type jsonLinesConfig struct {
	// Path of the file that each batch is appended to, one OTLP JSON
	// ExportLogsServiceRequest a line.
	Path string `mapstructure:"path"`
}

func (c *jsonLinesConfig) Validate() error {
	if c.Path == "" {
		return errors.New("path must be set")
	}
	return nil
}

func newJSONLinesFactory() exporter.Factory {
	return exporter.NewFactory(component.MustNewType("jsonlines"),
		func() component.Config { return &jsonLinesConfig{} },
		exporter.WithLogs(func(_ context.Context, _ exporter.Settings, cfg component.Config) (exporter.Logs, error) {
			return &jsonLines{path: cfg.(*jsonLinesConfig).Path}, nil
		}, component.StabilityLevelDevelopment))
}

type jsonLines struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func (j *jsonLines) Start(context.Context, component.Host) error {
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	j.f = f
	return nil
}

func (j *jsonLines) Shutdown(context.Context) error {
	if j.f == nil {
		return nil
	}
	return j.f.Close()
}

func (j *jsonLines) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

var marshaler plog.JSONMarshaler

func (j *jsonLines) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	b, err := marshaler.MarshalLogs(ld)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	// One write per batch: a reader never sees half a line it cannot
	// parse, except the last one while it is being written.
	_, err = j.f.Write(append(b, '\n'))
	return err
}
