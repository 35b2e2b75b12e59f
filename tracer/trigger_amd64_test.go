package tracer

import "golang.org/x/sys/unix"

// The syscalls that only some architectures have: arm64 has just their
// *at variants (trigger_arm64_test.go).
const (
	sysOpen    = unix.SYS_OPEN
	sysAccess  = unix.SYS_ACCESS
	sysMkdir   = unix.SYS_MKDIR
	sysSymlink = unix.SYS_SYMLINK
	sysRmdir   = unix.SYS_RMDIR
	sysUnlink  = unix.SYS_UNLINK
)

// auditArch is struct seccomp_data's arch for this architecture's native
// calls: a filter checks it before it trusts the syscall number.
const auditArch = unix.AUDIT_ARCH_X86_64

// syscallFuncPrefix starts the names of this architecture's syscall
// functions, which take the caller's registers: __x64_sys_openat.
const syscallFuncPrefix = "__x64_sys_"
