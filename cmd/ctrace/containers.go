package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog/log"
	"github.com/spf13/pflag"

	"github.com/ctrace-dev/ctrace/correlate"
)

// containerFlags are run's flags about containers, the summary and the
// exit status.
type containerFlags struct {
	address       string
	containers    []string
	namespaces    []string
	pods          []string
	podNamespaces []string
	host          bool
	wait          time.Duration
	summary       bool
	summaryFile   string
	failOnEvents  bool
	// procRoot is the node's /proc when ctrace runs in a container
	// ("" means /proc); set from --host-root, not a flag of its own.
	procRoot string
}

// minIDPrefix is the shortest --container value taken as a prefix of a
// container id (correlate.Filter); a shorter one can only be a name.
const minIDPrefix = 3

// exitFailures is ctrace's exit status under --fail-on-events when failures
// were seen and the traced command, if any, succeeded: distinct from 1
// (ctrace's own errors) and 2 (usage).
const exitFailures = 3

func (f *containerFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.address, "containerd-address", "", "containerd's socket; default: the first of "+strings.Join(correlate.KnownAddresses, ", ")+" that exists")
	fl.StringSliceVar(&f.containers, "container", nil, "only these containers: id, unique id prefix, or name (Kubernetes container name)")
	fl.StringSliceVar(&f.namespaces, "containerd-namespace", nil, "only containers in these containerd namespaces (default, k8s.io, ...)")
	fl.StringSliceVar(&f.pods, "pod", nil, "only containers of these Kubernetes pods (name or UID)")
	fl.StringSliceVar(&f.podNamespaces, "k8s-namespace", nil, "only containers of pods in these Kubernetes namespaces")
	fl.BoolVar(&f.host, "host", false, "only host processes: those of no container")
	fl.DurationVar(&f.wait, "container-wait", correlate.DefaultWait, "how long an event of a container not yet known waits for containerd's metadata before it is shown with the container id only")
	fl.BoolVar(&f.summary, "summary", false, "print no events; at exit, a table of failures by container, syscall and errno (as strace -c); JSON with -o json")
	fl.StringVar(&f.summaryFile, "summary-file", "", "stream events as usual and write the summary table to this file at exit (text or JSON as -o)")
	fl.BoolVar(&f.failOnEvents, "fail-on-events", false, fmt.Sprintf("exit with status %d if any failure (not a known-harmless one) was seen; a traced command's own failure status comes first", exitFailures))
}

func (f *containerFlags) filter() (correlate.Filter, error) {
	flt := correlate.Filter{
		Containers:    f.containers,
		Namespaces:    f.namespaces,
		Pods:          f.pods,
		PodNamespaces: f.podNamespaces,
		Host:          f.host,
	}
	if err := flt.Validate(); err != nil {
		return flt, usageError("%v", err)
	}
	return flt, nil
}

// openResolver starts the container resolver. It never fails for want of
// containerd: that is one warning, and events of containers then carry
// what the kernel captured (the id).
// watch, if set, is told of every container containerd describes, as it
// changes (correlate.Options.Watch).
func openResolver(ctx context.Context, f *containerFlags, watch func(correlate.Container)) (*correlate.Resolver, error) {
	return correlate.Open(ctx, correlate.Options{
		Address:  f.address,
		ProcRoot: f.procRoot,
		Watch:    watch,
		Log: func(l correlate.Level, msg string) {
			if l == correlate.LevelWarn {
				log.Warn().Msg(msg)
			} else {
				log.Info().Msg(msg)
			}
		},
	})
}

// startResolver opens the resolver that names each event's container.
// With --container it waits briefly for containerd, to warn about a
// value that is a prefix of several containers' ids.
func startResolver(ctx context.Context, f *containerFlags, watch func(correlate.Container)) (*correlate.Resolver, error) {
	resolver, err := openResolver(context.WithoutCancel(ctx), f, watch)
	if err != nil {
		return nil, err
	}
	for _, msg := range shortContainerValues(f.containers) {
		log.Warn().Msg(msg)
	}
	if len(f.containers) > 0 {
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
		if resolver.WaitConnected(wctx) {
			warnAmbiguous(resolver, f)
		}
		wcancel()
	}
	return resolver, nil
}

// shortContainerValues says which --container values are too short to be
// an id prefix: they are taken as names only, which may be a mistake.
func shortContainerValues(vs []string) []string {
	var msgs []string
	for _, v := range vs {
		if len(v) < minIDPrefix {
			msgs = append(msgs, fmt.Sprintf("--container %s: shorter than an id prefix (%d characters or more), so it selects only a container named %s", v, minIDPrefix, v))
		}
	}
	return msgs
}

// warnAmbiguous says when a --container value is a prefix of several known
// containers' ids.
func warnAmbiguous(r *correlate.Resolver, f *containerFlags) {
	known := r.Containers()
	for _, v := range f.containers {
		if ids := correlate.Ambiguous(v, known); ids != nil {
			log.Warn().Msgf("--container %s is a prefix of several container ids (%s): events of all of them are shown", v, strings.Join(ids, ", "))
		}
	}
}
