package tracer

import "golang.org/x/sys/unix"

// arm64 has no open, access, mkdir, symlink, rmdir or unlink, only their *at variants:
// ctrace does not attach to them there, and TestSyscallFailures skips
// their cases before running the trigger. Were one run, the number -1
// fails with ENOSYS.
const (
	sysOpen    = ^uintptr(0)
	sysAccess  = ^uintptr(0)
	sysMkdir   = ^uintptr(0)
	sysSymlink = ^uintptr(0)
	sysRmdir   = ^uintptr(0)
	sysUnlink  = ^uintptr(0)
)

// auditArch is struct seccomp_data's arch for this architecture's native
// calls: a filter checks it before it trusts the syscall number.
const auditArch = unix.AUDIT_ARCH_AARCH64

// syscallFuncPrefix starts the names of this architecture's syscall
// functions, which take the caller's registers: __arm64_sys_openat.
const syscallFuncPrefix = "__arm64_sys_"
