// Package tracer loads ctrace's eBPF programs, attaches them to the exits
// of the traced syscalls, and decodes the records they send into Events.
package tracer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// DefaultBufferSize is the ring buffer's size: about 25,000 typical
// records, some 30 ms of reading at ctrace's speed (about 1.2 us per
// JSON event) and far more failures than a node makes at once outside a
// storm. The kernel maps its pages into the process twice, so it counts
// twice in ctrace's resident set; 16 MiB made that 68 MiB.
const DefaultBufferSize = 8 << 20

// Options select what the kernel side sends. Every filter here is applied
// in the kernel, before a record is built.
type Options struct {
	// Syscalls to trace; empty traces all of them (see ParseSyscalls).
	Syscalls []Op
	// Errnos, when set, keep only failures with one of these errors.
	Errnos []unix.Errno
	// PIDs, when set, keep only these processes (and, with Follow, the
	// processes they start). More can be added with Trace.
	PIDs []uint32
	// Follow traces the descendants of traced processes too.
	Follow bool
	// Comms, when set, keep only processes with one of these names.
	Comms []string
	// All sends successful calls too, not only failures.
	All bool
	// IncludeSelf traces the calling process too (tests use it).
	IncludeSelf bool
	// BufferSize is the ring buffer's size in bytes, a power of two
	// multiple of the page size; 0 means DefaultBufferSize.
	BufferSize int
	// RawDispatch attaches to the raw sys_enter/sys_exit tracepoints,
	// which see every syscall, instead of each traced syscall's own
	// tracepoints. ctrace falls back to it by itself where tracefs is
	// missing; setting it is for tests and comparisons.
	RawDispatch bool
	// Aggregate, when set, has the kernel count failures identical to
	// one it sent within the same window of this length (boot-clock
	// multiples of it) instead of sending them: Run passes each count
	// on as an event with Repeats, after its window ends (--dedup).
	// What makes two failures identical is in bpf/aggregate.h.
	Aggregate time.Duration
}

// ErrNoSyscall is why a syscall the architecture or the kernel does not
// have is not traced: nothing can fail there.
var ErrNoSyscall = errors.New("no such syscall")

// Skip is a syscall that could not be traced on this kernel, and why.
type Skip struct {
	Syscall string
	Err     error
}

// Feature is one capability of the tracer on this kernel: the mechanism
// that provides it, or why it is unavailable.
type Feature struct {
	Name      string // "seccomp", "capability", "kernel_log"
	Mechanism string // e.g. "tp_btf/cap_capable"; "" when unavailable
	Err       error  // why it is unavailable
}

// Tracer is a loaded and attached set of ctrace programs.
type Tracer struct {
	coll     *ebpf.Collection
	extra    []*ebpf.Collection // reason programs, loaded one by one
	btf      *btf.Cache         // the kernel's BTF, decoded once for every load
	links    []io.Closer        // attached programs
	features []Feature
	lsm      string // the active LSMs that can deny (see denyingLSMs)
	rd       *ringbuf.Reader
	asleep   *sleepFlag  // asks the kernel for a wake-up (see Run)
	window   *windowWord // Options.Aggregate's window; nil when off
	attached []string
	skipped  []Skip

	attachedOps []Op      // ops whose exit is installed
	entered     bool      // the entries are watched
	raw         bool      // raw sys_enter/sys_exit dispatch (see Options.RawDispatch)
	rawWhy      error     // why the per-syscall tracepoints were not used
	events      *eventIDs // the syscall tracepoints' ids, unless raw
	lost        uint64
	cgroups     cgroupPaths // paths the kernel no longer sends
	bootBase    int64       // wall clock minus boot clock, in ns
	agg         *aggregator // Options.Aggregate; nil when off

}

// Open loads the programs that opts need, sets their filters, and attaches
// them. A syscall whose tracepoint this kernel lacks is skipped (see
// Skipped); any other failure is an error naming the program.
func Open(opts Options) (*Tracer, error) {
	if len(opts.Syscalls) == 0 {
		opts.Syscalls, _ = ParseSyscalls(nil)
	}
	// Each traced syscall's own tracepoints first: untraced syscalls then
	// run no program at all. The raw dispatchers only where they cannot
	// be used: a kernel without syscall tracepoints, or no way to read
	// their ids (see tracefs.go).
	var why error
	if !opts.RawDispatch {
		var ev *eventIDs
		if ev, why = syscallEventIDs(eventNames(opts.Syscalls)); why == nil {
			t, err := open(opts, ev)
			if err == nil {
				return t, nil
			}
			why = err
		}
	}
	t, err := open(opts, nil)
	if err != nil {
		return nil, err
	}
	t.rawWhy = why
	return t, nil
}

// eventNames are the syscalls:* events of the traced syscalls, exits and
// entries.
func eventNames(syscalls []Op) []string {
	var names []string
	for _, o := range syscalls {
		if validOp(o) {
			names = append(names, "sys_exit_"+ops[o].event, "sys_enter_"+ops[o].event)
		}
	}
	return names
}

// open loads and attaches the programs: to the syscall tracepoints whose
// ids are in ev, or through the raw dispatchers when ev is nil.
func open(opts Options, ev *eventIDs) (*Tracer, error) {
	raw := ev == nil
	// Kernels before 5.11 charge eBPF maps to RLIMIT_MEMLOCK; later ones
	// to the memory cgroup, and then this does nothing.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raise RLIMIT_MEMLOCK, which this kernel charges eBPF maps to (needs CAP_SYS_RESOURCE): %w", err)
	}
	spec, err := loadBpf()
	if err != nil {
		return nil, fmt.Errorf("read embedded eBPF objects: %w", err)
	}
	if err := configure(spec, &opts); err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for _, o := range opts.Syscalls {
		if !validOp(o) {
			return nil, fmt.Errorf("unknown syscall op %d", o)
		}
		if raw {
			keep[ops[o].program] = true
		} else {
			keep["tp_"+ops[o].program] = true
		}
	}
	if raw {
		keep["sys_exit"], keep["sys_enter"] = true, true
	} else {
		keep["tp_sys_enter"] = true
	}
	// Reason programs hook the kernel in ways some kernels refuse; they
	// are loaded on their own after the rest, so that a refusal costs the
	// reason, not the tracer.
	reasons := map[string]*ebpf.ProgramSpec{}
	for _, name := range reasonPrograms {
		reasons[name] = spec.Programs[name]
	}
	if opts.Follow {
		keep["follow_fork"] = true
		keep["follow_exit"] = true
	}
	for name := range spec.Programs {
		if !keep[name] {
			delete(spec.Programs, name)
		}
	}
	// Every load relocates against the kernel's BTF: decoding it once
	// instead of once per load saves most of the start-up's user time.
	t := &Tracer{btf: btf.NewCache(), bootBase: bootBase(), raw: raw, events: ev}
	// Whether the programs may cast an address to a typed pointer, whose
	// loads need no helper call (fill_proc in bpf/task.h).
	if err := setVar(spec, "have_rdonly_cast", t.hasKernelFunc("bpf_rdonly_cast")); err != nil {
		return nil, err
	}
	// Where memory accounting's capability question is asked, for the
	// tracepoint's program to leave it out (memory_probe in
	// bpf/ctrace.bpf.c); fexit's sees the question's opts instead.
	if t.hasTracepointBTF("cap_capable") {
		if start, end, ok := kernelFuncRange("security_vm_enough_memory_mm"); ok {
			if err := setVar(spec, "vm_acct_start", start); err != nil {
				return nil, err
			}
			if err := setVar(spec, "vm_acct_end", end); err != nil {
				return nil, err
			}
		}
	}
	coll, err := loadParallel(spec, t.btf, func(c *ebpf.Collection) {
		// Beside the exits: the reason programs need only the maps.
		t.coll = c
		t.loadReasons(spec, reasons, opts.Syscalls)
	})
	if err != nil {
		t.coll = nil // loadParallel closed it
		t.Close()
		return nil, explainLoad(err)
	}
	t.coll = coll
	if err := t.fill(&opts); err != nil {
		t.Close()
		return nil, err
	}
	if err := t.attach(&opts); err != nil {
		t.Close()
		return nil, err
	}
	if len(t.attached) == 0 {
		t.Close()
		return nil, errors.New("no syscall could be traced on this kernel: " + t.skipSummary())
	}
	t.btf = nil // the decoded BTF is large, and no longer needed
	known := coll.Maps["cgroups_known"]
	t.cgroups.tell = func(id uint64) error { return known.Put(id, uint8(1)) }
	t.rd, err = ringbuf.NewReader(coll.Maps["events"])
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("open ring buffer: %w", err)
	}
	if t.asleep, err = mapSleepFlag(coll.Maps["reader_asleep"]); err != nil {
		t.Close()
		return nil, err
	}
	if opts.Aggregate > 0 {
		if t.window, err = mapWindowWord(coll.Maps["agg_epoch"]); err != nil {
			t.Close()
			return nil, err
		}
		t.agg = newAggregator(coll.Maps["repeats"], t.window, opts.Aggregate, coarseClock())
	}
	return t, nil
}

// setVar sets a knob of the eBPF object before it is loaded.
func setVar(spec *ebpf.CollectionSpec, name string, v any) error {
	vs, ok := spec.Variables[name]
	if !ok {
		return fmt.Errorf("eBPF object has no variable %s", name)
	}
	if err := vs.Set(v); err != nil {
		return fmt.Errorf("set %s: %w", name, err)
	}
	return nil
}

func configure(spec *ebpf.CollectionSpec, opts *Options) error {
	var mask [64]uint64
	for _, e := range opts.Errnos {
		if e == 0 || e > 4095 {
			return fmt.Errorf("errno %d out of range", e)
		}
		mask[e>>6] |= 1 << (e & 63)
	}
	self := uint32(os.Getpid())
	if opts.IncludeSelf {
		self = 0
	}
	for name, v := range map[string]any{
		"self_tgid":     self,
		"trace_success": opts.All,
		"filter_tgid":   len(opts.PIDs) > 0 || opts.Follow,
		"filter_comm":   len(opts.Comms) > 0,
		"filter_errno":  len(opts.Errnos) > 0,
		"errno_mask":    mask,
		"task_marks":    taskMarks(),
		"aggregate":     opts.Aggregate > 0,
	} {
		if err := setVar(spec, name, v); err != nil {
			return err
		}
	}
	if !taskMarks() {
		// No program reaches it, but the map must exist to load them.
		// Preallocated: 5.10's verifier warns (a kernel WARNING) about
		// tracing programs that use hash maps allocated at run time.
		m := spec.Maps["entry_marks"]
		m.Type, m.MaxEntries, m.Flags = ebpf.Hash, 1, 0
	}
	if opts.Aggregate > 0 {
		if err := setVar(spec, "agg_coarse_clock", coarseClock()); err != nil {
			return err
		}
	} else {
		// No program reaches it: the smallest map that loads.
		spec.Maps["repeats"].MaxEntries = 1
	}
	size := opts.BufferSize
	if size == 0 {
		size = DefaultBufferSize
	}
	page := os.Getpagesize()
	if size < page || size&(size-1) != 0 {
		return fmt.Errorf("ring buffer size %d: must be a power of two of at least %d bytes", size, page)
	}
	spec.Maps["events"].MaxEntries = uint32(size)
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return fmt.Errorf("count possible CPUs for the record scratch space: %w", err)
	}
	spec.Maps["scratch"].MaxEntries = uint32(cpus)
	return nil
}

// fill loads the filter maps.
func (t *Tracer) fill(opts *Options) error {
	for _, pid := range opts.PIDs {
		if err := t.Trace(pid); err != nil {
			return err
		}
	}
	for _, c := range opts.Comms {
		var key [16]byte
		if len(c) >= len(key) {
			// The kernel keeps 15 bytes of a name.
			c = c[:len(key)-1]
		}
		copy(key[:], c)
		if err := t.coll.Maps["comms"].Put(key, uint8(1)); err != nil {
			return fmt.Errorf("add comm %q to the filter: %w", c, err)
		}
	}
	return nil
}

// Trace adds a process to those traced when Options.PIDs or Follow is set.
// To trace a command from its first instruction, add it before it runs.
func (t *Tracer) Trace(pid uint32) error {
	if err := t.coll.Maps["tgids"].Put(pid, uint8(1)); err != nil {
		return fmt.Errorf("add pid %d to the filter: %w", pid, err)
	}
	return nil
}

func (t *Tracer) attach(opts *Options) error {
	var err error
	if t.raw {
		err = t.attachRaw(opts)
	} else {
		err = t.attachPerSyscall(opts)
	}
	if err != nil {
		return err
	}
	if opts.Follow {
		for _, name := range []string{"follow_fork", "follow_exit"} {
			l, err := link.AttachTracing(link.TracingOptions{Program: t.coll.Programs[name]})
			if err != nil {
				return fmt.Errorf("attach %s (needed to follow child processes): %w", name, err)
			}
			t.links = append(t.links, l)
		}
	}
	return nil
}

// attachPerSyscall attaches each traced syscall's exit program to its
// syscalls:sys_exit_<name> tracepoint and the entry mark to its
// sys_enter_<name>.
func (t *Tracer) attachPerSyscall(opts *Options) error {
	for _, o := range opts.Syscalls {
		spec := &ops[o]
		if _, ok := syscallNR[o]; !ok {
			t.skipped = append(t.skipped, Skip{Syscall: spec.name, Err: fmt.Errorf("%w on this architecture", ErrNoSyscall)})
			continue
		}
		id, ok := t.events.ids["sys_exit_"+spec.event]
		if !ok {
			// mount_setattr before 5.12, say.
			t.skipped = append(t.skipped, Skip{Syscall: spec.name, Err: fmt.Errorf("%w in this kernel (no syscalls:sys_exit_%s event)", ErrNoSyscall, spec.event)})
			continue
		}
		l, err := attachTracepoint(id, t.coll.Programs["tp_"+spec.program])
		if err != nil {
			t.skipped = append(t.skipped, Skip{Syscall: spec.name, Err: fmt.Errorf("attach to syscalls:sys_exit_%s: %w", spec.event, err)})
			continue
		}
		t.links = append(t.links, l)
		t.attached = append(t.attached, spec.name)
		t.attachedOps = append(t.attachedOps, o)
	}
	// The reason programs and the entry mark name calls by syscall
	// number.
	if err := t.arm(); err != nil {
		return err
	}
	// The exits infer seccomp refusals only once every entry is watched.
	f := Feature{Name: "seccomp", Mechanism: "syscalls:sys_enter_* tracepoints (a filtered call exits without entering; " + t.markStore() + ")"}
	var entries []io.Closer
	for _, o := range t.attachedOps {
		id, ok := t.events.ids["sys_enter_"+ops[o].event]
		err := fmt.Errorf("no syscalls:sys_enter_%s event beside its exit", ops[o].event)
		var l io.Closer
		if ok {
			l, err = attachTracepoint(id, t.coll.Programs["tp_sys_enter"])
		}
		if err != nil {
			f = Feature{Name: "seccomp", Err: fmt.Errorf("attach to syscalls:sys_enter_%s: %w", ops[o].event, err)}
			for _, l := range entries {
				l.Close()
			}
			entries = nil
			break
		}
		entries = append(entries, l)
	}
	t.features = append([]Feature{f}, t.features...)
	if f.Err != nil {
		return nil
	}
	t.links = append(t.links, entries...)
	t.entered = true
	return t.armEntries()
}

// attachRaw installs the exit programs in the raw sys_exit dispatcher's
// table and attaches the dispatchers.
func (t *Tracer) attachRaw(opts *Options) error {
	exits := t.coll.Maps["exits"]
	for _, o := range opts.Syscalls {
		spec := &ops[o]
		if _, ok := syscallNR[o]; !ok {
			t.skipped = append(t.skipped, Skip{Syscall: spec.name, Err: fmt.Errorf("%w on this architecture", ErrNoSyscall)})
			continue
		}
		if err := exits.Put(uint32(o), t.coll.Programs[spec.program]); err != nil {
			return fmt.Errorf("install %s: %w", spec.program, err)
		}
		t.attached = append(t.attached, spec.name)
		t.attachedOps = append(t.attachedOps, o)
	}
	if err := t.arm(); err != nil {
		return err
	}
	// The entry first: a call must not reach the exit having passed an
	// entry that was not watched yet.
	f := Feature{Name: "seccomp", Mechanism: "raw_tracepoint/sys_enter (a filtered call exits without entering; " + t.markStore() + ")"}
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: t.coll.Programs["sys_enter"]})
	if err != nil {
		f = Feature{Name: "seccomp", Err: fmt.Errorf("attach sys_enter: %w", err)}
	} else {
		t.links = append(t.links, l)
		t.entered = true
	}
	t.features = append([]Feature{f}, t.features...)
	l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_exit", Program: t.coll.Programs["sys_exit"]})
	if err != nil {
		return fmt.Errorf("attach sys_exit to raw tracepoint sys_exit: %w", err)
	}
	t.links = append(t.links, l)
	if t.entered {
		return t.armEntries()
	}
	return nil
}

// Dispatch says how the traced syscalls' exits reach ctrace's programs,
// and when it is the raw fallback, why.
func (t *Tracer) Dispatch() Feature {
	if !t.raw {
		return Feature{Name: "dispatch", Mechanism: "syscalls:sys_exit_<name> tracepoints, one per traced syscall"}
	}
	return Feature{Name: "dispatch", Mechanism: "raw_tracepoint/sys_exit, a tail call per traced syscall", Err: t.rawWhy}
}

// Tracefs says how the syscall tracepoints' ids were read ("mounted at
// /sys/kernel/tracing", "detached instance ..."), or "" with the raw
// dispatchers.
func (t *Tracer) Tracefs() string {
	if t.events == nil {
		return ""
	}
	return t.events.how
}

// Attached lists the syscalls being traced.
func (t *Tracer) Attached() []string { return t.attached }

// Skipped lists the requested syscalls that this kernel cannot trace.
func (t *Tracer) Skipped() []Skip { return t.skipped }

func (t *Tracer) skipSummary() string {
	var s []string
	for _, k := range t.skipped {
		s = append(s, k.Syscall+": "+k.Err.Error())
	}
	return strings.Join(s, "; ")
}

// Close detaches every program and frees the maps. It is safe to call
// more than once.
func (t *Tracer) Close() error {
	var errs []error
	if t.rd != nil {
		errs = append(errs, t.rd.Close())
		t.rd = nil
	}
	if t.asleep != nil {
		errs = append(errs, t.asleep.close())
		t.asleep = nil
	}
	if t.window != nil {
		errs = append(errs, t.window.close())
		t.window = nil
	}
	errs = append(errs, t.detach())
	for _, c := range t.extra {
		c.Close()
	}
	t.extra = nil
	if t.coll != nil {
		t.coll.Close()
		t.coll = nil
	}
	return errors.Join(errs...)
}

// detach detaches every program; the maps stay.
func (t *Tracer) detach() error {
	// Each detach waits for an RCU grace period (tens of milliseconds);
	// done one after another, sixty links take seconds.
	lerrs := make([]error, len(t.links))
	var wg sync.WaitGroup
	for i, l := range t.links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lerrs[i] = l.Close()
		}()
	}
	wg.Wait()
	t.links = nil
	return errors.Join(lerrs...)
}

// explainLoad turns a load error into one that names the program and the
// verifier's complaint, and says what to check.
func explainLoad(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("the kernel refused ctrace's program %s: %q (ctrace needs kernel 5.10 or newer with BTF; `ctrace check` says more): %w",
			programName(err), verifierLine(ve.Log), err)
	}
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("load eBPF programs: %w (run as root, or with CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE; lockdown=confidentiality also forbids it)", err)
	}
	return fmt.Errorf("load eBPF programs: %w", err)
}

// programName finds the program cilium/ebpf names in a load error
// ("program exit_mount: load program: ...").
func programName(err error) string {
	s := err.Error()
	if _, rest, ok := strings.Cut(s, "program "); ok {
		if name, _, ok := strings.Cut(rest, ":"); ok && !strings.Contains(name, " ") {
			return name
		}
	}
	return "(unknown)"
}

// verifierLine picks the verifier's complaint out of its log: the last line
// that is not a statistic.
func verifierLine(log []string) string {
	for i := len(log) - 1; i >= 0; i-- {
		l := strings.TrimSpace(log[i])
		if l == "" || strings.HasPrefix(l, "processed ") || strings.HasPrefix(l, "verification time") ||
			strings.HasPrefix(l, "stack depth") {
			continue
		}
		return l
	}
	return "no verifier log"
}

func bootBase() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	now := unixNano()
	return now - ts.Nano()
}

// taskMarks reports whether ctrace's tracepoint programs may keep the entry
// marks of tasks under a seccomp filter in task-local storage on this
// kernel (bpf_task_storage_get from tracepoint programs: 5.12 and later),
// which costs a traced call a fraction of a hash map update and delete.
func taskMarks() bool {
	if features.HaveMapType(ebpf.TaskStorage) != nil {
		return false
	}
	for _, pt := range []ebpf.ProgramType{ebpf.TracePoint, ebpf.RawTracepoint} {
		for _, fn := range []asm.BuiltinFunc{asm.FnTaskStorageGet, asm.FnGetCurrentTaskBtf} {
			if features.HaveProgramHelper(pt, fn) != nil {
				return false
			}
		}
	}
	return true
}

// coarseClock reports whether the exit programs may read the coarse
// monotonic clock (bpf_ktime_get_coarse_ns, 5.11+), which keeps a
// repeat's time at a fraction of the boot clock's cost.
func coarseClock() bool {
	for _, pt := range []ebpf.ProgramType{ebpf.TracePoint, ebpf.RawTracepoint} {
		if features.HaveProgramHelper(pt, asm.FnKtimeGetCoarseNs) != nil {
			return false
		}
	}
	return true
}

// markStore says where the entry marks are kept, and which calls need
// none, for ctrace check.
func (t *Tracer) markStore() string {
	where := "marks in a hash map"
	if taskMarks() {
		where = "marks in task storage"
	}
	if t.seccompCache() {
		where += "; none for calls the filters allow whatever the arguments"
	}
	return where
}

// seccompCache reports whether the kernel keeps, with each seccomp filter,
// the syscalls it allows whatever their arguments (struct action_cache,
// 5.11+), where ctrace's programs read it (through a BTF task pointer):
// such calls need no entry mark (filter_allows in bpf/task.h).
func (t *Tracer) seccompCache() bool {
	if features.HaveProgramHelper(ebpf.TracePoint, asm.FnGetCurrentTaskBtf) != nil {
		return false
	}
	k, err := t.btf.Kernel()
	if err != nil {
		return false
	}
	var filter *btf.Struct
	if k.TypeByName("seccomp_filter", &filter) != nil {
		return false
	}
	return slices.ContainsFunc(filter.Members, func(m btf.Member) bool { return m.Name == "cache" })
}
