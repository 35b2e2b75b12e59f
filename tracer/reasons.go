package tracer

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// reasonPrograms are the programs that find out why calls fail. Each is
// optional: a kernel that refuses one loses that reason, and Features says
// so.
var reasonPrograms = append([]string{"cap_denied_tp", "cap_denied_fexit", "kernel_log"}, lsmProgramNames()...)

// lsmPrograms watch the verdicts of the LSM hooks of the traced calls,
// each with the traced syscalls that reach its hook. A hook that none of
// the traced syscalls reach is left alone: its trampoline would slow every
// call of it on the node for nothing (security_file_open runs on every
// open of every task).
var lsmPrograms = []struct {
	name string
	ops  []Op
}{
	{"lsm_sb_mount", []Op{bpfCtraceOpCTRACE_OP_MOUNT}},
	{"lsm_sb_umount", []Op{bpfCtraceOpCTRACE_OP_UMOUNT2}},
	{"lsm_move_mount", []Op{bpfCtraceOpCTRACE_OP_MOVE_MOUNT}},
	{"lsm_sb_pivotroot", []Op{bpfCtraceOpCTRACE_OP_PIVOT_ROOT}},
	// An exec opens its file as an open does. O_PATH opens
	// (open_tree, fspick) skip the hook.
	{"lsm_file_open", []Op{bpfCtraceOpCTRACE_OP_OPEN, bpfCtraceOpCTRACE_OP_OPENAT, bpfCtraceOpCTRACE_OP_OPENAT2,
		bpfCtraceOpCTRACE_OP_EXECVE, bpfCtraceOpCTRACE_OP_EXECVEAT}},
	{"lsm_bprm_check", []Op{bpfCtraceOpCTRACE_OP_EXECVE, bpfCtraceOpCTRACE_OP_EXECVEAT}},
}

func lsmProgramNames() []string {
	var names []string
	for _, p := range lsmPrograms {
		names = append(names, p.name)
	}
	return names
}

// loadReasons loads and attaches the reason programs that this kernel
// takes, and records the outcome in t.features. The programs share the
// main collection's maps.
func (t *Tracer) loadReasons(spec *ebpf.CollectionSpec, progs map[string]*ebpf.ProgramSpec, syscalls []Op) {
	capFeature := Feature{Name: "capability"}
	// The capability:cap_capable tracepoint (6.16+) sees every check with
	// its verdict; older kernels need fexit on cap_capable, which some
	// kernels (lockdown, or no fexit support) refuse.
	fexit := Feature{Name: "fexit", Mechanism: "fexit"}
	if t.hasTracepointBTF("cap_capable") {
		capFeature.Mechanism, capFeature.Err = "tp_btf/cap_capable", t.loadReason(spec, progs["cap_denied_tp"], link.AttachTracing)
		// Not needed here, but whether the kernel takes fexit programs
		// is worth knowing (ctrace check): older kernels need them.
		fexit.Err = t.probeLoad(spec, progs["cap_denied_fexit"])
	} else {
		capFeature.Mechanism, capFeature.Err = "fexit/cap_capable", t.loadReason(spec, progs["cap_denied_fexit"], link.AttachTracing)
		// Its outcome is fexit's: a kernel may load fexit programs and
		// still not attach them (arm64 before 6.4: ENOTSUPP).
		fexit.Err = capFeature.Err
	}
	if capFeature.Err != nil {
		capFeature.Mechanism = ""
	}
	logFeature := Feature{Name: "kernel_log", Mechanism: "tp_btf/console"}
	if logFeature.Err = t.loadReason(spec, progs["kernel_log"], link.AttachTracing); logFeature.Err != nil {
		logFeature.Mechanism = ""
	}
	if fexit.Err != nil {
		fexit.Mechanism = ""
	}
	t.features = append(t.features, capFeature, logFeature, fexit, t.loadLSMHooks(spec, progs, syscalls))
}

// loadLSMHooks attaches fexit programs to the security_* hooks of the
// traced calls, so that a denial names the hook. Which LSM denied is not
// in the verdict: it is the one active LSM that can deny, when there is
// one (t.lsm), and otherwise the audit records tell.
func (t *Tracer) loadLSMHooks(spec *ebpf.CollectionSpec, progs map[string]*ebpf.ProgramSpec, syscalls []Op) Feature {
	f := Feature{Name: "lsm_hooks", Mechanism: "fexit/security_*"}
	t.lsm = denyingLSMs()
	var attached []string
	for _, p := range lsmPrograms {
		if !slices.ContainsFunc(p.ops, func(o Op) bool { return slices.Contains(syscalls, o) }) {
			continue
		}
		name := p.name
		err := t.loadReason(spec, progs[name], link.AttachTracing)
		if err != nil {
			if len(attached) == 0 {
				f.Mechanism, f.Err = "", err
				return f
			}
			// A hook this kernel lacks or cannot trace.
			continue
		}
		attached = append(attached, name)
	}
	if len(attached) == 0 && f.Err == nil {
		f.Mechanism, f.Err = "", errors.New("none of the traced syscalls reaches a watched security_* hook")
	}
	return f
}

// denyingLSMs names the active LSMs that can refuse the traced calls,
// joined by "|": capability, lockdown and yama cannot, here.
func denyingLSMs() string {
	lsms, err := SecurityFile("lsm")
	if err != nil {
		return ""
	}
	var out []string
	for _, l := range strings.Split(lsms, ",") {
		switch l {
		case "", "capability", "lockdown", "yama", "integrity", "ima", "evm":
		default:
			out = append(out, l)
		}
	}
	return strings.Join(out, "|")
}

// probeLoad loads a program and unloads it at once.
func (t *Tracer) probeLoad(spec *ebpf.CollectionSpec, ps *ebpf.ProgramSpec) error {
	if ps == nil {
		return errors.New("program missing from the eBPF object")
	}
	c, err := ebpf.NewCollectionWithOptions(oneProgram(spec, ps), ebpf.CollectionOptions{MapReplacements: t.coll.Maps, Cache: t.btf})
	if err != nil {
		return loadError(ps, err)
	}
	c.Close()
	return nil
}

// loadError says why an optional program did not load. EPERM for one
// program while the others loaded means the kernel refuses its kind
// (lockdown, or a kernel built without support), not missing privileges.
func loadError(ps *ebpf.ProgramSpec, err error) error {
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("the kernel refuses %s programs (EPERM, while it takes ctrace's others)", ps.SectionName)
	}
	return fmt.Errorf("load %s: %w", ps.Name, err)
}

// oneProgram is spec with ps as its only program.
func oneProgram(spec *ebpf.CollectionSpec, ps *ebpf.ProgramSpec) *ebpf.CollectionSpec {
	return &ebpf.CollectionSpec{
		Maps:      spec.Maps,
		Programs:  map[string]*ebpf.ProgramSpec{ps.Name: ps},
		Variables: spec.Variables,
		Types:     spec.Types,
		ByteOrder: spec.ByteOrder,
	}
}

func (t *Tracer) loadReason(spec *ebpf.CollectionSpec, ps *ebpf.ProgramSpec, attach func(link.TracingOptions) (link.Link, error)) error {
	if ps == nil {
		return errors.New("program missing from the eBPF object")
	}
	c, err := ebpf.NewCollectionWithOptions(oneProgram(spec, ps), ebpf.CollectionOptions{MapReplacements: t.coll.Maps, Cache: t.btf})
	if err != nil {
		return loadError(ps, err)
	}
	l, err := attach(link.TracingOptions{Program: c.Programs[ps.Name]})
	if err != nil {
		c.Close()
		return fmt.Errorf("attach %s: %w", ps.Name, err)
	}
	t.extra = append(t.extra, c)
	t.links = append(t.links, l)
	return nil
}

// hasTracepointBTF reports whether the kernel has a BTF-typed tracepoint.
func (t *Tracer) hasTracepointBTF(name string) bool {
	k, err := t.btf.Kernel()
	if err != nil {
		return false
	}
	var td *btf.Typedef
	return k.TypeByName("btf_trace_"+name, &td) == nil
}

// hasKernelFunc reports whether the kernel's BTF has the function name, a
// kfunc say.
func (t *Tracer) hasKernelFunc(name string) bool {
	k, err := t.btf.Kernel()
	if err != nil {
		return false
	}
	var fn *btf.Func
	return k.TypeByName(name, &fn) == nil
}

// arm tells the kernel side which syscalls are traced, by number. Until
// then the dispatcher and the reason programs see no traced call.
func (t *Tracer) arm() error {
	nrs := t.coll.Maps["syscall_ops"]
	for _, o := range t.attachedOps {
		if err := nrs.Put(syscallNR[o], uint16(o)); err != nil {
			return fmt.Errorf("arm syscall %s: %w", o, err)
		}
	}
	return nil
}

// armEntries lets exits infer seccomp rejections, once the entry program
// watches every traced call.
func (t *Tracer) armEntries() error {
	flags := t.coll.Maps["op_flags"]
	for _, o := range t.attachedOps {
		if err := flags.Put(uint32(o), uint32(1)); err != nil { // OPF_ENTRY
			return fmt.Errorf("arm entry of %s: %w", o, err)
		}
	}
	return nil
}

// Features reports which reasons this tracer can give, and how.
func (t *Tracer) Features() []Feature { return t.features }
