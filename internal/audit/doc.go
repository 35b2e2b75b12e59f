// Package audit reads the kernel's audit records of LSM denials (Landlock,
// AppArmor, SELinux) from the audit netlink multicast group and attaches
// them, as reasons, to the failing tracer events they explain.
//
// # Reading
//
// The kernel sends every audit record to the multicast group
// AUDIT_NLGRP_READLOG as well as to auditd. A Reader listens there: that
// needs only CAP_AUDIT_READ, is read-only, and never registers ctrace as
// the audit daemon (it never sets the audit pid), so a running auditd is
// not displaced and still gets every record.
//
// # Matching
//
// An LSM logs its denial during the call (type 1400 AVC for AppArmor and
// SELinux, 1423 LANDLOCK_ACCESS for Landlock); the SYSCALL record (1300)
// with the call's number, exit code and pid follows at the call's exit,
// under the same serial. A Matcher keeps only events that hold a denial
// and pairs each with one failed tracer event by pid, syscall number,
// exit code and time. A Landlock record carries no pid, so a Landlock
// denial is named only when its SYSCALL record comes with it, which
// needs the task to have an audit context: tasks started before auditing
// was enabled have none.
//
// # Joining
//
// A failing call and its audit records reach ctrace by two independent
// paths (the eBPF ring buffer and netlink), in either order: on the
// development machine the SYSCALL record arrives between 1 ms before and
// 4 ms after the event. A Joiner holds a failed event that an LSM could
// have caused (EACCES or EPERM) until its denial arrives or Wait passes,
// passes every other event on at once, and keeps the order of events.
//
// # Auditing off
//
// The kernel produces records only while auditing is enabled (auditctl
// -e 1, or a running auditd). ctrace never enables it on its own:
// enabling it affects the whole node (processes started meanwhile get an
// audit context; without auditd every record is also copied to the
// kernel log), and a ctrace that dies would leave it on. Probe tells
// ctrace check and run's start-up notice whether denials can be named and
// how to change that. EnableTemporarily serves tests and an explicit
// opt-in flag, which must restore the state on every way out.
//
// # Wiring in ctrace run
//
//	wait := reasonWait // --reason-wait, default audit.DefaultWait
//	rd, err := audit.OpenReader()
//	if av := audit.Probe(); err != nil || !av.Usable() {
//		notice(av.String())
//		wait = 0 // nothing to wait for: events pass straight through
//	}
//	j := audit.NewJoiner(audit.JoinerOptions{Wait: wait, Out: render, Flush: flush})
//	var wg sync.WaitGroup
//	if rd != nil {
//		wg.Go(func() {
//			if err := rd.Run(ctx, j.Record); err != nil {
//				warn(err)
//			}
//			j.SetWait(0) // no more records: stop holding
//		})
//	}
//	err = tr.Run(ctx, tracer.Sink{Event: j.Process, ...})
//	j.Close() // releases what is still held, in order
//	wg.Wait()
//	if rd != nil {
//		rd.Close()
//	}
//
// Out runs under the Joiner's lock, on the goroutine of Process, Record or
// a timer, one call at a time; it must not call back into the Joiner.
package audit
