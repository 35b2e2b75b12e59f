package tracer

import "golang.org/x/sys/unix"

// syscallNR maps each op to its arm64 syscall number. arm64 has only the
// *at variants: open, access, mkdir and symlink do not exist there, and
// their ops are reported as not traceable on this architecture.
var syscallNR = map[Op]uint32{
	bpfCtraceOpCTRACE_OP_MOUNT:         unix.SYS_MOUNT,
	bpfCtraceOpCTRACE_OP_UMOUNT2:       unix.SYS_UMOUNT2,
	bpfCtraceOpCTRACE_OP_FSOPEN:        unix.SYS_FSOPEN,
	bpfCtraceOpCTRACE_OP_FSCONFIG:      unix.SYS_FSCONFIG,
	bpfCtraceOpCTRACE_OP_FSMOUNT:       unix.SYS_FSMOUNT,
	bpfCtraceOpCTRACE_OP_FSPICK:        unix.SYS_FSPICK,
	bpfCtraceOpCTRACE_OP_MOVE_MOUNT:    unix.SYS_MOVE_MOUNT,
	bpfCtraceOpCTRACE_OP_OPEN_TREE:     unix.SYS_OPEN_TREE,
	bpfCtraceOpCTRACE_OP_MOUNT_SETATTR: unix.SYS_MOUNT_SETATTR,
	bpfCtraceOpCTRACE_OP_PIVOT_ROOT:    unix.SYS_PIVOT_ROOT,
	bpfCtraceOpCTRACE_OP_CHROOT:        unix.SYS_CHROOT,
	bpfCtraceOpCTRACE_OP_OPENAT:        unix.SYS_OPENAT,
	bpfCtraceOpCTRACE_OP_OPENAT2:       unix.SYS_OPENAT2,
	bpfCtraceOpCTRACE_OP_SETNS:         unix.SYS_SETNS,
	bpfCtraceOpCTRACE_OP_UNSHARE:       unix.SYS_UNSHARE,
	bpfCtraceOpCTRACE_OP_CLONE:         unix.SYS_CLONE,
	bpfCtraceOpCTRACE_OP_CLONE3:        unix.SYS_CLONE3,
	bpfCtraceOpCTRACE_OP_EXECVE:        unix.SYS_EXECVE,
	bpfCtraceOpCTRACE_OP_EXECVEAT:      unix.SYS_EXECVEAT,
	bpfCtraceOpCTRACE_OP_NEWFSTATAT:    unix.SYS_FSTATAT,
	bpfCtraceOpCTRACE_OP_STATX:         unix.SYS_STATX,
	bpfCtraceOpCTRACE_OP_FACCESSAT:     unix.SYS_FACCESSAT,
	bpfCtraceOpCTRACE_OP_FACCESSAT2:    unix.SYS_FACCESSAT2,
	bpfCtraceOpCTRACE_OP_MKDIRAT:       unix.SYS_MKDIRAT,
	bpfCtraceOpCTRACE_OP_SYMLINKAT:     unix.SYS_SYMLINKAT,
	bpfCtraceOpCTRACE_OP_CHDIR:         unix.SYS_CHDIR,
}
