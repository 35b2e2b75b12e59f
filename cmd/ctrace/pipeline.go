package main

import (
	"bufio"
	"context"
	"os"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/dedup"
	"github.com/ctrace-dev/ctrace/internal/metrics"
	"github.com/ctrace-dev/ctrace/internal/netns"
	"github.com/ctrace-dev/ctrace/internal/pipeline"
	"github.com/ctrace-dev/ctrace/internal/render"
	"github.com/ctrace-dev/ctrace/internal/sink"
)

// wired is a run's pipeline and what run reads from it at exit.
type wired struct {
	*pipeline.Pipeline
	tally *sink.Tally
	// dedup is the --dedup and --rate-limit stage, nil without them.
	dedup *dedup.Stage
}

// pipeline lists the stages of an event's path and the outputs it reaches
// (see packages pipeline and sink): one line each. end ends the run
// (--count); met is nil without --metrics-addr; nsIndex is fed by the
// resolver.
func (f *runFlags) pipeline(ctx context.Context, end func(), resolver *correlate.Resolver, filter correlate.Filter, nsIndex *netns.Index, met *metrics.Metrics) (*wired, error) {
	jsonOut := f.output == "json"
	// First: it is the step that can fail, before any stage starts.
	otlp, err := f.exportSink(met)
	if err != nil {
		return nil, err
	}
	podEvents, err := f.podEventsSink(ctx, met) // --k8s-events: Kubernetes Events on pods
	if err != nil {
		return nil, err
	}
	w := &wired{tally: &sink.Tally{}, dedup: f.dedup.stage(otlp != nil, met)}
	perm := pipeline.NewPermission(f.ctr.procRoot, f.hostRoot, resolver.Resolve, resolver.SnapshotAt)
	exec := pipeline.NewExec(f.ctr.procRoot, f.hostRoot, resolver.Resolve)
	stages := []pipeline.Stage{
		perm,                                // which path component refused, first: while the caller runs
		exec,                                // an exec's missing interpreter or foreign machine, as early
		pipeline.NewNSLimit(f.ctr.procRoot), // which namespace limit or policy refused, while the caller's namespace lives
		pipeline.NewIDMap(f.ctr.procRoot),   // why a mount could not be idmapped, while the caller's descriptors do
		f.auditStage(ctx),                   // LSM denials from audit records
		pipeline.NewContainers(resolver, f.ctr.wait), // container and pod
		perm.Recheck(),                         // the permission walk again, for a caller gone before containerd described its container
		exec.Recheck(),                         // the same for an exec's file
		pipeline.NewFilter(filter),             // --container, --pod, --host, ...
		pipeline.NewNetNS(f.hostRoot, nsIndex), // a netns file's state, its container
		pipeline.NewBusy(f.ctr.procRoot, resolver.Containers), // who holds a busy mount
		// Known-harmless failures: JSON events carry the mark; text and
		// the summary leave them out unless --show-benign.
		pipeline.NewBenign(f.showBenign || (jsonOut && !f.ctr.summary)),
	}
	if w.dedup != nil {
		stages = append(stages, w.dedup) // --dedup, --rate-limit
	}
	stages = append(stages,
		pipeline.NewHints(!f.noHints),   // what to do (--no-hints: nothing); after what it reads, and what hides events
		pipeline.NewLimit(f.count, end), // --count
	)

	out := bufio.NewWriterSize(&stdoutWriter{f: os.Stdout, end: end}, 64<<10)
	sinks := []pipeline.Sink{w.tally}
	if met != nil {
		sinks = append(sinks, sink.NewMetrics(met))
	}
	if f.ctr.summary || f.ctr.summaryFile != "" {
		o := sink.SummaryOptions{File: f.ctr.summaryFile, JSON: jsonOut, Benign: f.showBenign, Done: closedStdout}
		if f.ctr.summary {
			o.Out = out
		}
		sinks = append(sinks, sink.NewSummary(o))
	}
	if !f.ctr.summary && f.output != "none" {
		r := render.New(f.output, out, isTerminal(os.Stdout))
		r.Explain, r.Window = f.explain, f.dedup.window
		sinks = append(sinks, sink.NewLines(r, out, closedStdout))
	}
	if otlp != nil {
		sinks = append(sinks, otlp)
	}
	sinks = append(sinks, podEvents...)
	w.Pipeline = pipeline.New(stages, sinks...)
	return w, nil
}
