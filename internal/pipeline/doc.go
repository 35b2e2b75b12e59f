// Package pipeline is the path of an event through ctrace, from the
// tracer's decoded record to the outputs:
//
//	tracer.Run ──▶ AuditJoin ──▶ Containers ──▶ Filter ──▶ NetNS ──▶ Benign ──▶ Limit ──▶ sinks
//	  decoded       LSM denials   containerd      --container, netns      shown or    --count   ├ metrics (Prometheus)
//	  record        from audit    container,      --pod, --host  file's   known-               ├ Tally (exit status)
//	                records;      pod; holds                     state,   harmless            ├ summary table
//	                holds         for containerd                 owner                        └ text or JSON lines
//
// A Stage has one job. It takes events one at a time and passes each on to
// the next stage at once, later, or not at all; a stage that holds events
// (AuditJoin waits for audit records, Containers for containerd) keeps
// their order and passes them on from its own goroutine. At the end of a
// run, Close passes on what every stage still holds, first stage first,
// waiting for it no longer than its context allows, and then closes the
// sinks. A Sink is an output: it sees every event that passed all stages.
//
// The stages and sinks of a run are listed, in order, in one place
// (cmd/ctrace's pipeline.go). Adding a stage or a sink is a file that
// implements Stage or Sink, and a line in that list.
package pipeline
