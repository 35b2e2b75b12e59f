package pipeline

import (
	"context"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/audit"
	"github.com/ctrace-dev/ctrace/internal/benign"
	"github.com/ctrace-dev/ctrace/internal/netns"
	"github.com/ctrace-dev/ctrace/tracer"
)

// BenchmarkStages is the pipeline's own cost per event, the stages that
// do not hold (audit records unavailable, no container) and Hints, beside
// BenchmarkClosures, the same steps wired as closures as run() did before.
func BenchmarkStages(b *testing.B) {
	var tally countSink
	p := New([]Stage{
		NewAuditJoin(context.Background(), AuditOptions{}),
		NewFilter(correlate.Filter{}),
		NewBenign(false),
		NewHints(true),
		NewLimit(0, func() {}),
	}, &tally)
	ev := failed("openat", unix.ENOENT, "cat", "path", "/nonexistent")
	b.ReportAllocs()
	for b.Loop() {
		p.Process(ev)
	}
	_ = p.Close(context.Background())
}

func BenchmarkClosures(b *testing.B) {
	var tally countSink
	filter := correlate.Filter{}
	n := 0
	emit := func(ev *tracer.Event, c *correlate.Container) {
		if !filter.Match(c) {
			return
		}
		rule, _ := benign.Match(ev)
		if rule == nil && ev.Failed() {
			tally.Failures++
		}
		n++
	}
	j := audit.NewJoiner(audit.JoinerOptions{Out: func(ev *tracer.Event) { emit(ev, nil) }})
	ev := failed("openat", unix.ENOENT, "cat", "path", "/nonexistent")
	b.ReportAllocs()
	for b.Loop() {
		j.Process(ev)
	}
	j.Close()
}

// BenchmarkStagesNetNS is BenchmarkStages with the NetNS stage and an
// index of one sandbox, on a failed open that names no netns file: what
// the stage costs the common failure (compare the two in one run).
func BenchmarkStagesNetNS(b *testing.B) {
	var tally countSink
	idx := netns.NewIndex(netns.IndexOptions{})
	idx.Observe(correlate.Container{ID: "a", Namespace: "k8s.io", NetNS: "/run/netns/cni-a", Task: correlate.TaskRunning})
	p := New([]Stage{
		NewAuditJoin(context.Background(), AuditOptions{}),
		NewFilter(correlate.Filter{}),
		NewNetNS("", idx),
		NewBenign(false),
		NewHints(true),
		NewLimit(0, func() {}),
	}, &tally)
	ev := failed("openat", unix.ENOENT, "cat", "path", "/nonexistent")
	b.ReportAllocs()
	for b.Loop() {
		ev.Reasons = ev.Reasons[:0]
		p.Process(ev)
	}
	_ = p.Close(context.Background())
}

// countSink counts the failures it is given, as the exit status's tally
// does (package sink, which this package cannot import).
type countSink struct{ Failures int }

func (c *countSink) Write(ev *Event) {
	if ev.Counted(false) && ev.Failed() {
		c.Failures++
	}
}

func (c *countSink) Close() error { return nil }
