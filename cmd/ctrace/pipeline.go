package main

import (
	"bufio"
	"context"
	"os"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/metrics"
	"github.com/ctrace-dev/ctrace/internal/netns"
	"github.com/ctrace-dev/ctrace/internal/pipeline"
)

// pipeline lists the stages of an event's path and the outputs it reaches
// (see package pipeline): one line each. end ends the run (--count);
// met is nil without --metrics-addr; nsIndex is fed by the resolver. The
// Tally counts for the exit status.
func (f *runFlags) pipeline(ctx context.Context, end func(), resolver *correlate.Resolver, filter correlate.Filter, nsIndex *netns.Index, met *metrics.Metrics) (*pipeline.Pipeline, *pipeline.Tally, error) {
	jsonOut := f.output == "json"
	// First: it is the step that can fail, before any stage starts.
	otlp, err := f.exportSink(met)
	if err != nil {
		return nil, nil, err
	}
	stages := []pipeline.Stage{
		pipeline.NewPermission(f.ctr.procRoot, f.hostRoot, resolver.Resolve, resolver.SnapshotAt), // which path component refused, first: while the caller runs
		f.auditStage(ctx), // LSM denials from audit records
		pipeline.NewContainers(resolver, f.ctr.wait), // container and pod
		pipeline.NewFilter(filter),                   // --container, --pod, --host, ...
		pipeline.NewNetNS(f.hostRoot, nsIndex),       // a netns file's state, its container
		// Known-harmless failures: JSON events carry the mark; text and
		// the summary leave them out unless --show-benign.
		pipeline.NewBenign(f.showBenign || (jsonOut && !f.ctr.summary)),
	}
	if s := f.otlp.dedupStage(met); s != nil {
		stages = append(stages, s) // --dedup, --rate-limit
	}
	stages = append(stages,
		pipeline.NewHints(!f.noHints),   // what to do (--no-hints: nothing); after what it reads, and what hides events
		pipeline.NewLimit(f.count, end), // --count
	)

	out := bufio.NewWriterSize(&stdoutWriter{f: os.Stdout, end: end}, 64<<10)
	tally := &pipeline.Tally{}
	sinks := []pipeline.Sink{tally}
	if met != nil {
		sinks = append(sinks, metrics.NewSink(met))
	}
	if f.ctr.summary || f.ctr.summaryFile != "" {
		sinks = append(sinks, newSummarySink(f, out))
	}
	if !f.ctr.summary && f.output != "none" {
		sinks = append(sinks, newRenderSink(f, out, isTerminal(os.Stdout)))
	}
	if otlp != nil {
		sinks = append(sinks, otlp)
	}
	return pipeline.New(stages, sinks...), tally, nil
}
