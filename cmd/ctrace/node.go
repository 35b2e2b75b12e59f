package main

import (
	"fmt"
	"os"

	"github.com/rs/zerolog/log"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/hostroot"
	"github.com/ctrace-dev/ctrace/internal/metrics"
)

// hostRootFlag is --host-root, shared by run and check.
var hostRootFlag string

func addHostRootFlag(root *cobra.Command) {
	root.PersistentFlags().StringVar(&hostRootFlag, "host-root", "",
		"where the node's root file system is mounted when ctrace runs in a container; default: "+hostroot.DefaultMount+
			" when "+hostroot.DefaultMount+"/proc or "+hostroot.DefaultMount+"/run/containerd exists, else /")
}

// resolveHostRoot finds the node's file system (see package hostroot).
func resolveHostRoot() (*hostroot.Root, error) {
	hr, err := hostroot.Resolve(hostRootFlag, correlate.KnownAddresses)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return hr, nil
}

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

// useHostRoot points container attribution at the node's /proc and
// containerd socket when ctrace runs in a container with the node's root
// mounted (--host-root, or /host detected), and says so.
func (f *runFlags) useHostRoot() error {
	hr, err := resolveHostRoot()
	if err != nil {
		return err
	}
	if hr.OnHost() {
		return nil
	}
	log.Info().Msg(hr.Summary())
	if hr.MountNSKnown && hr.SameMountNS {
		log.Warn().Msgf("--host-root %s, but ctrace runs in the node's own mount namespace", hr.Path)
	}
	f.ctr.procRoot = hr.Proc
	f.hostRoot = hr.Path
	if f.ctr.address == "" && hr.Containerd != "" {
		f.ctr.address = hr.Containerd
	}
	return nil
}
