// Package metrics counts what ctrace run sees as Prometheus metrics and
// serves them over HTTP, with /healthz for a node agent's probes.
//
// It is the last stage of the pipeline, beside the renderer: it reads
// decoded, enriched events and never reaches back into the tracer.
//
// Label sets are bounded. ctrace_failures_total is labelled by syscall
// (about twenty names), errno name, containerd namespace ("" for host
// processes) and reason kind (seven values); container IDs become labels
// only with Options.ContainerLabels, and then at most Options.MaxContainers
// of them: later containers are counted under container_id="other". The
// number of series of the vector is capped at Options.MaxSeries; failures
// beyond it are counted in one series whose labels are all "other", so that
// the total stays exact.
package metrics

import (
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/benign"
	"github.com/ctrace-dev/ctrace/tracer"
	"github.com/ctrace-dev/ctrace/tracer/xlat"
)

// Defaults of Options.
const (
	DefaultMaxSeries     = 2000
	DefaultMaxContainers = 500
)

// Other is the label value that stands for everything beyond a cap.
const Other = "other"

// ReasonNone is the reason label of a failure no layer was named for.
const ReasonNone = "none"

// Options configure the metrics.
type Options struct {
	// ContainerLabels adds a container_id label to ctrace_failures_total.
	ContainerLabels bool
	// MaxContainers caps the distinct container_id values; 0 means
	// DefaultMaxContainers.
	MaxContainers int
	// MaxSeries caps the series of ctrace_failures_total; 0 means
	// DefaultMaxSeries.
	MaxSeries int
	// Version and Commit go into ctrace_build_info.
	Version, Commit string
	// RingbufBytes is the size of the tracer's ring buffer.
	RingbufBytes int
}

// Metrics holds ctrace's collectors in a registry of its own. Its methods
// are safe for concurrent use.
type Metrics struct {
	opts     Options
	reg      *prometheus.Registry
	failures *prometheus.CounterVec
	benign   *prometheus.CounterVec
	lost     prometheus.Counter
	misses   prometheus.Counter
	findings *prometheus.GaugeVec
	checked  prometheus.Gauge
	fixed    *prometheus.CounterVec
	fixErrs  *prometheus.CounterVec

	mu         sync.Mutex
	series     map[string]bool // label tuples of failures in use
	containers map[string]bool // container_id values in use
	lostSeen   uint64
}

// New makes the metrics and registers them, with the Go and process
// collectors.
func New(opts Options) *Metrics {
	if opts.MaxSeries <= 0 {
		opts.MaxSeries = DefaultMaxSeries
	}
	if opts.MaxContainers <= 0 {
		opts.MaxContainers = DefaultMaxContainers
	}
	labels := []string{"syscall", "errno", "container_namespace", "reason"}
	if opts.ContainerLabels {
		labels = append(labels, "container_id")
	}
	m := &Metrics{
		opts: opts,
		reg:  prometheus.NewRegistry(),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctrace_failures_total",
			Help: "Failed traced syscalls, not counting known-harmless ones, by syscall, errno, containerd namespace (empty for host processes) and the kind of reason found (seccomp, lsm, permission, netns, capability, kernel_log, none: the most specific found).",
		}, labels),
		benign: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctrace_events_benign_total",
			Help: "Failed traced syscalls recognised as known-harmless, by the rule that matched.",
		}, []string{"rule"}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ctrace_events_lost_total",
			Help: "Records the kernel could not send because the ring buffer was full.",
		}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ctrace_correlation_misses_total",
			Help: "Failures of a container whose containerd metadata could not be found (shown with the container id only).",
		}),
		findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ctrace_netns_findings",
			Help: "Inconsistencies between containerd and the node that ctrace doctor's checks found at their last run, by kind (netns-stale, netns-missing, netns-leaked, netns-busy, ipam-leaked, sandbox-orphaned).",
		}, []string{"kind"}),
		checked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ctrace_doctor_last_run_timestamp_seconds",
			Help: "When the doctor's checks last ran to the end (Unix time); 0 until they have.",
		}),
		fixed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctrace_doctor_fixed_total",
			Help: "Findings that --doctor-fix fixed, by kind.",
		}, []string{"kind"}),
		fixErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctrace_doctor_fix_errors_total",
			Help: "Fixes that --doctor-fix attempted and that failed, by kind (findings it left alone are not errors).",
		}, []string{"kind"}),
		series:     map[string]bool{},
		containers: map[string]bool{},
	}
	ring := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ctrace_ringbuf_bytes",
		Help: "Size of the ring buffer the kernel sends records through.",
	})
	ring.Set(float64(opts.RingbufBytes))
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ctrace_build_info",
		Help: "Always 1; the labels say which ctrace is running.",
	}, []string{"version", "commit", "goversion", "goarch"})
	info.WithLabelValues(opts.Version, opts.Commit, runtime.Version(), runtime.GOARCH).Set(1)
	m.reg.MustRegister(m.failures, m.benign, m.lost, m.misses, m.findings, m.checked, m.fixed, m.fixErrs, ring, info,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Findings sets the doctor's gauges from one run of its checks: the
// number of findings of each kind (every kind present, zeros included, so
// that a fixed problem shows as 0 rather than as an old value) and the
// time of the run.
func (m *Metrics) Findings(byKind map[string]int, at time.Time) {
	if m == nil {
		return
	}
	for k, n := range byKind {
		m.findings.WithLabelValues(k).Set(float64(n))
	}
	m.checked.Set(float64(at.UnixNano()) / 1e9)
}

// Fixes counts one run of the doctor's fixes: what it fixed and the
// fixes that failed, by kind. Every kind of kinds is created at 0 first,
// so that a rate over them has a series to start from.
func (m *Metrics) Fixes(kinds []string, fixed, failed map[string]int) {
	if m == nil {
		return
	}
	for _, k := range kinds {
		m.fixed.WithLabelValues(k).Add(float64(fixed[k]))
		m.fixErrs.WithLabelValues(k).Add(float64(failed[k]))
	}
}

// Registry is where the metrics are registered, for tests and handlers.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Observe counts one event that passed run's filters: c is its container
// (nil for a host process), rule the benign rule it matched or nil.
// Successful calls (--all) are not counted.
func (m *Metrics) Observe(ev *tracer.Event, c *correlate.Container, rule *benign.Rule) {
	if m == nil || !ev.Failed() {
		return
	}
	if rule != nil {
		m.benign.WithLabelValues(rule.Name).Add(float64(ev.Calls()))
		return
	}
	ns, id := "", ""
	if c != nil {
		ns, id = c.Namespace, c.ID
		if !c.Known {
			m.misses.Inc()
		}
	}
	values := []string{ev.Syscall, xlat.ErrnoName(ev.Errno), ns, ReasonLabel(ev.Reasons)}
	m.mu.Lock()
	if m.opts.ContainerLabels {
		if id != "" && !m.containers[id] {
			if len(m.containers) < m.opts.MaxContainers {
				m.containers[id] = true
			} else {
				id = Other
			}
		}
		values = append(values, id)
	}
	k := key(values)
	if !m.series[k] {
		if len(m.series) < m.opts.MaxSeries {
			m.series[k] = true
		} else {
			for i := range values {
				values[i] = Other
			}
		}
	}
	m.mu.Unlock()
	// A count made in the kernel stands for its calls.
	m.failures.WithLabelValues(values...).Add(float64(ev.Calls()))
}

// Lost takes the kernel's running total of lost records.
func (m *Metrics) Lost(total uint64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if total > m.lostSeen {
		m.lost.Add(float64(total - m.lostSeen))
		m.lostSeen = total
	}
}

// reasonRank orders the reason kinds by how precisely each names the
// layer that refused the call, for a failure's one reason label: a
// seccomp filter or an LSM refuses outright; a permission reason names
// the file and the ids that refused; an ns_limit or idmap reason the
// limit or check that refused; a busy reason the processes that hold the
// mount (also when the mount is a netns file); a netns reason the
// namespace file;
// a capability denial may be one of several checks; a kernel log line is
// context more often than cause; an exec reason names the file whose
// header the kernel refused, and comes first: the kinds it meets are
// capability probes (an exec's memory accounting checks CAP_SYS_ADMIN).
// Every kind in tracer.ReasonKinds has a rank (TestEveryReasonKindHasALabel).
var reasonRank = map[tracer.ReasonKind]int{
	tracer.ReasonSeccomp:    9,
	tracer.ReasonLSM:        8,
	tracer.ReasonPermission: 7,
	tracer.ReasonNSLimit:    6,
	tracer.ReasonIDMap:      5,
	tracer.ReasonBusy:       4,
	tracer.ReasonNetNS:      3,
	tracer.ReasonCapability: 2,
	tracer.ReasonKernelLog:  1,
	tracer.ReasonExec:       10,
}

// ReasonLabel is the reason label of a failure: its reason kind of the
// highest rank (reasonRank), or "none".
func ReasonLabel(rs []tracer.Reason) string {
	best, rank := ReasonNone, 0
	for _, r := range rs {
		if n := reasonRank[r.Kind()]; n > rank {
			best, rank = string(r.Kind()), n
		}
	}
	return best
}

func key(vs []string) string {
	n := 0
	for _, v := range vs {
		n += len(v) + 1
	}
	b := make([]byte, 0, n)
	for _, v := range vs {
		b = append(b, v...)
		b = append(b, 0)
	}
	return string(b)
}

// AddCounter registers a counter whose value another part of ctrace
// keeps (the exporter's failures, the rate limit's drops): value is read at
// each scrape and must be safe to call from any goroutine.
func (m *Metrics) AddCounter(name, help string, value func() uint64) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
		func() float64 { return float64(value()) }))
}
