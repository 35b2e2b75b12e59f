package hints

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/busy"
	"github.com/ctrace-dev/ctrace/internal/mountref"
	"github.com/ctrace-dev/ctrace/tracer"
)

// TestBusyMountNeedsTheReason: EBUSY with another cause, or with no
// holder found after the call (no busy reason), gets no busy-mount hint;
// a mount point with nothing else on or in it gets only "unmount it".
func TestBusyMountNeedsTheReason(t *testing.T) {
	ebusy := func(syscall string, rs ...tracer.Reason) *tracer.Event {
		return &tracer.Event{Syscall: syscall, Errno: unix.EBUSY, Ret: -int64(unix.EBUSY), Reasons: rs,
			Args: []tracer.Arg{{Name: "target", Kind: tracer.KindString, Str: "/mnt", Read: true}}}
	}
	for _, ev := range []*tracer.Event{
		ebusy("pivot_root", &tracer.KernelLogReason{Message: "m"}),
		ebusy("umount2", &tracer.CapabilityReason{Cap: "CAP_SYS_ADMIN"}),
		{Syscall: "umount2", Errno: unix.EBUSY, NoReason: "busy: after the call, nothing held /mnt"},
	} {
		for _, h := range For(ev, nil) {
			if h.Rule == "busy-mount" {
				t.Errorf("%s with %v: hint %q", ev.Syscall, ev.Reasons, h.Text)
			}
		}
	}
	ev := ebusy("rmdir", &busy.Reason{Path: "/mnt", Removing: true, Mount: mountref.Mount{ID: 5, FSType: "tmpfs", Point: "/mnt"}})
	if got, want := busyMount(ev, nil), "unmount it before removing it (umount /mnt)"; got != want {
		t.Errorf("hint %q, want %q", got, want)
	}
}
