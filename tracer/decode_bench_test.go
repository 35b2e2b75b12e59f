package tracer

import (
	"testing"

	"golang.org/x/sys/unix"
)

// atFDCWD is AT_FDCWD as the register holds it.
var atFDCWD = uint64(0xffffff9c)

// BenchmarkDecode decodes the record of a failing openat, the most common
// event in a failure storm: go test -run '^$' -bench Decode ./tracer
func BenchmarkDecode(b *testing.B) {
	raw := newRecord(bpfCtraceOpCTRACE_OP_OPENAT, -int64(unix.ENOENT),
		atFDCWD, 0x7ffc1000, unix.O_RDONLY|unix.O_CLOEXEC, 0).
		str(1, "/nonexistent-ctrbench/t").bytes()
	b.Run("fresh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	// As Run decodes: into the same Event, with the decoder's caches.
	b.Run("reused", func(b *testing.B) {
		var d decoder
		var ev Event
		b.ReportAllocs()
		for b.Loop() {
			if err := d.decode(raw, &ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
