package tracer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// BenchmarkAttachCost measures what the attachment itself costs the
// syscalls of a node, whatever the programs do, for the two places a
// tracer of syscall exits can attach:
//
//	tp            empty programs on syscalls:sys_enter_* and sys_exit_* of
//	              every syscall ctrace traces: ctrace's design, and the
//	              floor its benchmarks measure it against
//	fexit         empty fexit programs on the same syscalls' functions
//	              (__x64_sys_openat, ...): no syscall tracepoint is on, so
//	              the kernel keeps every task on its fast syscall path
//	fexit+seccomp fexit, and an empty fexit on __secure_computing: a call
//	              that a seccomp filter refuses never reaches its syscall
//	              function, so a seccomp layer of reasons needs that hook,
//	              which runs for every syscall of a task under a filter
//	tp+hooks      tp, and empty fexit programs on the kernel functions
//	              ctrace's reason programs watch (cap_capable and the
//	              security_* hooks of the traced calls), where the kernel
//	              takes fexit: the floor of all that ctrace attaches
//	ctrace        ctrace as it runs
//
// against nothing attached, in alternating rounds of the same run: a
// getppid, which no mode traces, and an openat of /dev/null with its
// close, on a thread under no filter and on one under an allow-all
// seccomp filter (as a container's processes run). It reports each mode's
// median ratio to nothing attached (x-MODE-LOOP). Under TCG (the kernel
// matrix) only the ratios mean anything, and only roughly: TCG emulates
// instructions at a cost that is not the hardware's (helpers, atomics and
// the trampolines' indirect calls are dearer), so a ratio says which way
// and about how much, not the percentage a node would see.
//
//	go test -run '^$' -bench AttachCost ./tracer
//	go run ./test/vm -kernels 6.1,6.12 -bench AttachCost
func BenchmarkAttachCost(b *testing.B) {
	if testing.Short() {
		b.Skip("skipped in -short mode")
	}
	testenv.RequireRoot(b, "loading eBPF programs")
	// The traced syscalls that this kernel has a tracepoint for and,
	// where it takes fexit, a function that fexit can be attached to:
	// both modes attach to the same set.
	var all []string
	for _, s := range Table() {
		all = append(all, "sys_enter_"+s.Event, "sys_exit_"+s.Event)
	}
	ev, err := syscallEventIDs(all)
	if err != nil {
		b.Fatal(err)
	}
	fexit := true
	var events, funcs, dropped []string
	for _, s := range Table() {
		fn := syscallFuncPrefix + s.Event
		_, in := ev.ids["sys_exit_"+s.Event]
		_, out := ev.ids["sys_enter_"+s.Event]
		if !in || !out {
			dropped = append(dropped, s.Event+" (no tracepoint)")
			continue
		}
		if fexit {
			c, err := attachEmptyFexits([]string{fn})
			if c != nil {
				c.Close()
			}
			if errors.Is(err, unix.EPERM) {
				b.Logf("fexit refused (%v): measuring without the fexit modes", err)
				fexit = false
			} else if err != nil {
				dropped = append(dropped, fmt.Sprintf("%s (%v)", s.Event, err))
				continue
			}
		}
		events = append(events, "sys_enter_"+s.Event, "sys_exit_"+s.Event)
		funcs = append(funcs, fn)
	}
	if len(dropped) > 0 {
		b.Logf("not attached to in any mode: %s", strings.Join(dropped, "; "))
	}
	modes := []attachMode{
		{"tp", func() (io.Closer, error) { return attachEmptyTracepoints(events) }},
		{"ctrace", attachCtrace},
	}
	if fexit {
		// The kernel functions ctrace's reason programs watch with fexit
		// (cap_capable, security_file_open, ...): they run on success
		// paths too, security_file_open on every open.
		spec, err := loadBpf()
		if err != nil {
			b.Fatal(err)
		}
		var hooks []string
		for _, name := range append([]string{"cap_denied_fexit"}, lsmProgramNames()...) {
			hooks = append(hooks, spec.Programs[name].AttachTo)
		}
		b.Logf("reason hooks: %s", strings.Join(hooks, " "))
		modes = append(modes,
			attachMode{"tp+hooks", func() (io.Closer, error) {
				tp, err := attachEmptyTracepoints(events)
				if err != nil {
					return nil, err
				}
				fx, err := attachEmptyFexits(hooks)
				if err != nil {
					tp.Close()
					return nil, err
				}
				return closers{tp, fx}, nil
			}},
			attachMode{"fexit", func() (io.Closer, error) { return attachEmptyFexits(funcs) }},
			attachMode{"fexit+seccomp", func() (io.Closer, error) {
				return attachEmptyFexits(append(slices.Clone(funcs), "__secure_computing"))
			}})
	}
	b.Logf("%d syscalls: %s", len(funcs), strings.Join(funcs, " "))
	loops := []attachLoop{
		{name: "getppid", call: getppidLoop},
		{name: "open+close", call: openCloseLoop},
		{name: "getppid/seccomp", filtered: true, call: getppidLoop},
		{name: "open+close/seccomp", filtered: true, call: openCloseLoop},
	}
	// Each measurement takes about this long, calibrated with nothing
	// attached: under TCG a syscall costs some 20 times what it costs on
	// hardware.
	const cell = 40 * time.Millisecond
	for i := range loops {
		n := 1000
		for {
			d, err := loops[i].measure(n)
			if err != nil {
				b.Fatal(err)
			}
			if d >= cell/4 {
				loops[i].n = int(float64(n) * float64(cell) / float64(d))
				break
			}
			n *= 4
		}
	}
	const rounds = 11
	// Each loop's time is the least of three measurements: what else
	// the machine runs only ever adds to a measurement.
	measureAll := func() []time.Duration {
		ds := make([]time.Duration, len(loops))
		for i, l := range loops {
			for range 3 {
				d, err := l.measure(l.n)
				if err != nil {
					b.Fatal(err)
				}
				if ds[i] == 0 || d < ds[i] {
					ds[i] = d
				}
			}
		}
		return ds
	}
	// mode/loop -> one ratio a round: the mode's time over the mean of
	// nothing attached just before and just after it, so that a drift of
	// the machine's speed (a shared host) cancels out.
	ratios := map[string][]float64{}
	b.ResetTimer()
	prev := measureAll()
	var bases [][]time.Duration // nothing attached, each time
	for r := range rounds * b.N {
		// The order of the modes turns with the rounds, so that none
		// always follows the same one.
		for k := range modes {
			m := modes[(k+r)%len(modes)]
			c, err := m.attach()
			if err != nil {
				b.Fatalf("%s: %v", m.name, err)
			}
			cur := measureAll()
			if err := c.Close(); err != nil {
				b.Fatalf("%s: detach: %v", m.name, err)
			}
			next := measureAll()
			bases = append(bases, next)
			for i, l := range loops {
				key := m.name + "/" + l.name
				ratios[key] = append(ratios[key], 2*float64(cur[i])/float64(prev[i]+next[i]))
			}
			prev = next
		}
	}
	// ctrace against the floor of its own design, round by round, and
	// where its reason hooks are attached, against that floor with empty
	// programs on the hooks too.
	for _, floor := range []string{"tp", "tp+hooks"} {
		if _, ok := ratios[floor+"/"+loops[0].name]; !ok {
			continue
		}
		for _, l := range loops {
			key := "ctrace/" + floor + "/" + l.name
			for r, c := range ratios["ctrace/"+l.name] {
				ratios[key] = append(ratios[key], c/ratios[floor+"/"+l.name][r])
			}
		}
		modes = append(modes, attachMode{name: "ctrace/" + floor})
	}
	b.StopTimer()
	var table strings.Builder
	fmt.Fprintf(&table, "median ratio to nothing attached (thread CPU time) over %d rounds (%s %s, %d CPUs):\n%-16s", rounds*b.N, runtime.GOARCH, kernelRelease(), runtime.NumCPU(), "")
	for _, l := range loops {
		fmt.Fprintf(&table, " %19s", l.name)
	}
	for _, m := range modes {
		fmt.Fprintf(&table, "\n%-16s", m.name)
		for _, l := range loops {
			key := m.name + "/" + l.name
			med := median(ratios[key])
			fmt.Fprintf(&table, " %8.3f [%.2f-%.2f]", med, slices.Min(ratios[key]), slices.Max(ratios[key]))
			b.ReportMetric(med, "x-"+strings.NewReplacer("/", "-", "+", "-").Replace(key))
		}
	}
	// Under qemu's -icount, a guest nanosecond is an instruction (at
	// shift=0): these are then instructions per iteration.
	fmt.Fprintf(&table, "\n%-16s", "nothing, ns/it")
	for i, l := range loops {
		var per []float64
		for _, ds := range bases {
			per = append(per, float64(ds[i])/float64(l.n))
		}
		fmt.Fprintf(&table, " %19.0f", median(per))
	}
	b.Log(table.String())
}

type attachMode struct {
	name   string
	attach func() (io.Closer, error)
}

type attachLoop struct {
	name     string
	filtered bool // on a thread under an allow-all seccomp filter
	call     func(n int) error
	n        int // calls a measurement makes
}

// measure times n calls, on a thread of their own under a filter if the
// loop says so.
func (l attachLoop) measure(n int) (time.Duration, error) {
	var d time.Duration
	// The thread's CPU time: what the guest's other tasks run meanwhile
	// is not counted.
	run := func() error {
		start := threadTime()
		err := l.call(n)
		d = threadTime() - start
		return err
	}
	if !l.filtered {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := run()
		return d, err
	}
	var err error
	if ferr := onFilteredThread(func() { err = run() }); ferr != nil {
		return 0, ferr
	}
	return d, err
}

// The loops make raw syscalls: the Go runtime's own work around a
// syscall would dilute the ratios.
func getppidLoop(n int) error {
	for range n {
		unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	}
	return nil
}

var devNull = []byte("/dev/null\x00")

func openCloseLoop(n int) error {
	path := uintptr(unsafe.Pointer(&devNull[0]))
	dirfd := unix.AT_FDCWD
	for range n {
		fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(dirfd), path, unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
		if e != 0 {
			return fmt.Errorf("openat /dev/null: %w", e)
		}
		unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
	}
	runtime.KeepAlive(devNull)
	return nil
}

// emptyProgram loads a program that returns 0.
func emptyProgram(spec ebpf.ProgramSpec) (*ebpf.Program, error) {
	spec.License = "GPL"
	spec.Instructions = asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}
	return ebpf.NewProgram(&spec)
}

// closers closes all of its members, at once: detaching a tracepoint
// waits for an RCU grace period, some 60 ms each, one after the other.
type closers []io.Closer

func (cs closers) Close() error {
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Close()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func attachEmptyTracepoints(events []string) (io.Closer, error) {
	prog, err := emptyProgram(ebpf.ProgramSpec{Name: "empty_tp", Type: ebpf.TracePoint})
	if err != nil {
		return nil, err
	}
	links, _, err := AttachSyscallEvents(prog, events)
	if err != nil {
		prog.Close()
		return nil, err
	}
	return append(closers(links), prog), nil
}

// attachEmptyFexits attaches an empty fexit program to each function. An
// fexit program is bound to its function when it is loaded: one each.
func attachEmptyFexits(funcs []string) (io.Closer, error) {
	var cs closers
	for _, fn := range funcs {
		prog, err := emptyProgram(ebpf.ProgramSpec{Name: "empty_fexit", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceFExit, AttachTo: fn})
		if err != nil {
			cs.Close()
			return nil, fmt.Errorf("load fexit/%s: %w", fn, err)
		}
		cs = append(cs, prog)
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			cs.Close()
			return nil, fmt.Errorf("attach fexit/%s: %w", fn, err)
		}
		cs = append(cs, l)
	}
	return cs, nil
}

// attachCtrace runs ctrace as a node would, its records read.
func attachCtrace() (io.Closer, error) {
	tr, err := Open(Options{})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tr.Run(ctx, Sink{Event: func(*Event) {}})
	}()
	return closerFunc(func() error {
		cancel()
		<-done
		return tr.Close()
	}), nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func threadTime() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}
