// Package pipeline is the path of an event through ctrace, from the
// tracer's decoded record to the outputs:
//
//	tracer.Run ─▶ Permission ─▶ AuditJoin ─▶ Containers ─▶ Filter ─▶ NetNS ─▶ Benign ─▶ Dedup ─▶ Hints ─▶ Limit ─▶ sinks
//	  decoded      path         LSM denials   containerd    --container, netns    shown or   --dedup,  what to  --count   ├ metrics (Prometheus)
//	  record       component    from audit    container,    --pod,      file's    known-     --rate-   do about            ├ Tally (exit status)
//	               that         records;      pod; holds    --host      state,    harmless   limit     the                 ├ summary table
//	               refused      holds         for                       owner                (holds)   reasons             ├ text or JSON lines
//	                                          containerd                                                                   └ OTLP log records
//
// Exec, NSLimit and IDMap follow Permission at once (not drawn): each
// reads what the caller saw (a file's header, its user namespaces'
// limits, its mounts), which, like the permission walk, must happen
// while the caller most likely runs. Busy follows NetNS. Permission's
// Recheck follows Containers: a caller gone before containerd described
// its container is looked at again through the container's rootfs.
//
// Hints reads what Permission, Exec, AuditJoin, Containers and NetNS found, so
// it comes after them; it comes after Benign and Dedup too, which hide
// events, because no sink shows a hidden event's hints. The sinks write
// the hints they are given and find none themselves.
//
// A Stage has one job. It takes events one at a time and passes each on to
// the next stage at once, later, or not at all; a stage that holds events
// (AuditJoin waits for audit records, Containers for containerd) keeps
// their order and passes them on from its own goroutine. At the end of a
// run, Close passes on what every stage still holds, first stage first,
// waiting for it no longer than its context allows, and then closes the
// sinks. A Sink is an output (package sink): it sees every event that
// passed all stages, and takes what Event.Shown or Event.Counted says it
// takes.
//
// The stages and sinks of a run are listed, in order, in one place
// (cmd/ctrace's pipeline.go). Adding a stage or a sink is a file that
// implements Stage or Sink, and a line in that list.
package pipeline
