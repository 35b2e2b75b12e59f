package tracer

import (
	"context"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// BenchmarkSuccessPath measures what tracing costs a call that succeeds,
// the common case: a traced syscall (openat of /dev/null, then close) and
// an untraced one (getppid, which only pays for the syscall tracepoints
// being enabled at all). Each runs without ctrace, then with it attached
// (failures only, the default); compare the pairs from the same run:
//
//	go test -run '^$' -bench SuccessPath -count 6 ./tracer | benchstat -col /tracer -
func BenchmarkSuccessPath(b *testing.B) {
	calls := []struct {
		name string
		call func()
	}{
		{"openat", func() {
			fd, err := unix.Openat(unix.AT_FDCWD, "/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
		}},
		{"getppid", func() { unix.Getppid() }},
		{"openat-fail", func() {
			_, _ = unix.Openat(unix.AT_FDCWD, "/nonexistent/ctrace-bench", unix.O_RDONLY, 0)
		}},
	}
	for _, traced := range []bool{false, true} {
		mode := "off"
		if traced {
			mode = "on"
		}
		for _, c := range calls {
			b.Run("call="+c.name+"/tracer="+mode, func(b *testing.B) {
				if traced {
					if testing.Short() {
						b.Skip("skipped in -short mode")
					}
					testenv.RequireRoot(b, "loading eBPF programs")
					// The benchmark's own failures are sent and read,
					// as a node's would be.
					tr, err := Open(Options{IncludeSelf: true})
					if err != nil {
						b.Fatal(err)
					}
					defer tr.Close()
					stop := drain(tr)
					defer stop()
				}
				b.ResetTimer()
				for range b.N {
					c.call()
				}
			})
		}
	}
}

// drain reads and discards a tracer's events until stop is called.
func drain(tr *Tracer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tr.Run(ctx, Sink{Event: func(*Event) {}})
	}()
	return func() { cancel(); <-done }
}
