package tracer

import (
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDecodeReuse decodes varied records one after another into one
// Event, as Run does, and wants what a fresh Decode gives for each; the
// clone of an event must not change when later records are decoded.
func TestDecodeReuse(t *testing.T) {
	other := newRecord(bpfCtraceOpCTRACE_OP_OPENAT, -int64(unix.EACCES), 0xffffff9c, 1, unix.O_WRONLY|unix.O_CREAT, 0o644).str(1, "/b")
	for i, c := range "ctrbench" {
		other.ev.Comm[i] = int8(c)
	}
	other.ev.Comm[len("ctrbench")] = 0
	seccomp := newRecord(bpfCtraceOpCTRACE_OP_UNSHARE, -int64(unix.EPERM), unix.CLONE_NEWNS)
	seccomp.ev.Flags = uint16(bpfCtraceEventFlagCTRACE_EV_SECCOMP)
	noArgs := newRecord(bpfCtraceOpCTRACE_OP_MOUNT, -int64(unix.EPERM))
	noArgs.ev.Flags = uint16(bpfCtraceEventFlagCTRACE_EV_NO_ARGS)
	recs := [][]byte{
		newRecord(bpfCtraceOpCTRACE_OP_MOUNT, -int64(unix.ENOENT), 1, 2, 3, unix.MS_NOSUID, 5).
			str(0, "overlay").str(1, "/tmp/m1").str(2, "overlay").str(4, "lowerdir=/a").bytes(),
		newRecord(bpfCtraceOpCTRACE_OP_OPENAT, -int64(unix.ENOENT), 0xffffff9c, 1, unix.O_RDONLY, 0).str(1, "/a").bytes(),
		other.bytes(),
		newRecord(bpfCtraceOpCTRACE_OP_OPENAT, -int64(unix.EFAULT), 0xffffff9c, 0xdead, unix.O_RDONLY, 0).
			field(1, bpfCtraceFieldKindCTRACE_FIELD_STR, bpfCtraceFieldFlagCTRACE_FIELD_FAULT, nil).bytes(),
		newRecord(bpfCtraceOpCTRACE_OP_SETNS, -22, 5, 0).file(0, unix.NSFS_MAGIC, 1, bpfCtraceFileFlagCTRACE_FILE_PSEUDO, "net").bytes(),
		newRecord(bpfCtraceOpCTRACE_OP_CLONE3, -22, 1, 64).field(0, bpfCtraceFieldKindCTRACE_FIELD_STRUCT, 0, make([]byte, 64)).bytes(),
		newRecord(bpfCtraceOpCTRACE_OP_EXECVE, -13, 1, 2).field(1, bpfCtraceFieldKindCTRACE_FIELD_ARGV, 0, []byte("a\x00b\x00")).bytes(),
		newRecord(bpfCtraceOpCTRACE_OP_MOUNT, -1).field(argNone, bpfCtraceFieldKindCTRACE_FIELD_CAP, 0, make([]byte, capSize)).bytes(),
		newRecord(bpfCtraceOpCTRACE_OP_NEWFSTATAT, -int64(unix.ENOENT)).
			field(argNone, bpfCtraceFieldKindCTRACE_FIELD_CGROUP, 0, []byte("web-1\x00default\x00")).
			field(argNone, bpfCtraceFieldKindCTRACE_FIELD_CMDLINE, 0, []byte("runc\x00init\x00")).bytes(),
		newRecord(bpfCtraceOpCTRACE_OP_NEWFSTATAT, -int64(unix.ENOENT)).
			field(argNone, bpfCtraceFieldKindCTRACE_FIELD_CGROUP, 0, []byte("web-2\x00default\x00")).bytes(),
		newRecord(bpfCtraceOpCTRACE_OP_NEWFSTATAT, -int64(unix.ENOENT)).
			field(argNone, bpfCtraceFieldKindCTRACE_FIELD_CGROUP, 0, []byte("default\x00")).bytes(),
		seccomp.bytes(),
		noArgs.bytes(),
		{1, 2, 3}, // malformed
		newRecord(bpfCtraceOpCTRACE_OP_OPENAT, 3, 0xffffff9c, 1, unix.O_RDONLY, 0).str(1, "/ok").bytes(),
	}
	norm := func(ev Event) Event {
		if len(ev.Reasons) == 0 {
			ev.Reasons = nil
		}
		return ev
	}
	var d decoder
	var ev Event
	var kept []*Event
	var want []Event
	for round := range 3 {
		for i := range recs {
			raw := recs[(i*7+round)%len(recs)]
			fresh, ferr := Decode(raw)
			err := d.decode(raw, &ev)
			if (err == nil) != (ferr == nil) {
				t.Fatalf("record %d: error %v, fresh decode %v", i, err, ferr)
			}
			if err != nil {
				continue
			}
			if !reflect.DeepEqual(norm(ev), norm(fresh)) {
				t.Fatalf("record %d, round %d:\n got %+v\nwant %+v", i, round, ev, fresh)
			}
			kept = append(kept, ev.Clone())
			want = append(want, fresh)
		}
	}
	for i := range kept {
		if !reflect.DeepEqual(norm(*kept[i]), norm(want[i])) {
			t.Fatalf("clone %d changed:\n got %+v\nwant %+v", i, *kept[i], want[i])
		}
	}
}
