package tracer

import (
	"time"

	"golang.org/x/sys/unix"
)

// errRestartNoIntr is the kernel's ERESTARTNOINTR (include/linux/errno.h),
// which x/sys does not name: a call the kernel always restarts.
const errRestartNoIntr unix.Errno = 513

// Decoder turns the ring buffer's records into events one after another,
// exactly as Run does: kernel log lines are held until the exit record
// of the call that logged them, the event's time is the wall clock's, an
// LSM reason is named when one LSM can deny, and what a storm repeats
// (process names, cgroup paths, flag texts) is decoded once. It needs no
// kernel: a test or a fuzz target drives it with raw records.
type Decoder struct {
	dec      decoder
	ev       Event
	logs     pendingLogs
	bootBase int64  // wall clock minus boot clock, in ns
	lsm      string // the LSM that can deny, "" when none or several
}

// NewDecoder returns a Decoder whose events are timed from bootBase, the
// wall clock at boot in ns, and whose LSM reasons name lsm.
func NewDecoder(bootBase int64, lsm string) *Decoder {
	return &Decoder{bootBase: bootBase, lsm: lsm}
}

// Decode decodes one record. It returns the event of an exit record, nil
// for a kernel log line (held for its call's event) and for a call the
// kernel restarts (ERESTARTNOINTR), or an error for a
// malformed record, which leaves the Decoder as it was. The Event is
// valid until the next call: the next record is decoded into it.
func (d *Decoder) Decode(raw []byte) (*Event, error) {
	if recordType(raw) == bpfCtraceRecordTypeCTRACE_REC_LOG {
		tid, boot, msg, err := decodeLog(raw)
		if err != nil {
			return nil, err
		}
		d.logs.add(tid, boot, msg)
		return nil, nil
	}
	ev := &d.ev
	if err := d.dec.decode(raw, ev); err != nil {
		return nil, err
	}
	if ev.Errno == errRestartNoIntr {
		// The kernel restarts the call before it returns (a signal
		// came during clone or fork): the caller never sees this
		// code, and the call's real outcome follows in its own record.
		d.logs.take(ev.Proc.TID, ev.nlogs)
		return nil, nil
	}
	ev.Time = time.Unix(0, d.bootBase+int64(ev.Boot))
	for r := range ReasonsOf[*LSMReason](ev) {
		if r.LSM == "" {
			r.LSM = d.lsm
		}
	}
	for _, msg := range d.logs.take(ev.Proc.TID, ev.nlogs) {
		ev.Reasons = append(ev.Reasons, &KernelLogReason{Message: msg})
	}
	return ev, nil
}
