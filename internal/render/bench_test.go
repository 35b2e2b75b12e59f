package render

import (
	"io"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/tracer"
)

// benchEvent is a failing openat as a failure storm delivers them.
func benchEvent() *tracer.Event {
	return failed("openat", unix.ENOENT, procCat,
		fdArg("dirfd", unix.AT_FDCWD, ""), strArg("path", "/nonexistent-ctrbench/t"),
		flagArg("flags", unix.O_RDONLY|unix.O_CLOEXEC, "O_RDONLY|O_CLOEXEC"),
		tracer.Arg{Name: "mode", Kind: tracer.KindMode, Text: "000", Unused: true})
}

// go test -run '^$' -bench Render ./cmd/ctrace
func BenchmarkRenderJSON(b *testing.B) {
	benchRender(b, "json", benchEvent())
}

func BenchmarkRenderText(b *testing.B) {
	benchRender(b, "text", benchEvent())
}

func BenchmarkRenderJSONFull(b *testing.B) {
	benchRender(b, "json", fullEvent())
}

func benchRender(b *testing.B, format string, ev *tracer.Event) {
	r := New(format, io.Discard, false)
	b.ReportAllocs()
	for b.Loop() {
		r.Event(ev, Findings{})
	}
}
