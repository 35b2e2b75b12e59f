package tracer

import (
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLoneRecordWakesReader: a reader that found nothing to read asks the
// kernel to wake it (sleepFlag), and the first record sent after that
// wakes it (wake_reader in bpf/record.h) rather than its next poll.
// The exit program runs before the failing call returns, so the flag is
// already cleared when the caller looks; a wake-up the kernel missed
// leaves it set, and the record waits for the poll.
func TestLoneRecordWakesReader(t *testing.T) {
	tr, col := startTracer(t, Options{IncludeSelf: true, Syscalls: mustOps(t, "openat")})
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var took []time.Duration
	for i := range 5 {
		// Idle until the reader sleeps until woken.
		for end := time.Now().Add(5 * time.Second); atomic.LoadUint32(tr.asleep.word) == 0; {
			if time.Now().After(end) {
				t.Fatal("the reader never asked to be woken")
			}
			time.Sleep(time.Millisecond)
		}
		path := fmt.Sprintf("/nonexistent/ctrace-wake-%d", i)
		start := time.Now()
		if _, err := unix.Openat(unix.AT_FDCWD, path, unix.O_RDONLY, 0); err != unix.ENOENT {
			t.Fatalf("openat %s: %v, want ENOENT", path, err)
		}
		match := func(ev *Event) bool { return ev.Syscall == "openat" && len(ev.Args) > 1 && ev.Args[1].Str == path }
		// Set again only if the reader has read the record since
		// and gone back to sleep.
		if atomic.LoadUint32(tr.asleep.word) != 0 && len(col.find(match)) == 0 {
			t.Fatalf("call %d: the wake-up flag is still set after the record was sent: the kernel did not wake the reader", i)
		}
		for len(col.find(match)) == 0 {
			if time.Since(start) > 2*time.Second {
				t.Fatalf("call %d: its record was not read within 2 s", i)
			}
			time.Sleep(100 * time.Microsecond)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	t.Logf("from the call to its event: %v", took)
	// Without the wake-up, a record is read at the reader's next poll,
	// up to pollEvery later; with it, at once. The median keeps one slow
	// scheduling of the reader from failing the test.
	if m := took[len(took)/2]; m >= pollEvery/2 {
		t.Errorf("median time from a lone call to its event %v, want well under the poll interval %v", m, pollEvery)
	}
}
