package audit

import "golang.org/x/sys/unix"

// nativeArch is the arch= of a SYSCALL record for native calls
// (AUDIT_ARCH_AARCH64).
const nativeArch = unix.AUDIT_ARCH_AARCH64

// syscallNumbers maps the names of the tracer's syscalls to the numbers
// a SYSCALL record carries. arm64 has no open, access, mkdir, symlink or
// newfstatat; its stat is fstatat under the name newfstatat.
var syscallNumbers = map[string]int64{
	"mount": unix.SYS_MOUNT, "umount2": unix.SYS_UMOUNT2,
	"fsopen": unix.SYS_FSOPEN, "fsconfig": unix.SYS_FSCONFIG,
	"fsmount": unix.SYS_FSMOUNT, "fspick": unix.SYS_FSPICK,
	"move_mount": unix.SYS_MOVE_MOUNT, "open_tree": unix.SYS_OPEN_TREE,
	"mount_setattr": unix.SYS_MOUNT_SETATTR, "pivot_root": unix.SYS_PIVOT_ROOT,
	"chroot": unix.SYS_CHROOT,
	"openat": unix.SYS_OPENAT, "openat2": unix.SYS_OPENAT2,
	"setns": unix.SYS_SETNS, "unshare": unix.SYS_UNSHARE,
	"clone": unix.SYS_CLONE, "clone3": unix.SYS_CLONE3,
	"execve": unix.SYS_EXECVE, "execveat": unix.SYS_EXECVEAT,
	"newfstatat": unix.SYS_FSTATAT, "statx": unix.SYS_STATX,
	"faccessat": unix.SYS_FACCESSAT, "faccessat2": unix.SYS_FACCESSAT2,
	"mkdirat": unix.SYS_MKDIRAT, "symlinkat": unix.SYS_SYMLINKAT,
	"chdir": unix.SYS_CHDIR,
}
