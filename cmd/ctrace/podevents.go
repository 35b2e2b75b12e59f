package main

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog/log"
	"github.com/spf13/pflag"

	"github.com/ctrace-dev/ctrace/internal/dedup"
	"github.com/ctrace-dev/ctrace/internal/metrics"
	"github.com/ctrace-dev/ctrace/internal/pipeline"
	"github.com/ctrace-dev/ctrace/internal/podevents"
	"github.com/ctrace-dev/ctrace/internal/sink"
)

// podEventsFlags are run's flags about Kubernetes Events on pods.
type podEventsFlags struct {
	on         bool
	kubeconfig string
	node       string
	rate       string
	podRate    string
	queue      int
}

const (
	defaultEventsRate    = "60/m"
	defaultEventsPodRate = "6/m"
)

func (f *podEventsFlags) register(fl *pflag.FlagSet) {
	fl.BoolVar(&f.on, "k8s-events", false, "post each failure of a pod's container that has a hint as a Kubernetes Event (type Warning) on that pod, one per hint rule; identical ones are one Event with a count (docs/kubernetes.md)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "with --k8s-events, the API server and credentials from this kubeconfig file; default: the pod's service account (in-cluster)")
	fl.StringVar(&f.node, "k8s-node-name", "", "with --k8s-events, the node named in the Events' reportingInstance (ctrace-NODE); default: $NODE_NAME, else the host name")
	fl.StringVar(&f.rate, "k8s-events-rate", defaultEventsRate, "with --k8s-events, at most N Events a second (N/s) or a minute (N/m) from this node, in bursts of up to N; the rest is dropped and counted (ctrace_k8s_events_dropped_total)")
	fl.StringVar(&f.podRate, "k8s-events-pod-rate", defaultEventsPodRate, "with --k8s-events, the same limit for each pod")
	fl.IntVar(&f.queue, "k8s-events-queue-size", podevents.DefaultQueueSize, "with --k8s-events, Events that may wait for the API server; more are dropped and counted")
}

// check validates the flags before anything is loaded.
func (f *podEventsFlags) check() error {
	if !f.on {
		if f.kubeconfig != "" || f.node != "" || f.rate != defaultEventsRate || f.podRate != defaultEventsPodRate || f.queue != podevents.DefaultQueueSize {
			return usageError("--kubeconfig, --k8s-node-name, --k8s-events-rate, --k8s-events-pod-rate and --k8s-events-queue-size need --k8s-events; allowed: with --k8s-events")
		}
		return nil
	}
	if f.kubeconfig != "" {
		if st, err := os.Stat(f.kubeconfig); err != nil || st.IsDir() {
			return usageError("--kubeconfig %s: not a readable file; allowed: a kubeconfig file (or none: the in-cluster service account)", f.kubeconfig)
		}
	}
	for _, r := range []struct{ name, v string }{{"k8s-events-rate", f.rate}, {"k8s-events-pod-rate", f.podRate}} {
		if _, _, err := parseLimit(r.v); err != nil {
			return usageError("--%s %s: %v; allowed: N/s or N/m with N a positive whole number, e.g. %s", r.name, r.v, err, defaultEventsRate)
		}
	}
	if f.queue < 1 {
		return usageError("--k8s-events-queue-size %d: out of range; allowed: 1 or more (default %d)", f.queue, podevents.DefaultQueueSize)
	}
	return nil
}

// parseLimit reads N/s or N/m: a bucket of N refilled over the unit.
func parseLimit(s string) (perSecond float64, burst int, err error) {
	perSecond, err = dedup.ParseRate(s)
	if err != nil {
		return 0, 0, err
	}
	num, _, _ := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > 1_000_000 {
		return 0, 0, errors.New("not a whole number from 1 to 1000000")
	}
	return perSecond, n, nil
}

// nodeName is the node the Events name.
func (f *podEventsFlags) nodeName() string {
	if f.node != "" {
		return f.node
	}
	if n := os.Getenv("NODE_NAME"); n != "" {
		return n
	}
	h, _ := os.Hostname()
	return h
}

// podEventsSink connects to the API server and returns the Events sink;
// none without --k8s-events.
func (f *runFlags) podEventsSink(ctx context.Context, met *metrics.Metrics) ([]pipeline.Sink, error) {
	k := &f.k8s
	if !k.on {
		return nil, nil
	}
	client, err := podevents.NewClient(k.kubeconfig, "ctrace/"+version)
	if err != nil {
		return nil, err
	}
	// A credential that may not write events is said at start, not only
	// at the first diagnosis; tracing goes on either way.
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	denied, err := podevents.CheckAccess(cctx, client)
	cancel()
	switch {
	case err != nil:
		log.Warn().Err(err).Msg("Kubernetes events: cannot ask the API server what ctrace may do; events will be tried all the same")
	case len(denied) > 0:
		log.Warn().Strs("denied", denied).Msgf("Kubernetes events: ctrace's credentials may not %s events.k8s.io events: events will be refused (and counted) until RBAC allows it (deploy/rbac.yaml)", strings.Join(denied, " or "))
	}
	node := k.nodeName()
	rate, burst, _ := parseLimit(k.rate) // checked
	podRate, podBurst, _ := parseLimit(k.podRate)
	pub, err := podevents.New(podevents.Options{
		Client:    client,
		Instance:  podevents.Controller + "-" + node,
		QueueSize: k.queue,
		Node:      podevents.Limit{Rate: rate, Burst: burst},
		PerPod:    podevents.Limit{Rate: podRate, Burst: podBurst},
		Warn:      func(msg string) { log.Warn().Msg(msg) },
	})
	if err != nil {
		return nil, err
	}
	if met != nil {
		met.Registry().MustRegister(podEventsCollector{pub})
	}
	log.Info().Str("node", node).Msgf("posting diagnoses as Kubernetes Events on their pods, as ctrace-%s", node)
	return []pipeline.Sink{sink.NewPodEvents(pub, reportPodEvents)}, nil
}

// reportPodEvents says at exit what became of the Events.
func reportPodEvents(st podevents.Stats) {
	var dropped uint64
	for _, n := range st.Dropped {
		dropped += n
	}
	ev := log.Info()
	if st.Failed > 0 || dropped > 0 {
		ev = log.Warn()
	}
	ev.Uint64("posted", st.Posted).Uint64("created", st.Created).Uint64("patched", st.Patched).
		Uint64("failed", st.Failed).Uint64("dropped", dropped).Interface("dropped_by_cause", st.Dropped).
		Msgf("Kubernetes events: %d posted (%d created, %d series counts), %d writes failed, %d dropped", st.Posted, st.Created, st.Patched, st.Failed, dropped)
}

var (
	podEventsPostedDesc = prometheus.NewDesc("ctrace_k8s_events_posted_total",
		"Diagnoses handed to the Kubernetes events recorder (--k8s-events): each a new Event or a repeat that raises an Event's series count.", nil, nil)
	podEventsSentDesc = prometheus.NewDesc("ctrace_k8s_events_sent_total",
		"Writes the API server accepted: write=\"create\" a new Event, write=\"patch\" an Event's series count.", []string{"write"}, nil)
	podEventsFailedDesc = prometheus.NewDesc("ctrace_k8s_events_failed_total",
		"Writes of Events the API server refused (RBAC, validation) or did not answer; unanswered ones are retried, each try counting.", nil, nil)
	podEventsDroppedDesc = prometheus.NewDesc("ctrace_k8s_events_dropped_total",
		"Diagnoses never posted as Events, by cause: queue_full (the API server is slow or away), node_limit (--k8s-events-rate), pod_limit (--k8s-events-pod-rate), stopped (ctrace stopped first).", []string{"cause"}, nil)
)

// podEventsCollector reads the publisher's counts at each scrape.
type podEventsCollector struct{ p *podevents.Publisher }

func (c podEventsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- podEventsPostedDesc
	ch <- podEventsSentDesc
	ch <- podEventsFailedDesc
	ch <- podEventsDroppedDesc
}

func (c podEventsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.p.Stats()
	ch <- prometheus.MustNewConstMetric(podEventsPostedDesc, prometheus.CounterValue, float64(st.Posted))
	ch <- prometheus.MustNewConstMetric(podEventsSentDesc, prometheus.CounterValue, float64(st.Created), "create")
	ch <- prometheus.MustNewConstMetric(podEventsSentDesc, prometheus.CounterValue, float64(st.Patched), "patch")
	ch <- prometheus.MustNewConstMetric(podEventsFailedDesc, prometheus.CounterValue, float64(st.Failed))
	for _, cause := range podevents.DropCauses {
		ch <- prometheus.MustNewConstMetric(podEventsDroppedDesc, prometheus.CounterValue, float64(st.Dropped[cause]), cause)
	}
}
