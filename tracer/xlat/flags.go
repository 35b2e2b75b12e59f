package xlat

import (
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The renderers in this file print raw syscall arguments as strace 6.x
// prints them: the same names, in the same order, with the same fallbacks.
// Each family's table follows strace's table for it (src/xlat/*.in). A name
// is printed when all its bits are set, so an entry that covers several bits
// (O_TMPFILE, O_SYNC, MOUNT_ATTR__ATIME) comes before the bits it contains.
//
// Most of these arguments are a C int or unsigned int: the kernel, and
// strace, read the low 32 bits of the register only, and so do the
// renderers, unless their comment says otherwise.

// uapi constants that golang.org/x/sys/unix lacks.
const (
	resolveCached         = 0x20    // RESOLVE_CACHED, include/uapi/linux/openat2.h
	moveMountBeneath      = 0x200   // MOVE_MOUNT_BENEATH, include/uapi/linux/mount.h
	fsconfigCmdCreateExcl = 8       // FSCONFIG_CMD_CREATE_EXCL, include/uapi/linux/mount.h
	atExecveCheck         = 0x10000 // AT_EXECVE_CHECK, include/uapi/linux/fcntl.h

	// O_LARGEFILE as the kernel defines it for x86 and the other
	// asm-generic architectures (include/uapi/asm-generic/fcntl.h).
	// x/sys has glibc's O_LARGEFILE, which is 0 on 64-bit systems.
	oLargeFile = 0o100000

	// The real-time signals, include/uapi/asm-generic/signal.h
	// (SIGRTMIN and _NSIG).
	sigRTMin = 32
	sigRTMax = 64
)

// Bits that x/sys names only inside a composite flag. strace names them
// alone when the rest of the composite is not set.
const (
	oSyncBit    = unix.O_SYNC &^ unix.O_DSYNC        // __O_SYNC
	oTmpfileBit = unix.O_TMPFILE &^ unix.O_DIRECTORY // __O_TMPFILE
)

// flagName is one named value of a flag set or enum.
type flagName struct {
	val  uint64
	name string
}

// mountFlagNames is mount(2)'s MS_*. 0x8000 is MS_SILENT, as strace names
// it, not its older alias MS_VERBOSE.
var mountFlagNames = []flagName{
	{unix.MS_RDONLY, "MS_RDONLY"},
	{unix.MS_NOSUID, "MS_NOSUID"},
	{unix.MS_NODEV, "MS_NODEV"},
	{unix.MS_NOEXEC, "MS_NOEXEC"},
	{unix.MS_SYNCHRONOUS, "MS_SYNCHRONOUS"},
	{unix.MS_REMOUNT, "MS_REMOUNT"},
	{unix.MS_MANDLOCK, "MS_MANDLOCK"},
	{unix.MS_DIRSYNC, "MS_DIRSYNC"},
	{unix.MS_NOSYMFOLLOW, "MS_NOSYMFOLLOW"},
	{unix.MS_NOATIME, "MS_NOATIME"},
	{unix.MS_NODIRATIME, "MS_NODIRATIME"},
	{unix.MS_BIND, "MS_BIND"},
	{unix.MS_MOVE, "MS_MOVE"},
	{unix.MS_REC, "MS_REC"},
	{unix.MS_SILENT, "MS_SILENT"},
	{unix.MS_POSIXACL, "MS_POSIXACL"},
	{unix.MS_UNBINDABLE, "MS_UNBINDABLE"},
	{unix.MS_PRIVATE, "MS_PRIVATE"},
	{unix.MS_SLAVE, "MS_SLAVE"},
	{unix.MS_SHARED, "MS_SHARED"},
	{unix.MS_RELATIME, "MS_RELATIME"},
	{unix.MS_KERNMOUNT, "MS_KERNMOUNT"},
	{unix.MS_I_VERSION, "MS_I_VERSION"},
	{unix.MS_STRICTATIME, "MS_STRICTATIME"},
	{unix.MS_LAZYTIME, "MS_LAZYTIME"},
	{unix.MS_SUBMOUNT, "MS_SUBMOUNT"},
	{unix.MS_NOREMOTELOCK, "MS_NOREMOTELOCK"},
	{unix.MS_NOSEC, "MS_NOSEC"},
	{unix.MS_BORN, "MS_BORN"},
	{unix.MS_ACTIVE, "MS_ACTIVE"},
	{unix.MS_NOUSER, "MS_NOUSER"},
}

// umountFlagNames is umount2(2)'s flags.
var umountFlagNames = []flagName{
	{unix.MNT_FORCE, "MNT_FORCE"},
	{unix.MNT_DETACH, "MNT_DETACH"},
	{unix.MNT_EXPIRE, "MNT_EXPIRE"},
	{unix.UMOUNT_NOFOLLOW, "UMOUNT_NOFOLLOW"},
}

// openAccessModes names the access mode, the low two bits of open's flags.
var openAccessModes = [...]string{
	unix.O_RDONLY:  "O_RDONLY",
	unix.O_WRONLY:  "O_WRONLY",
	unix.O_RDWR:    "O_RDWR",
	unix.O_ACCMODE: "O_ACCMODE",
}

// openFlagNames is open(2)'s flags past the access mode. FASYNC is the
// kernel's name for O_ASYNC, and the one strace prints.
var openFlagNames = []flagName{
	{unix.O_CREAT, "O_CREAT"},
	{unix.O_EXCL, "O_EXCL"},
	{unix.O_NOCTTY, "O_NOCTTY"},
	{unix.O_TRUNC, "O_TRUNC"},
	{unix.O_APPEND, "O_APPEND"},
	{unix.O_NONBLOCK, "O_NONBLOCK"},
	{unix.O_SYNC, "O_SYNC"},
	{oSyncBit, "__O_SYNC"},
	{unix.O_DSYNC, "O_DSYNC"},
	{unix.O_DIRECT, "O_DIRECT"},
	{oLargeFile, "O_LARGEFILE"},
	{unix.O_NOFOLLOW, "O_NOFOLLOW"},
	{unix.O_NOATIME, "O_NOATIME"},
	{unix.O_CLOEXEC, "O_CLOEXEC"},
	{unix.O_PATH, "O_PATH"},
	{unix.O_TMPFILE, "O_TMPFILE"},
	{oTmpfileBit, "__O_TMPFILE"},
	{unix.O_DIRECTORY, "O_DIRECTORY"},
	{unix.O_ASYNC, "FASYNC"},
}

// resolveFlagNames is open_how.resolve's RESOLVE_*.
var resolveFlagNames = []flagName{
	{unix.RESOLVE_NO_XDEV, "RESOLVE_NO_XDEV"},
	{unix.RESOLVE_NO_MAGICLINKS, "RESOLVE_NO_MAGICLINKS"},
	{unix.RESOLVE_NO_SYMLINKS, "RESOLVE_NO_SYMLINKS"},
	{unix.RESOLVE_BENEATH, "RESOLVE_BENEATH"},
	{unix.RESOLVE_IN_ROOT, "RESOLVE_IN_ROOT"},
	{resolveCached, "RESOLVE_CACHED"},
}

// cloneNames is the one table of CLONE_* names, the CLONE_NEW* among
// them: clone(2)'s flags above the signal byte in bit order (strace leaves
// CLONE_DETACHED out: the kernel ignores it), then those that only
// clone_args has room for (CLONE_NEWTIME sits in clone's signal byte).
// The flag sets of clone, clone3, unshare and setns are drawn from it.
var cloneNames = []flagName{
	{unix.CLONE_VM, "CLONE_VM"},
	{unix.CLONE_FS, "CLONE_FS"},
	{unix.CLONE_FILES, "CLONE_FILES"},
	{unix.CLONE_SIGHAND, "CLONE_SIGHAND"},
	{unix.CLONE_PIDFD, "CLONE_PIDFD"},
	{unix.CLONE_PTRACE, "CLONE_PTRACE"},
	{unix.CLONE_VFORK, "CLONE_VFORK"},
	{unix.CLONE_PARENT, "CLONE_PARENT"},
	{unix.CLONE_THREAD, "CLONE_THREAD"},
	{unix.CLONE_NEWNS, "CLONE_NEWNS"},
	{unix.CLONE_SYSVSEM, "CLONE_SYSVSEM"},
	{unix.CLONE_SETTLS, "CLONE_SETTLS"},
	{unix.CLONE_PARENT_SETTID, "CLONE_PARENT_SETTID"},
	{unix.CLONE_CHILD_CLEARTID, "CLONE_CHILD_CLEARTID"},
	{unix.CLONE_UNTRACED, "CLONE_UNTRACED"},
	{unix.CLONE_CHILD_SETTID, "CLONE_CHILD_SETTID"},
	{unix.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
	{unix.CLONE_NEWUTS, "CLONE_NEWUTS"},
	{unix.CLONE_NEWIPC, "CLONE_NEWIPC"},
	{unix.CLONE_NEWUSER, "CLONE_NEWUSER"},
	{unix.CLONE_NEWPID, "CLONE_NEWPID"},
	{unix.CLONE_NEWNET, "CLONE_NEWNET"},
	{unix.CLONE_IO, "CLONE_IO"},
	{unix.CLONE_NEWTIME, "CLONE_NEWTIME"},
	{unix.CLONE_CLEAR_SIGHAND, "CLONE_CLEAR_SIGHAND"},
	{unix.CLONE_INTO_CGROUP, "CLONE_INTO_CGROUP"},
}

// namespaceBits are the CLONE_NEW* bits: setns(2)'s namespace types.
const namespaceBits = unix.CLONE_NEWTIME | unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// cloneFlagNames is clone(2)'s CLONE_*: those above the signal byte that
// fit in 32 bits.
var cloneFlagNames = pickNames(cloneNames, func(v uint64) bool { return v > unix.CSIGNAL && v <= 0xffffffff })

// cloneArgsFlagNames is clone_args.flags: all of them.
var cloneArgsFlagNames = cloneNames

// unshareFlagNames is the CLONE_* that unshare(2) accepts, CLONE_NEWTIME
// first, as strace prints them.
var unshareFlagNames = newTimeFirst(pickNames(cloneNames, func(v uint64) bool {
	return v&(namespaceBits|unix.CLONE_VM|unix.CLONE_FS|unix.CLONE_FILES|unix.CLONE_SIGHAND|unix.CLONE_THREAD|unix.CLONE_SYSVSEM) != 0
}))

// nsTypeNames is setns(2)'s namespace types, CLONE_NEWTIME first.
var nsTypeNames = newTimeFirst(pickNames(cloneNames, func(v uint64) bool { return v&namespaceBits != 0 }))

// pickNames returns the entries of table whose value keep accepts, in
// table order.
func pickNames(table []flagName, keep func(uint64) bool) []flagName {
	var out []flagName
	for _, f := range table {
		if keep(f.val) {
			out = append(out, f)
		}
	}
	return out
}

// newTimeFirst moves CLONE_NEWTIME to the front of a table.
func newTimeFirst(table []flagName) []flagName {
	out := make([]flagName, 0, len(table))
	for _, f := range table {
		if f.val == unix.CLONE_NEWTIME {
			out = append(out, f)
		}
	}
	for _, f := range table {
		if f.val != unix.CLONE_NEWTIME {
			out = append(out, f)
		}
	}
	return out
}

// moveMountFlagNames is move_mount(2)'s MOVE_MOUNT_*.
var moveMountFlagNames = []flagName{
	{unix.MOVE_MOUNT_F_SYMLINKS, "MOVE_MOUNT_F_SYMLINKS"},
	{unix.MOVE_MOUNT_F_AUTOMOUNTS, "MOVE_MOUNT_F_AUTOMOUNTS"},
	{unix.MOVE_MOUNT_F_EMPTY_PATH, "MOVE_MOUNT_F_EMPTY_PATH"},
	{unix.MOVE_MOUNT_T_SYMLINKS, "MOVE_MOUNT_T_SYMLINKS"},
	{unix.MOVE_MOUNT_T_AUTOMOUNTS, "MOVE_MOUNT_T_AUTOMOUNTS"},
	{unix.MOVE_MOUNT_T_EMPTY_PATH, "MOVE_MOUNT_T_EMPTY_PATH"},
	{unix.MOVE_MOUNT_SET_GROUP, "MOVE_MOUNT_SET_GROUP"},
	{moveMountBeneath, "MOVE_MOUNT_BENEATH"},
}

// fsconfigCmdNames is fsconfig(2)'s commands, an enum.
var fsconfigCmdNames = []flagName{
	{unix.FSCONFIG_SET_FLAG, "FSCONFIG_SET_FLAG"},
	{unix.FSCONFIG_SET_STRING, "FSCONFIG_SET_STRING"},
	{unix.FSCONFIG_SET_BINARY, "FSCONFIG_SET_BINARY"},
	{unix.FSCONFIG_SET_PATH, "FSCONFIG_SET_PATH"},
	{unix.FSCONFIG_SET_PATH_EMPTY, "FSCONFIG_SET_PATH_EMPTY"},
	{unix.FSCONFIG_SET_FD, "FSCONFIG_SET_FD"},
	{unix.FSCONFIG_CMD_CREATE, "FSCONFIG_CMD_CREATE"},
	{unix.FSCONFIG_CMD_RECONFIGURE, "FSCONFIG_CMD_RECONFIGURE"},
	{fsconfigCmdCreateExcl, "FSCONFIG_CMD_CREATE_EXCL"},
}

// fsopenFlagNames is fsopen(2)'s flags.
var fsopenFlagNames = []flagName{
	{unix.FSOPEN_CLOEXEC, "FSOPEN_CLOEXEC"},
}

// fsmountFlagNames is fsmount(2)'s flags.
var fsmountFlagNames = []flagName{
	{unix.FSMOUNT_CLOEXEC, "FSMOUNT_CLOEXEC"},
}

// fspickFlagNames is fspick(2)'s FSPICK_*.
var fspickFlagNames = []flagName{
	{unix.FSPICK_CLOEXEC, "FSPICK_CLOEXEC"},
	{unix.FSPICK_SYMLINK_NOFOLLOW, "FSPICK_SYMLINK_NOFOLLOW"},
	{unix.FSPICK_NO_AUTOMOUNT, "FSPICK_NO_AUTOMOUNT"},
	{unix.FSPICK_EMPTY_PATH, "FSPICK_EMPTY_PATH"},
}

// mountAttrFlagNames is mount_attr's attr_set and attr_clr, MOUNT_ATTR_*.
// The access-time setting is a three-bit field, not three flags:
// MOUNT_ATTR_RELATIME is 0, so it never shows, and the whole field (what
// attr_clr holds to change the setting) is MOUNT_ATTR__ATIME, which must be
// tried before NOATIME and STRICTATIME.
var mountAttrFlagNames = []flagName{
	{unix.MOUNT_ATTR_RDONLY, "MOUNT_ATTR_RDONLY"},
	{unix.MOUNT_ATTR_NOSUID, "MOUNT_ATTR_NOSUID"},
	{unix.MOUNT_ATTR_NODEV, "MOUNT_ATTR_NODEV"},
	{unix.MOUNT_ATTR_NOEXEC, "MOUNT_ATTR_NOEXEC"},
	{unix.MOUNT_ATTR__ATIME, "MOUNT_ATTR__ATIME"},
	{unix.MOUNT_ATTR_NOATIME, "MOUNT_ATTR_NOATIME"},
	{unix.MOUNT_ATTR_STRICTATIME, "MOUNT_ATTR_STRICTATIME"},
	{unix.MOUNT_ATTR_NODIRATIME, "MOUNT_ATTR_NODIRATIME"},
	{unix.MOUNT_ATTR_IDMAP, "MOUNT_ATTR_IDMAP"},
	{unix.MOUNT_ATTR_NOSYMFOLLOW, "MOUNT_ATTR_NOSYMFOLLOW"},
}

// fsmountAttrFlagNames is fsmount(2)'s attr_flags: mountAttrFlagNames
// without MOUNT_ATTR_IDMAP. fsmount cannot idmap a mount (it fails with
// EINVAL), and strace's table for this argument leaves the name out, so
// the bit prints in hex.
var fsmountAttrFlagNames = slices.DeleteFunc(slices.Clone(mountAttrFlagNames), func(f flagName) bool {
	return f.val == unix.MOUNT_ATTR_IDMAP
})

// openTreeFlagNames is open_tree(2)'s flags, its own and the AT_* it takes.
var openTreeFlagNames = []flagName{
	{unix.OPEN_TREE_CLONE, "OPEN_TREE_CLONE"},
	{unix.OPEN_TREE_CLOEXEC, "OPEN_TREE_CLOEXEC"},
	{unix.AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW"},
	{unix.AT_NO_AUTOMOUNT, "AT_NO_AUTOMOUNT"},
	{unix.AT_EMPTY_PATH, "AT_EMPTY_PATH"},
	{unix.AT_RECURSIVE, "AT_RECURSIVE"},
}

// atFlagNames is the AT_* that the traced *at calls take (mount_setattr,
// execveat, newfstatat, statx). It is one table for all of them, so a name
// that only some of them accept prints for the others too, where strace
// would print its bit in hex. AT_REMOVEDIR is left out: its bit means
// AT_EACCESS or AT_HANDLE_FID to other calls, and none of these takes it.
var atFlagNames = []flagName{
	{unix.AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW"},
	{unix.AT_SYMLINK_FOLLOW, "AT_SYMLINK_FOLLOW"},
	{unix.AT_NO_AUTOMOUNT, "AT_NO_AUTOMOUNT"},
	{unix.AT_EMPTY_PATH, "AT_EMPTY_PATH"},
	{unix.AT_RECURSIVE, "AT_RECURSIVE"},
	{atExecveCheck, "AT_EXECVE_CHECK"},
}

// propagationNames is mount_attr.propagation, an enum of one MS_* each.
var propagationNames = []flagName{
	{unix.MS_UNBINDABLE, "MS_UNBINDABLE"},
	{unix.MS_PRIVATE, "MS_PRIVATE"},
	{unix.MS_SLAVE, "MS_SLAVE"},
	{unix.MS_SHARED, "MS_SHARED"},
}

// formatFlags names the bits of v that table knows, in table order and
// joined with "|", then appends the bits it does not know in hex, as
// strace's printflags does. A value with no known bit prints in hex with
// unknown ("MS_???") as a comment, or without one when unknown is empty;
// zero prints "0".
func formatFlags(v uint64, table []flagName, unknown string) string {
	if v == 0 {
		return "0"
	}
	var b strings.Builder
	for _, f := range table {
		if f.val != 0 && v&f.val == f.val {
			if b.Len() > 0 {
				b.WriteByte('|')
			}
			b.WriteString(f.name)
			v &^= f.val
			if v == 0 {
				return b.String()
			}
		}
	}
	if b.Len() > 0 {
		b.WriteByte('|')
		b.WriteString(hexValue(v))
		return b.String()
	}
	return withComment(hexValue(v), unknown)
}

// formatEnum names v if table has it, and otherwise prints it in hex with
// unknown as a comment, as strace's printxval does.
func formatEnum(v uint64, table []flagName, unknown string) string {
	for _, f := range table {
		if f.val == v {
			return f.name
		}
	}
	return withComment(hexValue(v), unknown)
}

func withComment(s, comment string) string {
	if comment == "" {
		return s
	}
	return s + " /* " + comment + " */"
}

// hexValue prints v as C's %#x does: "0" for zero.
func hexValue(v uint64) string {
	if v == 0 {
		return "0"
	}
	return "0x" + strconv.FormatUint(v, 16)
}

// cUint is the C unsigned int that the kernel reads from a register.
func cUint(v uint64) uint64 { return uint64(uint32(v)) }

// mountFlags renders mount(2)'s flags (an unsigned long: all 64 bits).
// The magic number that callers before Linux 2.4 put in the high 16 bits
// of the low 32 prints as MS_MGC_VAL.
func mountFlags(v uint64) string {
	if v&unix.MS_MGC_MSK != unix.MS_MGC_VAL {
		return formatFlags(v, mountFlagNames, "MS_???")
	}
	// The kernel drops the magic with flags &= ~MS_MGC_MSK, and that C
	// constant is 32 bits wide: bits 32-63 go too. strace does the same.
	v &= uint64(^uint32(unix.MS_MGC_MSK))
	if v == 0 {
		return "MS_MGC_VAL"
	}
	return "MS_MGC_VAL|" + formatFlags(v, mountFlagNames, "MS_???")
}

// umountFlags renders umount2(2)'s flags.
func umountFlags(v uint64) string {
	return formatFlags(cUint(v), umountFlagNames, "MNT_???")
}

// openFlags renders the flags of open(2) and openat(2): the access mode,
// always named (3 is O_ACCMODE), then the O_* bits, unknown ones in hex.
func openFlags(v uint64) string {
	return openFlags64(cUint(v))
}

// openFlags64 is openFlags for open_how.flags, which has 64 bits.
func openFlags64(v uint64) string {
	s := openAccessModes[v&unix.O_ACCMODE]
	if rest := v &^ unix.O_ACCMODE; rest != 0 {
		// strace adds no "O_???" comment here: the access mode was named.
		s += "|" + formatFlags(rest, openFlagNames, "")
	}
	return s
}

// fileMode renders the mode of open(2) and openat(2) in octal as strace
// does: "0644", "000", "04755" (strace spells out S_ISUID only for modes
// that carry a file type, which open's do not). The kernel reads a
// umode_t, so only the low 16 bits count.
func fileMode(v uint64) string {
	return fileMode64(uint64(uint16(v)))
}

// fileMode64 is fileMode for open_how.mode, which has 64 bits.
func fileMode64(v uint64) string {
	// C's %#03o: a leading 0, at least three digits.
	s := "0" + strconv.FormatUint(v, 8)
	if len(s) < 3 {
		s = strings.Repeat("0", 3-len(s)) + s
	}
	return s
}

// resolveFlags renders open_how.resolve's RESOLVE_* (64 bits).
func resolveFlags(v uint64) string {
	return formatFlags(v, resolveFlagNames, "RESOLVE_???")
}

// cloneFlags renders clone(2)'s flags (an unsigned long): the CLONE_*
// bits, then the low byte, the signal sent to the parent when the child
// exits, by name: "CLONE_NEWNS|SIGCHLD". A zero signal is left out, unless
// it is all there is.
func cloneFlags(v uint64) string {
	sig := v & unix.CSIGNAL
	flags := v &^ unix.CSIGNAL
	if flags == 0 {
		return signalName(sig)
	}
	s := formatFlags(flags, cloneFlagNames, "CLONE_???")
	if sig != 0 {
		s += "|" + signalName(sig)
	}
	return s
}

// cloneArgsFlags renders clone_args.flags, which has no signal byte.
func cloneArgsFlags(v uint64) string {
	return formatFlags(v, cloneArgsFlagNames, "CLONE_???")
}

// signalName names a signal number as strace does: "SIGCHLD", "SIGRTMIN",
// "SIGRT_3", and any other number, 0 included, in decimal.
func signalName(n uint64) string {
	if s, ok := signalNameOK(n); ok {
		return s
	}
	return strconv.FormatUint(n, 10)
}

func signalNameOK(n uint64) (string, bool) {
	switch {
	case n == sigRTMin:
		return "SIGRTMIN", true
	case n > sigRTMin && n <= sigRTMax:
		return "SIGRT_" + strconv.FormatUint(n-sigRTMin, 10), true
	case n > 0 && n < sigRTMin:
		s := unix.SignalName(unix.Signal(n))
		return s, s != ""
	}
	return "", false
}

// unshareFlags renders unshare(2)'s flags (an unsigned long), which have
// no signal byte.
func unshareFlags(v uint64) string {
	return formatFlags(v, unshareFlagNames, "CLONE_???")
}

// nsType renders setns(2)'s nstype: 0 (any type) or CLONE_NEW* names.
func nsType(v uint64) string {
	return formatFlags(cUint(v), nsTypeNames, "CLONE_NEW???")
}

// moveMountFlags renders move_mount(2)'s flags.
func moveMountFlags(v uint64) string {
	return formatFlags(cUint(v), moveMountFlagNames, "MOVE_MOUNT_???")
}

// fsconfigCmd renders fsconfig(2)'s command, an enum; an unknown one
// prints in hex with a comment, as strace prints it.
func fsconfigCmd(v uint64) string {
	return formatEnum(cUint(v), fsconfigCmdNames, "FSCONFIG_???")
}

// fsopenFlags renders fsopen(2)'s flags.
func fsopenFlags(v uint64) string {
	return formatFlags(cUint(v), fsopenFlagNames, "FSOPEN_???")
}

// fsmountFlags renders fsmount(2)'s flags.
func fsmountFlags(v uint64) string {
	return formatFlags(cUint(v), fsmountFlagNames, "FSMOUNT_???")
}

// fspickFlags renders fspick(2)'s flags.
func fspickFlags(v uint64) string {
	return formatFlags(cUint(v), fspickFlagNames, "FSPICK_???")
}

// mountAttrFlags renders fsmount(2)'s attr_flags, MOUNT_ATTR_*.
func mountAttrFlags(v uint64) string {
	return formatFlags(cUint(v), fsmountAttrFlagNames, "MOUNT_ATTR_???")
}

// mountAttrFlags64 is mountAttrFlags for mount_attr.attr_set and
// attr_clr, which have 64 bits.
func mountAttrFlags64(v uint64) string {
	return formatFlags(v, mountAttrFlagNames, "MOUNT_ATTR_???")
}

// openTreeFlags renders open_tree(2)'s flags.
func openTreeFlags(v uint64) string {
	return formatFlags(cUint(v), openTreeFlagNames, "OPEN_TREE_???")
}

// atFlags renders the AT_* flags of mount_setattr(2) and execveat(2).
func atFlags(v uint64) string {
	return formatFlags(cUint(v), atFlagNames, "AT_???")
}

// mountPropagation renders mount_attr.propagation (64 bits), an enum: 0
// (leave it as it is) prints as strace prints it, "0 /* MS_??? */".
func mountPropagation(v uint64) string {
	return formatEnum(v, propagationNames, "MS_???")
}
