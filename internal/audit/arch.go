package audit

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// nativeArch is the arch= of a SYSCALL record for native calls; 32-bit
// compat calls carry another, and other numbers. 0 where ctrace does not
// build its programs: no SYSCALL record matches there.
var nativeArch = map[string]uint32{
	"amd64": unix.AUDIT_ARCH_X86_64,
	"arm64": unix.AUDIT_ARCH_AARCH64,
}[runtime.GOARCH]
