package tracer

import "golang.org/x/sys/unix"

// The syscalls that only some architectures have: arm64 has just their
// *at variants (trigger_arm64_test.go).
const (
	sysOpen    = unix.SYS_OPEN
	sysAccess  = unix.SYS_ACCESS
	sysMkdir   = unix.SYS_MKDIR
	sysSymlink = unix.SYS_SYMLINK
)
