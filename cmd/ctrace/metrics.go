package main

import (
	"fmt"
	"os"

	"github.com/rs/zerolog/log"
	"github.com/spf13/pflag"

	"github.com/ctrace-dev/ctrace/internal/metrics"
)

// metricsFlags are run's flags about Prometheus metrics.
type metricsFlags struct {
	addr            string
	containerLabels bool
	maxSeries       int
}

func (f *metricsFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.addr, "metrics-addr", "", "serve Prometheus metrics at /metrics and a health check at /healthz on this address; a bare port (9464) listens on 127.0.0.1 only, :9464 on every interface; off by default")
	fl.BoolVar(&f.containerLabels, "metrics-container-labels", false, fmt.Sprintf("label ctrace_failures_total by container id too (at most %d containers; later ones count as \"other\")", metrics.DefaultMaxContainers))
	fl.IntVar(&f.maxSeries, "metrics-max-series", metrics.DefaultMaxSeries, "cap on the series of ctrace_failures_total; failures beyond it count in one series labelled \"other\"")
}

// start serves the metrics, and /healthz from health, when
// --metrics-addr is set; it returns nil metrics and health (whose methods
// do nothing) and a no-op stop otherwise. The bound address goes to
// stderr, so that a port chosen by the kernel (:0) can be found.
func (f *metricsFlags) start(ringbuf int) (*metrics.Metrics, *metrics.Health, func(), error) {
	if f.addr == "" {
		return nil, nil, func() {}, nil
	}
	if _, err := metrics.ListenAddr(f.addr); err != nil {
		return nil, nil, nil, usageError("--metrics-addr: %v", err)
	}
	m := metrics.New(metrics.Options{
		ContainerLabels: f.containerLabels,
		MaxSeries:       f.maxSeries,
		Version:         version,
		Commit:          commit,
		RingbufBytes:    ringbuf,
	})
	health := metrics.NewHealth(metrics.DefaultStall)
	srv, err := metrics.Serve(f.addr, m, health.Check)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	log.Info().Str("addr", srv.Addr()).Msgf("metrics: http://%s/metrics", srv.Addr())
	return m, health, func() {
		if err := srv.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "metrics server: %v\n", err)
		}
	}, nil
}
