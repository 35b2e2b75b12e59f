// Package podevents posts ctrace's diagnoses as Kubernetes Events on the
// pods they are about (events.k8s.io/v1), where an operator already looks:
// kubectl describe pod, kubectl events.
//
// It is a thin layer over client-go's events broadcaster and recorder
// (k8s.io/client-go/tools/events), which merge identical events into a
// series: an event with the same regarding object, reason, action,
// reporting controller and instance as one already posted is not created
// again; the first repeat patches series.count to 2 at once, later repeats
// raise the count in memory, and the library writes it every 30 minutes
// and when the series ends (6 minutes without a repeat).
//
// What this package adds is what a node agent needs in front of it: a
// bounded queue, so that posting never blocks tracing (a full queue drops
// and counts); token buckets per pod and per node (the library has none),
// which drop and count as well; and counts of what the API server took and
// refused, since the library only logs that.
package podevents

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
)

// Controller is the events' reportingController: what kubectl shows in
// an event's From column.
const Controller = "ctrace"

// The API server's limits on an event's fields (in bytes).
const (
	MaxReason   = 128
	MaxAction   = 128
	MaxInstance = 128
	MaxNote     = 1024
)

// DefaultQueueSize is how many diagnoses may wait to be posted.
const DefaultQueueSize = 256

// Pod names the pod a diagnosis is about, as the container runtime's
// labels name it: no API read is needed to build the reference.
type Pod struct {
	Name, Namespace, UID string
}

// Diagnosis is one Event to post.
type Diagnosis struct {
	Pod Pod
	// Reason is the hint rule in CamelCase ("SeccompProfile").
	Reason string
	// Action tells diagnoses of one rule on one pod apart: events with the
	// same pod, reason and action are one series.
	Action string
	// Note is what to do, and the call that failed.
	Note string
}

// Limit is a token bucket: Burst events at once, refilled at Rate a
// second. The zero Limit allows everything.
type Limit struct {
	Rate  float64
	Burst int
}

func (l Limit) limiter() *rate.Limiter {
	if l.Rate <= 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Limit(l.Rate), max(l.Burst, 1))
}

// Options configure a Publisher.
type Options struct {
	// Client talks to the API server (NewClient).
	Client kubernetes.Interface
	// Instance is the events' reportingInstance: ctrace on this node
	// ("ctrace-NODE"); cut to MaxInstance.
	Instance string
	// QueueSize bounds the diagnoses waiting to be posted;
	// DefaultQueueSize when 0.
	QueueSize int
	// Node and PerPod limit the events posted, for the node and for each
	// pod.
	Node, PerPod Limit
	// Warn reports what the API server refused: the first time at once,
	// then at most once a minute.
	Warn func(msg string)
}

// Drop causes, the values of Stats.Dropped's keys.
const (
	DropQueueFull = "queue_full" // the queue was full: the API server is slow or away
	DropNodeLimit = "node_limit" // over the node's rate limit
	DropPodLimit  = "pod_limit"  // over the pod's rate limit
	DropStopped   = "stopped"    // ctrace stopped before it was posted
)

// DropCauses lists the drop causes, in the order metrics show them.
var DropCauses = []string{DropQueueFull, DropNodeLimit, DropPodLimit, DropStopped}

// Stats counts what became of the diagnoses given to Post.
type Stats struct {
	// Posted were handed to the events library, which creates an Event
	// or adds them to a series.
	Posted uint64
	// Created and Patched count the API server's successful writes: a
	// new Event, a series count.
	Created, Patched uint64
	// Failed counts writes the API server refused or did not answer (the
	// library retries unanswered ones, each try counting).
	Failed uint64
	// Dropped counts diagnoses never posted, by cause.
	Dropped map[string]uint64
}

// Publisher posts diagnoses as Events.
type Publisher struct {
	o           Options
	broadcaster events.EventBroadcaster
	recorder    events.EventRecorder
	node        *rate.Limiter

	queue  chan Diagnosis
	mu     sync.Mutex // guards closed against Post
	closed bool
	pods   map[types.UID]*rate.Limiter // only the worker uses it
	worker sync.WaitGroup
	cancel context.CancelFunc

	posted, created, patched, failed atomic.Uint64
	dropped                          [4]atomic.Uint64 // by DropCauses index
	inflight                         atomic.Int64     // API writes under way
	lastWrite                        atomic.Int64     // unix nanos of the last write's end

	warnMu   sync.Mutex
	lastWarn time.Time
	quiet    uint64 // failures since the last warning
}

// New starts a publisher: its worker, and the library's goroutines that
// write to the API server. Close stops them.
func New(o Options) (*Publisher, error) {
	if o.Client == nil {
		return nil, errors.New("podevents: no client")
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Warn == nil {
		o.Warn = func(string) {}
	}
	o.Instance = Cut(o.Instance, MaxInstance)
	p := &Publisher{
		o:     o,
		node:  o.Node.limiter(),
		queue: make(chan Diagnosis, o.QueueSize),
		pods:  map[types.UID]*rate.Limiter{},
	}
	// The library logs what it cannot write through klog; ctrace counts
	// and reports that itself (Warn), so its logger is silenced.
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), logr.Discard()))
	p.cancel = cancel
	p.broadcaster = events.NewBroadcaster(&countingSink{p: p, inner: &events.EventSinkImpl{Interface: o.Client.EventsV1()}})
	if err := p.broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		cancel()
		return nil, fmt.Errorf("events broadcaster: %w", err)
	}
	p.recorder = p.broadcaster.NewRecorder(scheme.Scheme, Controller).WithLogger(logr.Discard())
	p.worker.Add(1)
	go p.run()
	return p, nil
}

// Post queues d and returns at once; a full queue drops it and counts it.
func (p *Publisher) Post(d Diagnosis) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.drop(DropStopped, 1)
		return
	}
	select {
	case p.queue <- d:
	default:
		p.drop(DropQueueFull, 1)
	}
}

func (p *Publisher) drop(cause string, n uint64) {
	for i, c := range DropCauses {
		if c == cause {
			p.dropped[i].Add(n)
		}
	}
}

// maxPods bounds the per-pod limiters kept; past it the full ones (pods
// that posted nothing for a while) are forgotten.
const maxPods = 4096

func (p *Publisher) run() {
	defer p.worker.Done()
	for d := range p.queue {
		pod := p.pods[types.UID(d.Pod.UID)]
		if pod == nil {
			if len(p.pods) >= maxPods {
				p.prunePods()
			}
			pod = p.o.PerPod.limiter()
			p.pods[types.UID(d.Pod.UID)] = pod
		}
		// The pod's budget first: a noisy pod must not use up the node's.
		if !pod.Allow() {
			p.drop(DropPodLimit, 1)
			continue
		}
		if !p.node.Allow() {
			p.drop(DropNodeLimit, 1)
			continue
		}
		ref := &corev1.ObjectReference{
			Kind:       "Pod",
			APIVersion: "v1",
			Name:       d.Pod.Name,
			Namespace:  d.Pod.Namespace,
			UID:        types.UID(d.Pod.UID),
		}
		p.posted.Add(1)
		p.recorder.Eventf(ref, nil, corev1.EventTypeWarning, Cut(d.Reason, MaxReason), Cut(d.Action, MaxAction), "%s", Cut(d.Note, MaxNote))
	}
}

func (p *Publisher) prunePods() {
	for uid, l := range p.pods {
		if l.Tokens() >= float64(l.Burst()) {
			delete(p.pods, uid)
		}
	}
	if len(p.pods) >= maxPods {
		clear(p.pods) // every pod is busy: start over rather than grow
	}
}

// Stats says what became of the diagnoses so far.
func (p *Publisher) Stats() Stats {
	s := Stats{
		Posted:  p.posted.Load(),
		Created: p.created.Load(),
		Patched: p.patched.Load(),
		Failed:  p.failed.Load(),
		Dropped: map[string]uint64{},
	}
	for i, c := range DropCauses {
		s.Dropped[c] = p.dropped[i].Load()
	}
	return s
}

// quietFor is how long no write may be under way or end before Close
// takes the library's queue as drained: the library says nothing about
// what it still holds.
const quietFor = 300 * time.Millisecond

// Close posts what is queued, waits until the API writes have ended (for
// as long as ctx allows), and stops every goroutine the publisher
// started. Diagnoses posted later are dropped and counted.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.queue)
	p.mu.Unlock()

	done := make(chan struct{})
	go func() { p.worker.Wait(); close(done) }()
	var err error
	select {
	case <-done:
		err = p.waitQuiet(ctx)
	case <-ctx.Done():
		err = ctx.Err()
	}
	// Cancelling ends the library's retries and its series refresh; the
	// worker, if still running, stops at its next diagnosis.
	p.cancel()
	p.broadcaster.Shutdown()
	<-done
	return err
}

// waitQuiet waits until no write has been under way for quietFor.
func (p *Publisher) waitQuiet(ctx context.Context) error {
	start := time.Now().UnixNano()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		last := max(p.lastWrite.Load(), start)
		if p.inflight.Load() == 0 && time.Since(time.Unix(0, last)) >= quietFor {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// countingSink is the library's sink to the API server, counting what the
// server took and refused, and naming this node as the reporting instance
// (the library's recorder would name the host, which in a pod is the pod).
type countingSink struct {
	p     *Publisher
	inner events.EventSink
}

func (s *countingSink) prepare(ev *eventsv1.Event) *eventsv1.Event {
	ev = ev.DeepCopy()
	if s.p.o.Instance != "" {
		ev.ReportingInstance = s.p.o.Instance
	}
	s.p.inflight.Add(1)
	return ev
}

func (s *countingSink) done(err error, ok *atomic.Uint64, what string) {
	defer func() {
		s.p.lastWrite.Store(time.Now().UnixNano())
		s.p.inflight.Add(-1)
	}()
	if err == nil {
		ok.Add(1)
		return
	}
	// A patch of a series whose event is gone is answered by a create:
	// the library's normal course, not a failure.
	if what == "patch" && apierrors.IsNotFound(err) {
		return
	}
	s.p.failed.Add(1)
	s.p.warn(what, err)
}

func (s *countingSink) Create(ctx context.Context, ev *eventsv1.Event) (*eventsv1.Event, error) {
	ev = s.prepare(ev)
	out, err := s.inner.Create(ctx, ev)
	s.done(err, &s.p.created, "create")
	return out, err
}

func (s *countingSink) Update(ctx context.Context, ev *eventsv1.Event) (*eventsv1.Event, error) {
	ev = s.prepare(ev)
	out, err := s.inner.Update(ctx, ev)
	s.done(err, &s.p.patched, "update")
	return out, err
}

func (s *countingSink) Patch(ctx context.Context, ev *eventsv1.Event, data []byte) (*eventsv1.Event, error) {
	ev = s.prepare(ev)
	out, err := s.inner.Patch(ctx, ev, data)
	s.done(err, &s.p.patched, "patch")
	return out, err
}

// warn reports a refused write at once the first time, then at most once a
// minute with the count since.
func (p *Publisher) warn(what string, err error) {
	p.warnMu.Lock()
	defer p.warnMu.Unlock()
	p.quiet++
	if !p.lastWarn.IsZero() && time.Since(p.lastWarn) < time.Minute {
		return
	}
	n := p.quiet
	p.quiet, p.lastWarn = 0, time.Now()
	hint := ""
	if apierrors.IsForbidden(err) {
		hint = " (ctrace's service account needs create and patch on events: deploy/rbac.yaml)"
	}
	p.o.Warn(fmt.Sprintf("Kubernetes events: %d %s refused or unanswered, the last a %s: %v%s", n, writes(n), what, err, hint))
}

func writes(n uint64) string {
	if n == 1 {
		return "write"
	}
	return "writes"
}

// Cut shortens s to at most n bytes, on a character boundary, ending it
// with "..." when it was cut.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const dots = "..."
	i := n - len(dots)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + dots
}
