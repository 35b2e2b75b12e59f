package tracer

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ctrace-dev/ctrace/tracer/xlat"
)

// Op identifies a traced syscall. Its values are ctrace's own (enum
// ctrace_op in bpf/ctrace.h), the same on every architecture.
type Op = bpfCtraceOp

// Family groups the traced syscalls the way users ask for them.
type Family string

// The syscall families ctrace traces. On the command line a family is
// selected with a leading %, as in strace: -e %mount.
const (
	FamilyMount     Family = "mount"
	FamilyOpen      Family = "open"
	FamilyNamespace Family = "namespace"
	FamilyExec      Family = "exec"
	// FamilyRuntime holds file calls (stat, access, mkdir, symlink,
	// chdir, rmdir, unlink) that are traced only for container runtime processes: runc,
	// its init stages, the containerd shims and containerd. There a failing
	// stat of a spec path is what stops a container from starting;
	// anywhere else such failures are noise.
	FamilyRuntime Family = "runtime"
)

// ArgKind says how an argument's raw value is read and printed.
type ArgKind = xlat.ArgKind

// Argument kinds. A record's fields can refine the kind: an fsconfig value
// is a string, a path or bytes depending on the command.
const (
	KindInt    = xlat.KindInt    // a signed int, in decimal
	KindSize   = xlat.KindSize   // an unsigned size, in decimal
	KindPtr    = xlat.KindPtr    // a user address that ctrace does not read
	KindFlags  = xlat.KindFlags  // a flag set or enum, printed by name
	KindMode   = xlat.KindMode   // a file mode, in octal
	KindString = xlat.KindString // a user string
	KindFD     = xlat.KindFD     // a file descriptor, with what it refers to
	KindStruct = xlat.KindStruct // a user struct, decoded field by field
	KindBytes  = xlat.KindBytes  // raw user bytes without a known layout
	KindArgv   = xlat.KindArgv   // a NULL-terminated array of strings
)

type argSpec struct {
	name   string
	kind   ArgKind
	format func(uint64) string       // KindFlags: names of the value
	decode func([]byte) []xlat.Field // KindStruct: the layout
}

type opSpec struct {
	name    string
	family  Family
	program string // the exit program in bpf/ctrace.bpf.c, after the raw dispatcher
	// event names the syscall's syscalls:sys_{enter,exit}_<event>
	// tracepoints, which follow the kernel's SYSCALL_DEFINE name; set
	// only where that differs from name.
	event string
	// custom: the exit program is written out in bpf/ctrace.bpf.c,
	// because what it reads depends on more than each argument's kind
	// (fsconfig's cmd, a successful exec's new image). The others' come
	// from the table: on_exit reads each argument as its kind says.
	custom bool
	args   []argSpec
}

// Argument names are the man pages'.
var (
	dirfd = argSpec{name: "dirfd", kind: KindFD}
	path  = argSpec{name: "path", kind: KindString}
)

// ops describes every traced syscall, indexed by Op: it is the one list of
// them. `make generate` (tracer/internal/opsgen) derives from it the op
// numbers and what the kernel reads of each argument (bpf/ctrace_ops.h),
// the syscall numbers of each architecture (syscalls_*.go) and the README's
// list; docs/design.md says how to add a syscall. An op's number is its
// place here and is ctrace's own, never sent to or from other programs:
// a new syscall goes anywhere in its family.
var ops = []opSpec{
	{}, // 0 (CTRACE_OP_UNSET) is never sent
	{name: "mount", family: FamilyMount, args: []argSpec{
		{name: "source", kind: KindString}, {name: "target", kind: KindString},
		{name: "fstype", kind: KindString}, {name: "flags", kind: KindFlags, format: xlat.MountFlags.Format},
		{name: "data", kind: KindString}}},
	{name: "umount2", event: "umount", family: FamilyMount, args: []argSpec{
		{name: "target", kind: KindString}, {name: "flags", kind: KindFlags, format: xlat.UmountFlags.Format}}},
	{name: "fsopen", family: FamilyMount, args: []argSpec{
		{name: "fsname", kind: KindString}, {name: "flags", kind: KindFlags, format: xlat.FsopenFlags.Format}}},
	{name: "fsconfig", custom: true, family: FamilyMount, args: []argSpec{
		{name: "fd", kind: KindFD}, {name: "cmd", kind: KindFlags, format: xlat.FsconfigCmd.Format},
		{name: "key", kind: KindString}, {name: "value", kind: KindPtr},
		{name: "aux", kind: KindInt}}},
	{name: "fsmount", family: FamilyMount, args: []argSpec{
		{name: "fs_fd", kind: KindFD}, {name: "flags", kind: KindFlags, format: xlat.FsmountFlags.Format},
		{name: "attr_flags", kind: KindFlags, format: xlat.FsmountAttrFlags.Format}}},
	{name: "fspick", family: FamilyMount, args: []argSpec{
		dirfd, path, {name: "flags", kind: KindFlags, format: xlat.FspickFlags.Format}}},
	{name: "move_mount", family: FamilyMount, args: []argSpec{
		{name: "from_dirfd", kind: KindFD}, {name: "from_path", kind: KindString},
		{name: "to_dirfd", kind: KindFD}, {name: "to_path", kind: KindString},
		{name: "flags", kind: KindFlags, format: xlat.MoveMountFlags.Format}}},
	{name: "open_tree", family: FamilyMount, args: []argSpec{
		dirfd, path, {name: "flags", kind: KindFlags, format: xlat.OpenTreeFlags.Format}}},
	{name: "mount_setattr", family: FamilyMount, args: []argSpec{
		dirfd, path, {name: "flags", kind: KindFlags, format: xlat.ATFlags.Format},
		{name: "attr", kind: KindStruct, decode: xlat.MountAttr.Decode}, {name: "size", kind: KindSize}}},
	{name: "pivot_root", family: FamilyMount, args: []argSpec{
		{name: "new_root", kind: KindString}, {name: "put_old", kind: KindString}}},
	{name: "chroot", family: FamilyMount, args: []argSpec{path}},

	{name: "open", family: FamilyOpen, args: []argSpec{
		path, {name: "flags", kind: KindFlags, format: xlat.OpenFlags.Format}, {name: "mode", kind: KindMode}}},
	{name: "openat", family: FamilyOpen, args: []argSpec{
		dirfd, path, {name: "flags", kind: KindFlags, format: xlat.OpenFlags.Format}, {name: "mode", kind: KindMode}}},
	{name: "openat2", family: FamilyOpen, args: []argSpec{
		dirfd, path, {name: "how", kind: KindStruct, decode: xlat.OpenHow.Decode}, {name: "size", kind: KindSize}}},

	{name: "setns", family: FamilyNamespace, args: []argSpec{
		{name: "fd", kind: KindFD}, {name: "nstype", kind: KindFlags, format: xlat.NSType.Format}}},
	{name: "unshare", family: FamilyNamespace, args: []argSpec{
		{name: "flags", kind: KindFlags, format: xlat.UnshareFlags.Format}}},
	{name: "clone", family: FamilyNamespace, args: []argSpec{
		{name: "flags", kind: KindFlags, format: xlat.CloneFlags.Format}, {name: "stack", kind: KindPtr},
		{name: "parent_tid", kind: KindPtr}, {name: "child_tid", kind: KindPtr},
		{name: "tls", kind: KindPtr}}},
	{name: "clone3", family: FamilyNamespace, args: []argSpec{
		{name: "args", kind: KindStruct, decode: xlat.CloneArgs.Decode}, {name: "size", kind: KindSize}}},

	{name: "execve", custom: true, family: FamilyExec, args: []argSpec{
		path, {name: "argv", kind: KindArgv}, {name: "envp", kind: KindPtr}}},
	{name: "execveat", custom: true, family: FamilyExec, args: []argSpec{
		dirfd, path, {name: "argv", kind: KindArgv}, {name: "envp", kind: KindPtr},
		{name: "flags", kind: KindFlags, format: xlat.ATFlags.Format}}},

	{name: "newfstatat", family: FamilyRuntime, args: []argSpec{
		dirfd, path, {name: "statbuf", kind: KindPtr}, {name: "flags", kind: KindFlags, format: xlat.ATFlags.Format}}},
	{name: "statx", family: FamilyRuntime, args: []argSpec{
		dirfd, path, {name: "flags", kind: KindFlags, format: xlat.StatxFlags.Format},
		{name: "mask", kind: KindFlags, format: xlat.StatxMask.Format}, {name: "statxbuf", kind: KindPtr}}},
	{name: "access", family: FamilyRuntime, args: []argSpec{
		path, {name: "mode", kind: KindFlags, format: xlat.AccessMode.Format}}},
	{name: "faccessat", family: FamilyRuntime, args: []argSpec{
		dirfd, path, {name: "mode", kind: KindFlags, format: xlat.AccessMode.Format}}},
	{name: "faccessat2", family: FamilyRuntime, args: []argSpec{
		dirfd, path, {name: "mode", kind: KindFlags, format: xlat.AccessMode.Format},
		{name: "flags", kind: KindFlags, format: xlat.FaccessatFlags.Format}}},
	{name: "mkdir", family: FamilyRuntime, args: []argSpec{
		path, {name: "mode", kind: KindMode}}},
	{name: "mkdirat", family: FamilyRuntime, args: []argSpec{
		dirfd, path, {name: "mode", kind: KindMode}}},
	{name: "symlink", family: FamilyRuntime, args: []argSpec{
		{name: "target", kind: KindString}, {name: "linkpath", kind: KindString}}},
	{name: "symlinkat", family: FamilyRuntime, args: []argSpec{
		{name: "target", kind: KindString}, {name: "newdirfd", kind: KindFD},
		{name: "linkpath", kind: KindString}}},
	{name: "chdir", family: FamilyRuntime, args: []argSpec{path}},
	// rmdir and unlink fail EBUSY on a mount point: a network namespace
	// file that CNI's cleanup could not unmount (internal/busy).
	{name: "rmdir", family: FamilyRuntime, args: []argSpec{path}},
	{name: "unlink", family: FamilyRuntime, args: []argSpec{path}},
	{name: "unlinkat", family: FamilyRuntime, args: []argSpec{
		dirfd, path, {name: "flags", kind: KindFlags, format: xlat.UnlinkatFlags.Format}}},
}

// nrByName is syscallNR by syscall name, for SyscallNumber.
var nrByName = map[string]uint32{}

func init() {
	// Program names follow the syscall names; this is derived, not a
	// registry: the table above stays the one list.
	for i := range ops {
		if ops[i].name != "" {
			ops[i].program = "exit_" + ops[i].name
			if ops[i].event == "" {
				ops[i].event = ops[i].name
			}
			if nr, ok := syscallNR[Op(i)]; ok {
				nrByName[ops[i].name] = nr
			}
		}
	}
}

// SyscallNumber returns the native syscall number of a traced syscall, by
// the name events carry; false for names ctrace does not trace and for
// syscalls this architecture lacks.
func SyscallNumber(name string) (uint32, bool) {
	nr, ok := nrByName[name]
	return nr, ok
}

// Syscall is what tools built around the tracer derive from its table of
// traced syscalls: the generator of bpf/ctrace_ops.h and syscalls_*.go,
// the benchmark's floor, the README's list.
type Syscall struct {
	Op     Op
	Name   string
	Family Family
	// Event names the syscall's syscalls:sys_{enter,exit}_<Event>
	// tracepoints.
	Event string
	Args  []SyscallArg
	// Custom is set where bpf/ctrace.bpf.c writes the exit program out
	// instead of making it from the arguments' kinds.
	Custom bool
}

// SyscallArg is one argument of a traced syscall.
type SyscallArg struct {
	Name string
	Kind ArgKind
}

// Table lists every syscall ctrace can trace, by Op.
func Table() []Syscall {
	var out []Syscall
	for o := Op(1); int(o) < len(ops); o++ {
		s := &ops[o]
		sc := Syscall{Op: o, Name: s.name, Family: s.family, Event: s.event, Custom: s.custom}
		for _, a := range s.args {
			sc.Args = append(sc.Args, SyscallArg{Name: a.name, Kind: a.kind})
		}
		out = append(out, sc)
	}
	return out
}

// String returns the syscall's name.
func (o Op) String() string {
	if int(o) < len(ops) && ops[o].name != "" {
		return ops[o].name
	}
	return fmt.Sprintf("op(%d)", uint32(o))
}

func validOp(o Op) bool {
	return o > bpfCtraceOpCTRACE_OP_UNSET && o < bpfCtraceOpCTRACE_OP_MAX && ops[o].name != ""
}

// Syscalls lists the names of every syscall ctrace can trace.
func Syscalls() []string {
	var names []string
	for o := Op(1); o < bpfCtraceOpCTRACE_OP_MAX; o++ {
		names = append(names, ops[o].name)
	}
	return names
}

// Families lists the syscall families, for -e %family.
func Families() []Family {
	return []Family{FamilyMount, FamilyOpen, FamilyNamespace, FamilyExec, FamilyRuntime}
}

// FamilyOf returns the family of a syscall name, or "" if ctrace does not
// trace it.
func FamilyOf(name string) Family {
	if o, ok := opByName(name); ok {
		return ops[o].family
	}
	return ""
}

func opByName(name string) (Op, bool) {
	for o := Op(1); o < bpfCtraceOpCTRACE_OP_MAX; o++ {
		if ops[o].name == name {
			return o, true
		}
	}
	return 0, false
}

// ParseSyscalls turns names and %families into the set of ops to trace. An
// empty list selects every syscall. An unknown name is an error that lists
// the valid ones.
func ParseSyscalls(names []string) ([]Op, error) {
	seen := map[Op]bool{}
	var out []Op
	add := func(o Op) {
		if !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	if len(names) == 0 {
		for o := Op(1); o < bpfCtraceOpCTRACE_OP_MAX; o++ {
			add(o)
		}
		return out, nil
	}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if fam, ok := strings.CutPrefix(n, "%"); ok {
			found := false
			for o := Op(1); o < bpfCtraceOpCTRACE_OP_MAX; o++ {
				if string(ops[o].family) == fam {
					add(o)
					found = true
				}
			}
			if !found {
				return nil, fmt.Errorf("unknown syscall family %q; valid families: %s", n, familyList())
			}
			continue
		}
		o, ok := opByName(n)
		if !ok {
			return nil, fmt.Errorf("unknown syscall %q; valid syscalls: %s; families: %s",
				n, strings.Join(Syscalls(), ","), familyList())
		}
		add(o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

func familyList() string {
	var s []string
	for _, f := range Families() {
		s = append(s, "%"+string(f))
	}
	return strings.Join(s, ",")
}
