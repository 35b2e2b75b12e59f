package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// State is the kernel's audit status (struct audit_status), as
// auditctl -s shows it.
type State struct {
	// Enabled is set when the kernel produces audit records
	// (enabled 1 or 2). Immutable is enabled 2: locked until reboot.
	Enabled   bool
	Immutable bool
	// DaemonPID is the pid of the registered audit daemon, 0 for none.
	DaemonPID uint32
	// Lost counts records the kernel dropped (backlog full, rate limit).
	Lost    uint32
	Backlog uint32
}

// audit_status field offsets, in __u32 units.
const (
	stMask = iota
	stEnabled
	stFailure
	stPID
	stRateLimit
	stBacklogLimit
	stLost
	stBacklog
	stWords // the prefix ctrace reads and writes
)

// requestTimeout bounds how long a status request waits for the kernel.
const requestTimeout = 2 * time.Second

// Status asks the kernel whether auditing is enabled (AUDIT_GET). It
// needs CAP_AUDIT_CONTROL in the initial user and PID namespaces; a
// debug pod needs hostPID for it.
func Status() (State, error) {
	var st State
	reply, err := request(unix.AUDIT_GET, nil)
	if err != nil {
		return st, fmt.Errorf("get audit status: %w", err)
	}
	if len(reply) < stWords*4 {
		return st, fmt.Errorf("get audit status: reply of %d bytes, want at least %d", len(reply), stWords*4)
	}
	word := func(i int) uint32 { return binary.NativeEndian.Uint32(reply[i*4:]) }
	st.Enabled = word(stEnabled) != 0
	st.Immutable = word(stEnabled) == 2
	st.DaemonPID = word(stPID)
	st.Lost = word(stLost)
	st.Backlog = word(stBacklog)
	return st, nil
}

// SetEnabled turns auditing on or off (AUDIT_SET with only the enabled
// bit in the mask, as auditctl -e does) and returns the state before.
// It changes nothing else: the audit daemon's registration, rules and
// limits stay as they are. Turning auditing on affects the whole node:
// processes started while it is on get an audit context and the audited
// syscall path, and without auditd the kernel copies every record to its
// log. Callers restore the previous state when done.
func SetEnabled(on bool) (State, error) {
	prev, err := Status()
	if err != nil {
		return prev, err
	}
	if prev.Immutable {
		return prev, errors.New("set audit status: the audit configuration is locked (enabled 2) until reboot")
	}
	var v uint32
	if on {
		v = 1
	}
	b := make([]byte, stWords*4)
	binary.NativeEndian.PutUint32(b[stMask*4:], unix.AUDIT_STATUS_ENABLED)
	binary.NativeEndian.PutUint32(b[stEnabled*4:], v)
	if _, err := request(unix.AUDIT_SET, b); err != nil {
		return prev, fmt.Errorf("set audit enabled=%d: %w", v, err)
	}
	return prev, nil
}

// request sends one request on a fresh socket and waits for its answer:
// the reply's payload for AUDIT_GET, nil for a request only acknowledged.
func request(typ uint16, payload []byte) ([]byte, error) {
	fd, err := openSocket(0, false)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(requestTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("set receive timeout: %w", err)
	}
	const seq = 1
	msg := encodeMessage(typ, unix.NLM_F_REQUEST|unix.NLM_F_ACK, seq, payload)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("send: %w", explainPerm(err))
	}
	buf := make([]byte, 8192)
	var reply []byte
	acked := false
	for !acked || (typ == unix.AUDIT_GET && reply == nil) {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				return nil, errors.New("no answer from the kernel within " + requestTimeout.String())
			}
			return nil, fmt.Errorf("receive: %w", err)
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // only the kernel answers
		}
		msgs, err := splitMessages(buf[:n])
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if m.seq != seq {
				continue
			}
			switch m.typ {
			case unix.NLMSG_ERROR:
				if len(m.payload) < 4 {
					return nil, fmt.Errorf("%w: short error message", errMalformed)
				}
				if e := int32(binary.NativeEndian.Uint32(m.payload)); e != 0 {
					return nil, explainPerm(unix.Errno(-e))
				}
				acked = true
			case typ:
				reply = append([]byte(nil), m.payload...)
			}
		}
	}
	return reply, nil
}

// explainPerm says what a refused request lacks.
func explainPerm(err error) error {
	switch {
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("%w (needs CAP_AUDIT_CONTROL in the initial user and PID namespaces)", err)
	case errors.Is(err, unix.ECONNREFUSED):
		return fmt.Errorf("%w (audit is only reachable from the initial user namespace)", err)
	}
	return err
}

// EnableTemporarily turns auditing on if it is off and returns the
// function that turns it off again; when auditing was already on, restore
// does nothing. It is for tests and for an explicit opt-in of the user:
// the caller must run restore on every way out, or auditing stays on.
func EnableTemporarily() (restore func() error, err error) {
	prev, err := SetEnabled(true)
	if err != nil {
		return nil, err
	}
	if prev.Enabled {
		return func() error { return nil }, nil
	}
	return func() error {
		if _, err := SetEnabled(false); err != nil {
			return fmt.Errorf("restore auditing to disabled: %w", err)
		}
		return nil
	}, nil
}
