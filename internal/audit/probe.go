package audit

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Availability says whether LSM denials can be named from audit records
// on this node, and if not, why. ctrace check prints it; ctrace run uses
// it to decide whether to hold events at all.
type Availability struct {
	// ReaderErr is why the multicast group cannot be joined; nil if it
	// can.
	ReaderErr error
	// State is the kernel's audit status, valid when StatusErr is nil.
	State     State
	StatusErr error
}

// Probe joins and leaves the multicast group and reads the audit status.
// It changes nothing.
func Probe() Availability {
	var a Availability
	if fd, err := openSocket(1<<(groupReadLog-1), false); err != nil {
		a.ReaderErr = err
	} else {
		unix.Close(fd)
	}
	a.State, a.StatusErr = Status()
	return a
}

// Usable reports whether holding events for audit records can pay off:
// the group can be read and auditing is enabled, or its state cannot be
// read (reading it needs CAP_AUDIT_CONTROL, reading records does not), in
// which case records may still come.
func (a Availability) Usable() bool {
	return a.ReaderErr == nil && (a.StatusErr != nil || a.State.Enabled)
}

// String describes the availability in one line for ctrace check and
// run's start-up notice, with what to do when it is missing.
func (a Availability) String() string {
	switch {
	case a.ReaderErr != nil:
		return fmt.Sprintf("unavailable: %v; LSM denials reported through audit (Landlock, AppArmor, SELinux) cannot be named", a.ReaderErr)
	case a.StatusErr != nil:
		return fmt.Sprintf("audit multicast group readable, audit status unknown (%v): LSM denials are named only if auditing is enabled", a.StatusErr)
	case !a.State.Enabled:
		return "auditing is disabled, so the kernel reports no LSM denials (Landlock, AppArmor, SELinux) to name; " +
			"enable it with `auditctl -e 1` or by starting auditd (ctrace leaves it as it is)"
	case a.State.DaemonPID != 0:
		return fmt.Sprintf("audit multicast group, auditing enabled (auditd pid %d, undisturbed)", a.State.DaemonPID)
	}
	return "audit multicast group, auditing enabled (no auditd)"
}
