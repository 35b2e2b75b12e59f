package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// recvBufferSize is the socket receive buffer ctrace asks for: room for
// about a thousand records of a burst while the reader is descheduled.
// When it overflows the kernel drops records for ctrace alone, which
// Stats counts as Lost; auditd is not affected.
const recvBufferSize = 4 << 20

// firstRecordType is AUDIT_FIRST_USER_MSG: types below it are requests
// and replies, not records.
const firstRecordType = 1100

// datagramSize holds the largest audit record (MAX_AUDIT_MESSAGE_LENGTH
// is 8970 bytes) with room to spare.
const datagramSize = 64 << 10

// Reader reads audit records from the multicast group. It is read-only:
// it never sets the audit daemon's pid, so auditd keeps its place.
type Reader struct {
	f     *os.File
	stats readerStats
}

type readerStats struct {
	records, malformed, overruns, foreign atomic.Uint64
}

// ReaderStats counts what a Reader saw.
type ReaderStats struct {
	Records   uint64 // records parsed and passed on
	Malformed uint64 // messages that did not parse, skipped
	// Overruns counts the times the socket's buffer overflowed: records
	// the kernel could not queue for ctrace are gone (auditd's are not).
	Overruns uint64
	// Foreign counts datagrams not sent by the kernel, ignored.
	Foreign uint64
}

// OpenReader joins the audit multicast group. It needs CAP_AUDIT_READ.
func OpenReader() (*Reader, error) {
	fd, err := openSocket(1<<(groupReadLog-1), true)
	if err != nil {
		return nil, err
	}
	// Raising the limit past rmem_max needs CAP_NET_ADMIN; without it
	// the plain option still gets rmem_max.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, recvBufferSize); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, recvBufferSize)
	}
	// A non-blocking descriptor in an os.File is driven by the runtime's
	// poller, which gives reads deadlines and so a way to stop them.
	return &Reader{f: os.NewFile(uintptr(fd), "audit-netlink")}, nil
}

// Close closes the socket. Run must have returned.
func (r *Reader) Close() error { return r.f.Close() }

// Stats returns the counters so far; safe while Run runs.
func (r *Reader) Stats() ReaderStats {
	return ReaderStats{
		Records:   r.stats.records.Load(),
		Malformed: r.stats.malformed.Load(),
		Overruns:  r.stats.overruns.Load(),
		Foreign:   r.stats.foreign.Load(),
	}
}

// Run reads records and calls fn for each until ctx is done, then
// returns nil. fn is called from Run's goroutine only. Malformed records
// are counted and skipped; Run returns early only if the socket fails.
func (r *Reader) Run(ctx context.Context, fn func(Record)) error {
	stop := context.AfterFunc(ctx, func() {
		// Wakes a blocked read; Run then sees ctx done.
		_ = r.f.SetReadDeadline(time.Unix(1, 0))
	})
	defer stop()
	rc, err := r.f.SyscallConn()
	if err != nil {
		return fmt.Errorf("audit socket: %w", err)
	}
	buf := make([]byte, datagramSize)
	for {
		var (
			n    int
			from unix.Sockaddr
			rerr error
		)
		err := rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
			return !errors.Is(rerr, unix.EAGAIN)
		})
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = rerr
		}
		switch {
		case err == nil:
		case errors.Is(err, unix.ENOBUFS):
			r.stats.overruns.Add(1)
			continue
		case errors.Is(err, unix.EINTR):
			continue
		default:
			return fmt.Errorf("read audit records: %w", err)
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			r.stats.foreign.Add(1)
			continue
		}
		r.handle(buf[:n], fn)
	}
}

// handle parses one datagram and passes its records on.
func (r *Reader) handle(b []byte, fn func(Record)) {
	msgs, err := splitMessages(b)
	if err != nil {
		r.stats.malformed.Add(1)
	}
	for _, m := range msgs {
		if m.typ < firstRecordType {
			// Control messages (NLMSG_*, AUDIT_GET...) are not records.
			continue
		}
		rec, err := ParseRecord(m.typ, m.payload)
		if err != nil {
			r.stats.malformed.Add(1)
			continue
		}
		r.stats.records.Add(1)
		fn(rec)
	}
}
