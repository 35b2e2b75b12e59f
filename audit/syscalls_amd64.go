package audit

import "golang.org/x/sys/unix"

// nativeArch is the arch= of a SYSCALL record for native calls
// (AUDIT_ARCH_X86_64); 32-bit compat calls use other numbers.
const nativeArch = unix.AUDIT_ARCH_X86_64

// syscallNumbers maps the names of the tracer's syscalls to the numbers
// a SYSCALL record carries.
var syscallNumbers = map[string]int64{
	"mount": unix.SYS_MOUNT, "umount2": unix.SYS_UMOUNT2,
	"fsopen": unix.SYS_FSOPEN, "fsconfig": unix.SYS_FSCONFIG,
	"fsmount": unix.SYS_FSMOUNT, "fspick": unix.SYS_FSPICK,
	"move_mount": unix.SYS_MOVE_MOUNT, "open_tree": unix.SYS_OPEN_TREE,
	"mount_setattr": unix.SYS_MOUNT_SETATTR, "pivot_root": unix.SYS_PIVOT_ROOT,
	"chroot": unix.SYS_CHROOT,
	"open":   unix.SYS_OPEN, "openat": unix.SYS_OPENAT, "openat2": unix.SYS_OPENAT2,
	"setns": unix.SYS_SETNS, "unshare": unix.SYS_UNSHARE,
	"clone": unix.SYS_CLONE, "clone3": unix.SYS_CLONE3,
	"execve": unix.SYS_EXECVE, "execveat": unix.SYS_EXECVEAT,
	"newfstatat": unix.SYS_NEWFSTATAT, "statx": unix.SYS_STATX,
	"access": unix.SYS_ACCESS, "faccessat": unix.SYS_FACCESSAT,
	"faccessat2": unix.SYS_FACCESSAT2,
	"mkdir":      unix.SYS_MKDIR, "mkdirat": unix.SYS_MKDIRAT,
	"symlink": unix.SYS_SYMLINK, "symlinkat": unix.SYS_SYMLINKAT,
	"chdir": unix.SYS_CHDIR,
}
