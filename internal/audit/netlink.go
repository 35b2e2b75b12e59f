package audit

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// groupReadLog is AUDIT_NLGRP_READLOG, the read-only multicast group of
// audit records; as a bind(2) mask it is bit group-1.
const groupReadLog = 1

// nlHeaderLen is the size of struct nlmsghdr.
const nlHeaderLen = unix.SizeofNlMsghdr

// errMalformed marks a netlink message that does not parse.
var errMalformed = errors.New("malformed netlink message")

// nlMessage is one netlink message: its type and payload.
type nlMessage struct {
	typ     uint16
	flags   uint16
	seq     uint32
	payload []byte
}

// splitMessages splits a datagram into netlink messages. The audit
// multicast group sends one message per datagram; when a header's length
// disagrees with the datagram it is taken to cover the rest of the
// datagram, because some kernels wrote the payload's length there
// instead of the message's (audit_log_end's "length quirk").
func splitMessages(b []byte) ([]nlMessage, error) {
	var out []nlMessage
	for len(b) > 0 {
		if len(b) < nlHeaderLen {
			return out, fmt.Errorf("%w: %d bytes left, want a %d-byte header", errMalformed, len(b), nlHeaderLen)
		}
		n := int(binary.NativeEndian.Uint32(b[0:4]))
		m := nlMessage{
			typ:   binary.NativeEndian.Uint16(b[4:6]),
			flags: binary.NativeEndian.Uint16(b[6:8]),
			seq:   binary.NativeEndian.Uint32(b[8:12]),
		}
		if n < nlHeaderLen || n > len(b) {
			n = len(b)
		}
		m.payload = b[nlHeaderLen:n]
		out = append(out, m)
		n = (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
		if n >= len(b) {
			break
		}
		b = b[n:]
	}
	return out, nil
}

// encodeMessage builds one request to the kernel.
func encodeMessage(typ uint16, flags uint16, seq uint32, payload []byte) []byte {
	b := make([]byte, nlHeaderLen+len(payload))
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	binary.NativeEndian.PutUint16(b[6:8], flags)
	binary.NativeEndian.PutUint32(b[8:12], seq)
	copy(b[nlHeaderLen:], payload)
	return b
}

// openSocket opens a NETLINK_AUDIT socket bound to the given multicast
// groups (0 for a plain request socket).
func openSocket(groups uint32, nonblock bool) (int, error) {
	typ := unix.SOCK_RAW | unix.SOCK_CLOEXEC
	if nonblock {
		typ |= unix.SOCK_NONBLOCK
	}
	fd, err := unix.Socket(unix.AF_NETLINK, typ, unix.NETLINK_AUDIT)
	if err != nil {
		return -1, fmt.Errorf("open audit netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		if groups != 0 && errors.Is(err, unix.EPERM) {
			return -1, fmt.Errorf("join the audit multicast group: %w (needs CAP_AUDIT_READ)", err)
		}
		return -1, fmt.Errorf("bind audit netlink socket: %w", err)
	}
	return fd, nil
}
