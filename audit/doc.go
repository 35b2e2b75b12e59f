// Package audit reads the kernel's audit records of LSM denials (Landlock,
// AppArmor, SELinux) from the audit netlink multicast group and attaches
// them, as reasons, to the failing tracer events they explain.
//
// The kernel sends every audit record to the multicast group
// AUDIT_NLGRP_READLOG as well as to auditd. Listening there needs only
// CAP_AUDIT_READ, is read-only, and never registers ctrace as the audit
// daemon, so a running auditd is not displaced and sees every record.
//
// The kernel produces these records only while auditing is enabled
// (auditctl -e 1, or a running auditd). ctrace never enables it on its
// own: Status tells whether it is, so that the CLI can say why LSM
// denials cannot be named, and SetEnabled exists for tests and for an
// explicit opt-in.
//
// A failing call and its audit records reach ctrace by two independent
// paths (the eBPF ring buffer and netlink), in either order. A Joiner
// holds a failed event that an LSM could have caused for a short, bounded
// time until its records arrive, and passes every other event through at
// once, keeping the order of events.
package audit
