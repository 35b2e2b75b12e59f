package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/ctrace-dev/ctrace/internal/audit"
	"github.com/ctrace-dev/ctrace/tracer"
)

// AuditOptions configure AuditJoin.
type AuditOptions struct {
	// Reader delivers the kernel's audit records; nil when there is none.
	Reader *audit.Reader
	// Wait is how long a failure that an LSM may have caused waits for
	// its audit records; zero passes every event straight on.
	Wait time.Duration
	// ReadError is told why reading audit records stopped early.
	ReadError func(error)
	// Restore, if set, is called at Close after the reader stopped: it
	// puts back the audit settings that the run changed.
	Restore func()
}

// AuditJoin attaches the LSM denials of audit records to the failures
// they explain (audit.Joiner), holding a failure an LSM may have caused
// until its records came or Wait passed. It holds only the tracer's
// event, so it comes before the stages that fill the rest of Event.
type AuditJoin struct {
	opts AuditOptions
	j    *audit.Joiner
	next Next
	ev   Event // for released events; the joiner's calls are serialized
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// NewAuditJoin starts reading opts.Reader's records. The reader outlives
// ctx: when a run ends, the denials of its last failures may still be on
// their way, and Close waits for them; Close stops it.
func NewAuditJoin(ctx context.Context, opts AuditOptions) *AuditJoin {
	s := &AuditJoin{opts: opts}
	s.j = audit.NewJoiner(audit.JoinerOptions{Wait: opts.Wait, Out: s.out, Flush: s.idle})
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	if opts.Reader != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := opts.Reader.Run(rctx, s.j.Record); err != nil && opts.ReadError != nil {
				opts.ReadError(err)
			}
			s.j.SetWait(0) // no more records: stop holding
		}()
	}
	return s
}

// Joiner returns the joiner, for its statistics.
func (s *AuditJoin) Joiner() *audit.Joiner { return s.j }

// Link implements Stage.
func (s *AuditJoin) Link(next Next) { s.next = next }

// Handle implements Stage.
func (s *AuditJoin) Handle(ev *Event) { s.j.Process(ev.Event) }

func (s *AuditJoin) out(ev *tracer.Event) {
	s.ev = Event{Event: ev}
	s.next.Handle(&s.ev)
}

func (s *AuditJoin) idle() { s.next.Idle() }

// Close waits, no longer than ctx allows, until every held failure got
// its denial or reached its deadline, passes them on, stops the reader
// and restores the audit settings.
func (s *AuditJoin) Close(ctx context.Context) {
	s.j.Settle(ctx)
	s.stop()
	s.j.Close()
	s.wg.Wait()
	if s.opts.Reader != nil {
		_ = s.opts.Reader.Close()
	}
	if s.opts.Restore != nil {
		s.opts.Restore()
	}
}
