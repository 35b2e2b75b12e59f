// Package xlat is how ctrace prints one syscall argument, in strace's
// grammar: the names of flag sets and enums (mount's MS_*, open's O_*,
// the CLONE_* and CLONE_NEW* of clone, unshare and setns, ...), file
// modes, signals, capabilities and errnos, the layouts of the structures
// that calls take (open_how, clone_args, mount_attr), and the quoting of
// strings. Each table is written once, here, from golang.org/x/sys/unix
// constants; the tracer's syscall table refers to them by name
// (xlat.MountFlags, xlat.OpenHow), and the renderer (internal/render)
// puts the arguments into whole lines.
//
// The package is named after strace's own value-to-name tables
// (src/xlat/*.in), which the tables here follow.
package xlat

// Formatter names the raw register value of one kind of argument: a flag
// set, an enum or a mode.
type Formatter struct {
	format func(uint64) string
}

// Format returns v as strace prints it.
func (f Formatter) Format(v uint64) string { return f.format(v) }

// Layout decodes one structure that a syscall reads from user memory.
type Layout struct {
	decode func([]byte) []Field
}

// Decode decodes the bytes the kernel copied of the structure, which may
// be fewer than the whole (then the last field is "...").
func (l Layout) Decode(b []byte) []Field { return l.decode(b) }

// The argument kinds of the traced syscalls, by what they are.
var (
	MountFlags       = Formatter{mountFlags}       // mount(2) flags, MS_*
	UmountFlags      = Formatter{umountFlags}      // umount2(2) flags
	FsopenFlags      = Formatter{fsopenFlags}      // fsopen(2) flags
	FsconfigCmd      = Formatter{fsconfigCmd}      // fsconfig(2) cmd, an enum
	FsmountFlags     = Formatter{fsmountFlags}     // fsmount(2) flags
	FsmountAttrFlags = Formatter{mountAttrFlags}   // fsmount(2) attr_flags, MOUNT_ATTR_*
	FspickFlags      = Formatter{fspickFlags}      // fspick(2) flags
	MoveMountFlags   = Formatter{moveMountFlags}   // move_mount(2) flags
	OpenTreeFlags    = Formatter{openTreeFlags}    // open_tree(2) flags
	ATFlags          = Formatter{atFlags}          // AT_* of mount_setattr, execveat, newfstatat
	OpenFlags        = Formatter{openFlags}        // open(2) and openat(2) flags
	FileMode         = Formatter{fileMode}         // open(2) and mkdir(2) modes, in octal
	NSType           = Formatter{nsType}           // setns(2) nstype, CLONE_NEW*
	UnshareFlags     = Formatter{unshareFlags}     // unshare(2) flags
	CloneFlags       = Formatter{cloneFlags}       // clone(2) flags, with the exit signal
	StatxFlags       = Formatter{statxFlags}       // statx(2) flags
	StatxMask        = Formatter{statxMask}        // statx(2) mask
	AccessMode       = Formatter{accessMode}       // access(2) mode
	FaccessatFlags   = Formatter{faccessatFlags}   // faccessat2(2) flags
	UnlinkatFlags    = Formatter{unlinkatFlags}    // unlinkat(2) flags
	MountAttrFlags   = Formatter{mountAttrFlags64} // mount_attr.attr_set and attr_clr
	MountPropagation = Formatter{mountPropagation} // mount_attr.propagation
	ResolveFlags     = Formatter{resolveFlags}     // open_how.resolve
	CloneArgsFlags   = Formatter{cloneArgsFlags}   // clone_args.flags
)

// The structures the traced syscalls read.
var (
	OpenHow   = Layout{decodeOpenHow}   // openat2(2)'s struct open_how
	CloneArgs = Layout{decodeCloneArgs} // clone3(2)'s struct clone_args
	MountAttr = Layout{decodeMountAttr} // mount_setattr(2)'s struct mount_attr
)
