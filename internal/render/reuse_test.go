package render

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/audit"
	"github.com/ctrace-dev/ctrace/tracer"
)

// TestJoinerWithReusedEvent feeds the joiner one Event changed between
// calls, as the tracer decodes every record into the same Event: an
// event held for its audit records, and one queued behind it, must come
// out as they went in.
func TestJoinerWithReusedEvent(t *testing.T) {
	var out bytes.Buffer
	r := New("text", &out, false)
	j := audit.NewJoiner(audit.JoinerOptions{Wait: time.Hour, Out: func(ev *tracer.Event) { r.Event(ev, Findings{}) }})
	ev := failed("openat", unix.EACCES, procCat,
		fdArg("dirfd", unix.AT_FDCWD, ""), strArg("path", "/held"), flagArg("flags", unix.O_RDONLY, "O_RDONLY"))
	var want bytes.Buffer
	check := New("text", &want, false)
	check.Event(ev, Findings{})
	j.Process(ev) // held: EACCES from a call an LSM may refuse
	ev.Errno, ev.Ret = unix.ENOENT, -int64(unix.ENOENT)
	ev.Args[1].Str = "/behind"
	ev.Proc.TID = 4251
	check.Event(ev, Findings{})
	j.Process(ev) // queued behind the held one
	ev.Args[1].Str = "/changed"
	ev.Proc.TID = 1
	if out.Len() != 0 {
		t.Fatalf("passed on while the first event is held: %q", out.String())
	}
	j.Close()
	if out.String() != want.String() {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want.String())
	}
	// Nothing held: passed on at once.
	j2 := audit.NewJoiner(audit.JoinerOptions{Out: func(ev *tracer.Event) { r.Event(ev, Findings{}) }})
	out.Reset()
	j2.Process(ev)
	if out.Len() == 0 {
		t.Fatal("an event not held was not passed on at once")
	}
	j2.Close()
}
