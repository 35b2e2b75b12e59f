package audit

import (
	"slices"
	"strconv"
	"time"

	"github.com/ctrace-dev/ctrace/tracer"
	"golang.org/x/sys/unix"
)

// Bounds of the denials a Matcher keeps. Only events with an LSM denial
// are kept at all, so these are reached only in a storm of denials; the
// oldest go first.
const (
	maxGroups   = 1024
	groupMaxAge = 10 * time.Second
)

// Time window of a match. A SYSCALL record is stamped when the call was
// entered, on the kernel's coarse real-time clock (a few ms behind), while
// an event's Time is its exit: the stamp is at most a call's duration
// before the exit and, allowing for clock granularity and the tracer's
// boot-to-wall conversion, not much after it.
const (
	maxCallDuration = 10 * time.Second
	clockSlack      = time.Second
)

// standaloneGrace is how long a denial without a SYSCALL record must wait
// before it is taken for a standalone one (a task that has no audit
// context: started before auditing was enabled). A syscall's own record
// follows its denials within microseconds.
const standaloneGrace = 20 * time.Millisecond

// group is one audit event that holds at least one LSM denial.
type group struct {
	serial  uint64
	stamp   time.Time // the kernel's time stamp
	arrived time.Time // when ctrace read its first record
	reasons []*tracer.LSMReason
	pid     uint32 // from the denial itself (AVC pid=), 0 if none
	sys     *syscallRecord
}

// syscallRecord is what matching needs of a SYSCALL record.
type syscallRecord struct {
	arch uint64
	nr   int64
	exit int64
	pid  uint32
}

// Matcher keeps recent LSM denials and finds the one that explains a
// failed event. It is not safe for concurrent use; the Joiner serializes
// it.
type Matcher struct {
	groups []*group // in arrival order
	now    func() time.Time
}

// NewMatcher returns an empty Matcher.
func NewMatcher() *Matcher { return &Matcher{now: time.Now} }

// Add takes one record. Only records of events that contain an LSM
// denial are kept: the denial comes first in its event (it is logged
// during the call, the SYSCALL record at its exit), so a record of any
// other event finds no group and is dropped at once.
func (m *Matcher) Add(r Record) {
	g := m.find(r.Serial)
	if reason, ok := denial(&r); ok {
		if g == nil {
			g = m.newGroup(r)
		}
		// LSM reasons carry no uid map: comparing their strings is enough.
		if !slices.ContainsFunc(g.reasons, func(o *tracer.LSMReason) bool {
			return *o == *reason
		}) {
			g.reasons = append(g.reasons, reason)
		}
		if pid, ok := r.int("pid"); ok && g.pid == 0 {
			g.pid = uint32(pid)
		}
		return
	}
	if g != nil && r.Type == TypeSyscall && g.sys == nil {
		g.sys = parseSyscall(&r)
	}
}

func (m *Matcher) newGroup(r Record) *group {
	now := m.now()
	m.prune(now)
	if len(m.groups) >= maxGroups {
		m.groups = slices.Delete(m.groups, 0, len(m.groups)-maxGroups+1)
	}
	g := &group{serial: r.Serial, stamp: r.Time, arrived: now}
	m.groups = append(m.groups, g)
	return g
}

// find returns the group of serial; recent groups are at the end.
func (m *Matcher) find(serial uint64) *group {
	for i := len(m.groups) - 1; i >= 0; i-- {
		if m.groups[i].serial == serial {
			return m.groups[i]
		}
	}
	return nil
}

// prune drops groups older than groupMaxAge.
func (m *Matcher) prune(now time.Time) {
	i := 0
	for i < len(m.groups) && now.Sub(m.groups[i].arrived) > groupMaxAge {
		i++
	}
	m.groups = slices.Delete(m.groups, 0, i)
}

// parseSyscall reads a SYSCALL record; nil if it lacks what matching
// needs.
func parseSyscall(r *Record) *syscallRecord {
	nr, ok1 := r.int("syscall")
	exit, ok2 := r.int("exit")
	pid, ok3 := r.int("pid")
	if !ok1 || !ok2 || !ok3 {
		return nil
	}
	s := &syscallRecord{nr: nr, exit: exit, pid: uint32(pid)}
	// arch is hex without a prefix: c000003e.
	s.arch, _ = strconv.ParseUint(r.get("arch"), 16, 32)
	return s
}

// Match returns the LSM reasons of the oldest unmatched denial that
// explains ev, and forgets that denial so it explains one call only.
// A denial matches when its SYSCALL record has ev's process, syscall
// number and exit code, and its time stamp fits ev's time; a denial
// without a SYSCALL record matches by process and time alone, once
// standaloneGrace has passed.
func (m *Matcher) Match(ev *tracer.Event) ([]*tracer.LSMReason, bool) {
	nr, ok := tracer.SyscallNumber(ev.Syscall)
	if !ok || ev.Errno == 0 {
		return nil, false
	}
	now := m.now()
	for i, g := range m.groups {
		if !m.fits(g, ev, int64(nr), now) {
			continue
		}
		m.groups = slices.Delete(m.groups, i, i+1)
		return g.reasons, true
	}
	return nil, false
}

func (m *Matcher) fits(g *group, ev *tracer.Event, nr int64, now time.Time) bool {
	if !ev.Time.IsZero() {
		if g.stamp.Before(ev.Time.Add(-maxCallDuration)) || g.stamp.After(ev.Time.Add(clockSlack)) {
			return false
		}
	}
	if s := g.sys; s != nil {
		return s.pid == ev.Proc.PID && s.nr == nr && s.exit == -int64(ev.Errno) &&
			(s.arch == 0 || s.arch == uint64(nativeArch))
	}
	return g.pid != 0 && g.pid == ev.Proc.PID && now.Sub(g.arrived) >= standaloneGrace
}

// mayExplain tells the events an LSM denial could have caused: a failed
// call ctrace knows the number of, with the errors LSMs return. Only such
// events are worth holding for their audit records.
func mayExplain(ev *tracer.Event) bool {
	if ev.Errno != unix.EACCES && ev.Errno != unix.EPERM {
		return false
	}
	_, ok := tracer.SyscallNumber(ev.Syscall)
	return ok
}
