package tracer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the code")

// RecordsFile holds the corpus of raw records that the renderer's golden
// tests decode and render (internal/render): one "name hex" line per
// record, in the kernel's layout on this (little-endian) host.
const recordsFile = "testdata/records.golden"

// namedRecord is one record of the corpus.
type namedRecord struct {
	name string
	rec  *record
}

// corpus is a record for every traced syscall, every flag table and enum
// (known, unknown and zero values), every struct decoder (whole, short,
// faulted), descriptors of each kind, strings that are truncated, faulted
// or need escapes, argv, exec's values after a successful exec, and every
// reason the kernel sends (seccomp, capability, LSM) with the cgroup and
// command-line context. Kernel log lines, the LSM's name, containers and
// benign marking are added by the renderer's tests: Run, not Decode,
// attaches them.
func corpus() []namedRecord {
	const (
		mount        = bpfCtraceOpCTRACE_OP_MOUNT
		umount2      = bpfCtraceOpCTRACE_OP_UMOUNT2
		fsopen       = bpfCtraceOpCTRACE_OP_FSOPEN
		fsconfig     = bpfCtraceOpCTRACE_OP_FSCONFIG
		fsmount      = bpfCtraceOpCTRACE_OP_FSMOUNT
		fspick       = bpfCtraceOpCTRACE_OP_FSPICK
		moveMount    = bpfCtraceOpCTRACE_OP_MOVE_MOUNT
		openTree     = bpfCtraceOpCTRACE_OP_OPEN_TREE
		mountSetattr = bpfCtraceOpCTRACE_OP_MOUNT_SETATTR
		pivotRoot    = bpfCtraceOpCTRACE_OP_PIVOT_ROOT
		chroot       = bpfCtraceOpCTRACE_OP_CHROOT
		open         = bpfCtraceOpCTRACE_OP_OPEN
		openat       = bpfCtraceOpCTRACE_OP_OPENAT
		openat2      = bpfCtraceOpCTRACE_OP_OPENAT2
		setns        = bpfCtraceOpCTRACE_OP_SETNS
		unshare      = bpfCtraceOpCTRACE_OP_UNSHARE
		clone        = bpfCtraceOpCTRACE_OP_CLONE
		clone3       = bpfCtraceOpCTRACE_OP_CLONE3
		execve       = bpfCtraceOpCTRACE_OP_EXECVE
		execveat     = bpfCtraceOpCTRACE_OP_EXECVEAT
		newfstatat   = bpfCtraceOpCTRACE_OP_NEWFSTATAT
		statx        = bpfCtraceOpCTRACE_OP_STATX
		access       = bpfCtraceOpCTRACE_OP_ACCESS
		faccessat    = bpfCtraceOpCTRACE_OP_FACCESSAT
		faccessat2   = bpfCtraceOpCTRACE_OP_FACCESSAT2
		mkdir        = bpfCtraceOpCTRACE_OP_MKDIR
		mkdirat      = bpfCtraceOpCTRACE_OP_MKDIRAT
		symlink      = bpfCtraceOpCTRACE_OP_SYMLINK
		symlinkat    = bpfCtraceOpCTRACE_OP_SYMLINKAT
		chdir        = bpfCtraceOpCTRACE_OP_CHDIR
		rmdir        = bpfCtraceOpCTRACE_OP_RMDIR
		unlink       = bpfCtraceOpCTRACE_OP_UNLINK
		unlinkat     = bpfCtraceOpCTRACE_OP_UNLINKAT

		trunc  = bpfCtraceFieldFlagCTRACE_FIELD_TRUNCATED
		fault  = bpfCtraceFieldFlagCTRACE_FIELD_FAULT
		after  = bpfCtraceFieldFlagCTRACE_FIELD_AFTER
		str    = bpfCtraceFieldKindCTRACE_FIELD_STR
		strct  = bpfCtraceFieldKindCTRACE_FIELD_STRUCT
		argv   = bpfCtraceFieldKindCTRACE_FIELD_ARGV
		pseudo = bpfCtraceFileFlagCTRACE_FILE_PSEUDO
		ext4   = 0xef53

		// uapi constants that x/sys lacks (see xlat).
		moveMountBeneath = 0x200
		resolveCached    = 0x20
		atExecveCheck    = 0x10000
	)
	fail := func(op Op, e unix.Errno, args ...uint64) *record { return newRecord(op, -int64(e), args...) }
	fd := uint64(0xffffff9c)
	sigchld := uint64(unix.SIGCHLD)
	rootfs := []string{"rootfs", "web", "default", "io.containerd.runtime.v2.task", "containerd", "lib", "var"}
	capRec := func(op Op, uid uint32, c bpfCtraceCap) *record {
		r := fail(op, unix.EPERM, 1, 2, 3, 0, 0)
		r.ev.Uid = uid
		var b bytes.Buffer
		_ = binary.Write(&b, hostEndian, c)
		return r.field(argNone, bpfCtraceFieldKindCTRACE_FIELD_CAP, 0, b.Bytes()).str(0, "none").str(1, "/mnt").str(2, "tmpfs")
	}
	threeExtents := bpfCtraceCap{Cap: 21, Userns: 4026531837, CallerUserns: 4026532201, Nextents: 3}
	threeExtents.Extents[0].First, threeExtents.Extents[0].LowerFirst, threeExtents.Extents[0].Count = 0, 100000, 65536
	threeExtents.Extents[1].First, threeExtents.Extents[1].LowerFirst, threeExtents.Extents[1].Count = 65536, 1000, 1
	threeExtents.Extents[2].First, threeExtents.Extents[2].LowerFirst, threeExtents.Extents[2].Count = 70000, 200000, 10
	nested := bpfCtraceCap{Cap: 21, Userns: 4026532300, UsernsOwner: 1000, UsernsLevel: 1, CallerUserns: 4026532300, Nextents: 1}
	nested.Extents[0].First, nested.Extents[0].LowerFirst, nested.Extents[0].Count = 0, 1000, 1
	dac := bpfCtraceCap{Cap: 2, Userns: 4026531837, CallerUserns: 4026531837}
	unknownCap := bpfCtraceCap{Cap: 60, Userns: 4026532400, UsernsOwner: 5, UsernsLevel: 2, CallerUserns: 4026532401, Nextents: 0}
	lsm := func(h bpfCtraceLsmHook, ret int32) []byte {
		var b bytes.Buffer
		_ = binary.Write(&b, hostEndian, bpfCtraceLsm{Hook: uint32(h), Ret: ret})
		return b.Bytes()
	}
	withFlags := func(r *record, f bpfCtraceEventFlag) *record { r.ev.Flags |= uint16(f); return r }
	as := func(r *record, comm string, pid, tid, uid uint32) *record {
		clear(r.ev.Comm[:])
		for i, c := range comm {
			r.ev.Comm[i] = int8(c)
		}
		r.ev.Pid, r.ev.Tid, r.ev.Uid = pid, tid, uid
		return r
	}
	ctx := func(r *record, cgroupLeafFirst string, cmdline string) *record {
		r.field(argNone, bpfCtraceFieldKindCTRACE_FIELD_CGROUP, 0, []byte(cgroupLeafFirst))
		if cmdline != "" {
			r.field(argNone, bpfCtraceFieldKindCTRACE_FIELD_CMDLINE, 0, []byte(cmdline))
		}
		return r
	}
	nsID := func(r *record) *record {
		r.ev.CgroupId, r.ev.Mntns, r.ev.Pidns, r.ev.Netns, r.ev.Userns = 9876, 4026532201, 4026532202, 4026532203, 4026531837
		r.ev.TsNs = 123456789
		return r
	}
	return []namedRecord{
		// mount(2) and MS_*.
		{"mount/overlay", nsID(fail(mount, unix.ENOENT, 1, 2, 3, unix.MS_RDONLY|unix.MS_NOSUID, 5).
			str(0, "overlay").str(1, "/tmp/m1").str(2, "overlay").str(4, "lowerdir=/tmp/lower,upperdir=/tmp/nonexist,workdir=/tmp/work"))},
		{"mount/bind-rec-null", fail(mount, unix.EINVAL, 1, 2, 0, unix.MS_BIND|unix.MS_REC, 0).str(0, "/src").str(1, "/dst")},
		{"mount/propagation", fail(mount, unix.EINVAL, 0, 2, 0, unix.MS_PRIVATE|unix.MS_REC|unix.MS_SLAVE, 0).str(1, "/")},
		{"mount/all-known", fail(mount, unix.EINVAL, 0, 2, 0, 0xffffffff&^0xc0000000|unix.MS_NOUSER, 0).str(1, "/x")},
		{"mount/mgc", fail(mount, unix.EPERM, 1, 2, 3, unix.MS_MGC_VAL|unix.MS_RDONLY|unix.MS_REMOUNT, 0).str(0, "none").str(1, "/x").str(2, "ext4")},
		{"mount/mgc-alone", fail(mount, unix.EPERM, 1, 2, 3, unix.MS_MGC_VAL|1<<40, 0).str(0, "none").str(1, "/x").str(2, "ext4")},
		{"mount/unknown-bits", fail(mount, unix.EINVAL, 1, 2, 3, 1<<40, 0).str(0, "a").str(1, "/x").str(2, "b")},
		{"mount/known-and-unknown", fail(mount, unix.EINVAL, 1, 2, 3, unix.MS_NODEV|1<<33, 0).str(0, "a").str(1, "/x").str(2, "b")},
		{"mount/truncated-data", fail(mount, unix.EINVAL, 1, 2, 3, 0, 5).str(0, "overlay").str(1, "/m").str(2, "overlay").
			field(4, str, trunc, []byte("lowerdir=/a:/b:/c:/d"))},
		{"mount/faulted-source", fail(mount, unix.EFAULT, 0xdead, 2, 3, 0, 0).field(0, str, fault, nil).str(1, "/m").str(2, "tmpfs")},
		{"mount/unread-strings", fail(mount, unix.EPERM, 0x7ffc0010, 0x7ffc0020, 0x7ffc0030, unix.MS_RDONLY, 0x7ffc0040)},
		{"mount/escapes", fail(mount, unix.EINVAL, 1, 2, 3, 0, 5).str(0, "q\"uote\\").str(1, "/tmp/a\nb\t\x01\x7f\xff\r\v\f").
			str(2, "caf\xc3\xa9").str(4, "\x00nul")},
		{"mount/no-args", withFlags(fail(mount, unix.EPERM), bpfCtraceEventFlagCTRACE_EV_NO_ARGS)},
		{"mount/seccomp", withFlags(fail(mount, unix.EPERM, 1, 2, 3, 0, 0).str(0, "none").str(1, "/mnt").str(2, "tmpfs"),
			bpfCtraceEventFlagCTRACE_EV_SECCOMP)},
		{"mount/cap-userns-root", capRec(mount, 100000, threeExtents)},
		{"mount/cap-userns-uid", capRec(mount, 100007, threeExtents)},
		{"mount/cap-userns-second-extent", capRec(mount, 1000, threeExtents)},
		{"mount/cap-userns-third-extent", capRec(mount, 200003, threeExtents)},
		{"mount/cap-userns-unmapped", capRec(mount, 5, threeExtents)},
		{"mount/cap-same-userns", capRec(mount, 1000, nested)},
		{"mount/cap-unknown", capRec(mount, 0, unknownCap)},
		{"mount/lsm", fail(mount, unix.EACCES, 1, 2, 3, 0, 0).str(0, "none").str(1, "/mnt").str(2, "tmpfs").
			field(argNone, bpfCtraceFieldKindCTRACE_FIELD_LSM, 0, lsm(bpfCtraceLsmHookCTRACE_LSM_SB_MOUNT, -int32(unix.EACCES)))},
		{"mount/seccomp-cap-lsm", withFlags(capRec(mount, 1000, dac).
			field(argNone, bpfCtraceFieldKindCTRACE_FIELD_LSM, 0, lsm(bpfCtraceLsmHook(77), 5)), bpfCtraceEventFlagCTRACE_EV_SECCOMP)},
		{"mount/runc-init", nsID(ctx(as(fail(mount, unix.EINVAL, 1, 2, 3, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, 5).
			str(0, "tmpfs").str(1, "/proc/self/fd/6").str(2, "tmpfs").str(4, "size=bogus"), "runc:[2:INIT]", 5000, 5007, 0),
			"web\x00default\x00", ""))},
		{"mount/runc-cmdline", nsID(ctx(as(fail(mount, unix.ENOENT, 1, 2, 3, unix.MS_BIND|unix.MS_REC, 0).
			str(0, "/proc").str(1, "/run/containerd/x/rootfs/proc").str(2, ""), "runc", 4990, 4990, 0),
			"", "runc\x00--root\x00/run/containerd/runc/default\x00create\x00--bundle\x00/run/b\x00web\x00"))},

		{"umount2/detach", fail(umount2, unix.EINVAL, 1, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW).str(0, "/mnt")},
		{"umount2/unknown", fail(umount2, unix.EINVAL, 1, 0x80|1<<35).str(0, "/mnt")},
		{"umount2/lsm", fail(umount2, unix.EPERM, 1, 0).str(0, "/").
			field(argNone, bpfCtraceFieldKindCTRACE_FIELD_LSM, 0, lsm(bpfCtraceLsmHookCTRACE_LSM_SB_UMOUNT, -int32(unix.EPERM)))},

		{"fsopen/cloexec", fail(fsopen, unix.ENODEV, 1, unix.FSOPEN_CLOEXEC).str(0, "nosuchfs")},
		{"fsopen/unknown", fail(fsopen, unix.EINVAL, 1, 6).str(0, "ext4")},

		{"fsconfig/set-string", fail(fsconfig, unix.EINVAL, 3, unix.FSCONFIG_SET_STRING, 2, 4, 0).
			file(0, unix.ANON_INODE_FS_MAGIC, 9, pseudo, "[fscontext]").str(2, "source").str(3, "/dev/sda1")},
		{"fsconfig/set-binary", fail(fsconfig, unix.EINVAL, 3, unix.FSCONFIG_SET_BINARY, 2, 4, 6).
			file(0, unix.ANON_INODE_FS_MAGIC, 9, pseudo, "[fscontext]").str(2, "blob").field(3, strct, 0, []byte("\x00\x01ab\"\n"))},
		{"fsconfig/set-binary-truncated", fail(fsconfig, unix.EINVAL, 3, unix.FSCONFIG_SET_BINARY, 2, 4, 6).
			str(2, "blob").field(3, strct, trunc, []byte("abc"))},
		{"fsconfig/set-binary-fault", fail(fsconfig, unix.EFAULT, 3, unix.FSCONFIG_SET_BINARY, 2, 0x4000, 6).
			str(2, "blob").field(3, strct, fault, nil)},
		{"fsconfig/set-fd", fail(fsconfig, unix.EBADF, 3, unix.FSCONFIG_SET_FD, 2, 0, 0xffffffff).str(2, "fd")},
		{"fsconfig/create", fail(fsconfig, unix.EBUSY, 3, unix.FSCONFIG_CMD_CREATE, 0, 0, 0)},
		{"fsconfig/create-excl", fail(fsconfig, unix.EBUSY, 3, 8, 0, 0, 0)},
		{"fsconfig/every-cmd-flag", fail(fsconfig, unix.EINVAL, 3, unix.FSCONFIG_SET_FLAG, 2, 0, 0).str(2, "ro")},
		{"fsconfig/set-path", fail(fsconfig, unix.EINVAL, 3, unix.FSCONFIG_SET_PATH, 2, 4, fd).str(2, "source").str(3, "/dev/x")},
		{"fsconfig/set-path-empty", fail(fsconfig, unix.EINVAL, 3, unix.FSCONFIG_SET_PATH_EMPTY, 2, 4, 5).str(2, "source").str(3, "")},
		{"fsconfig/reconfigure", fail(fsconfig, unix.EINVAL, 3, unix.FSCONFIG_CMD_RECONFIGURE, 0, 0, 0)},
		{"fsconfig/unknown-cmd", fail(fsconfig, unix.EOPNOTSUPP, 3, 99, 0, 0, 0)},

		{"fsmount/attrs", fail(fsmount, unix.EINVAL, 3, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC|unix.MOUNT_ATTR_NODIRATIME|unix.MOUNT_ATTR_NOSYMFOLLOW).
			file(0, unix.ANON_INODE_FS_MAGIC, 9, pseudo, "[fscontext]")},
		{"fsmount/idmap-atime", fail(fsmount, unix.EINVAL, 3, 0, unix.MOUNT_ATTR_IDMAP|unix.MOUNT_ATTR_NOATIME)},
		{"fsmount/strictatime", fail(fsmount, unix.EINVAL, 3, 2, unix.MOUNT_ATTR_STRICTATIME|0x80000000)},

		{"fspick/flags", fail(fspick, unix.ENOENT, fd, 1, unix.FSPICK_CLOEXEC|unix.FSPICK_SYMLINK_NOFOLLOW|unix.FSPICK_NO_AUTOMOUNT|unix.FSPICK_EMPTY_PATH).str(1, "/mnt")},
		{"fspick/unknown", fail(fspick, unix.EINVAL, 5, 1, 0x100).file(0, ext4, 2, 0).str(1, "")},

		{"move_mount/beneath", fail(moveMount, unix.EINVAL, 3, 1, fd, 2, unix.MOVE_MOUNT_F_EMPTY_PATH|moveMountBeneath).
			file(0, unix.ANON_INODE_FS_MAGIC, 9, pseudo, "[fscontext]").str(1, "").str(3, "/mnt")},
		{"move_mount/all", fail(moveMount, unix.EINVAL, fd, 1, fd, 2, 0x3ff).str(1, "/a").str(3, "/b")},
		{"move_mount/lsm", fail(moveMount, unix.EACCES, fd, 1, fd, 2, 0).str(1, "/a").str(3, "/b").
			field(argNone, bpfCtraceFieldKindCTRACE_FIELD_LSM, 0, lsm(bpfCtraceLsmHookCTRACE_LSM_MOVE_MOUNT, -int32(unix.EACCES)))},

		{"open_tree/clone", fail(openTree, unix.EINVAL, fd, 1, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_EMPTY_PATH|unix.AT_NO_AUTOMOUNT|unix.AT_SYMLINK_NOFOLLOW).str(1, "/src")},
		{"open_tree/unknown", fail(openTree, unix.EINVAL, fd, 1, 0x2).str(1, "/src")},

		{"mount_setattr/attr", fail(mountSetattr, unix.EINVAL, 3, 1, unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, 4, unix.MOUNT_ATTR_SIZE_VER0).
			file(0, ext4, 2, 0, "mnt").str(1, "").
			field(3, strct, 0, u64s(unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_IDMAP, unix.MOUNT_ATTR__ATIME, unix.MS_PRIVATE, 5))},
		{"mount_setattr/zero-propagation", fail(mountSetattr, unix.EINVAL, fd, 1, 0, 4, 40).str(1, "/m").
			field(3, strct, 0, u64s(0, 0, 0, 0, 0))},
		{"mount_setattr/unknown", fail(mountSetattr, unix.EINVAL, fd, 1, 0x800|1<<20, 4, 32).str(1, "/m").
			field(3, strct, 0, u64s(1<<40, unix.MOUNT_ATTR_STRICTATIME, 7, 1<<63))},
		{"mount_setattr/short", fail(mountSetattr, unix.EINVAL, fd, 1, 0, 4, 16).str(1, "/m").
			field(3, strct, 0, u64s(unix.MOUNT_ATTR_NOEXEC, 0))},
		{"mount_setattr/fault", fail(mountSetattr, unix.EFAULT, fd, 1, 0, 0xbad0, 32).str(1, "/m").field(3, strct, fault, nil)},
		{"mount_setattr/null", fail(mountSetattr, unix.EINVAL, fd, 1, 0, 0, 0).str(1, "/m")},
		{"mount_setattr/unread", fail(mountSetattr, unix.E2BIG, fd, 1, 0, 0x7ff0, 1<<20).str(1, "/m")},

		{"pivot_root/busy", fail(pivotRoot, unix.EBUSY, 1, 2).str(0, ".").str(1, ".")},
		{"pivot_root/lsm", fail(pivotRoot, unix.EPERM, 1, 2).str(0, "/new").str(1, "/new/old").
			field(argNone, bpfCtraceFieldKindCTRACE_FIELD_LSM, 0, lsm(bpfCtraceLsmHookCTRACE_LSM_SB_PIVOTROOT, -int32(unix.EPERM)))},

		{"chroot/enoent", fail(chroot, unix.ENOENT, 1).str(0, "/newroot")},
		{"chroot/long-truncated", fail(chroot, unix.ENAMETOOLONG, 1).field(0, str, trunc, []byte(strings.Repeat("d/", 40)))},

		// open(2), O_* and modes.
		{"open/creat", as(fail(open, unix.EACCES, 1, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600).str(0, "/etc/shadow"), "cat", 4250, 4250, 1000)},
		{"open/rdonly-mode-unused", fail(open, unix.ENOENT, 1, unix.O_RDONLY, 0o777).str(0, "/x")},
		{"open/tmpfile", fail(open, unix.EOPNOTSUPP, 1, unix.O_WRONLY|unix.O_TMPFILE, 0o4755).str(0, "/tmp")},
		{"open/tmpfile-bit-alone", fail(open, unix.EINVAL, 1, unix.O_RDONLY|(unix.O_TMPFILE&^unix.O_DIRECTORY), 0).str(0, "/tmp")},
		{"open/every-flag", fail(open, unix.EINVAL, 1, unix.O_ACCMODE|unix.O_NOCTTY|unix.O_TRUNC|unix.O_APPEND|unix.O_NONBLOCK|unix.O_SYNC|unix.O_DIRECT|0o100000|unix.O_NOFOLLOW|unix.O_NOATIME|unix.O_CLOEXEC|unix.O_PATH|unix.O_DIRECTORY|unix.O_ASYNC, 0).str(0, "/x")},
		{"open/dsync-and-sync-bit", fail(open, unix.EINVAL, 1, unix.O_WRONLY|unix.O_DSYNC|(unix.O_SYNC&^unix.O_DSYNC), 0).str(0, "/x")},
		{"open/unknown-bits", fail(open, unix.EINVAL, 1, 1<<40|unix.O_RDWR|0x40000000, 0o1000644).str(0, "/x")},

		{"openat/cwd", as(fail(openat, unix.ENOENT, fd, 1, unix.O_RDONLY|unix.O_CLOEXEC, 0).str(1, "/etc/app/config.yaml"), "cat", 4250, 4250, 1000)},
		{"openat/rootfs-fd", as(fail(openat, unix.EACCES, 7, 1, unix.O_WRONLY|unix.O_CREAT, 0o644).
			file(0, 0x794c7630, 77, 0, rootfs...).str(1, "etc/passwd"), "runc:[2:INIT]", 5000, 5007, 0)},
		{"openat/root-dir", fail(openat, unix.ENOENT, 3, 1, unix.O_RDONLY|unix.O_DIRECTORY, 0).file(0, ext4, 2, 0).str(1, "x")},
		{"openat/pipe", fail(openat, unix.ENOTDIR, 4, 1, unix.O_RDONLY, 0).file(0, unix.PIPEFS_MAGIC, 1234, pseudo).str(1, "x")},
		{"openat/socket", fail(openat, unix.ENOTDIR, 5, 1, unix.O_RDONLY, 0).file(0, unix.SOCKFS_MAGIC, 4321, pseudo).str(1, "x")},
		{"openat/pseudo-named", fail(openat, unix.ENOTDIR, 6, 1, unix.O_RDONLY, 0).file(0, 0x1234, 5, pseudo, "/memfd:x (deleted)").str(1, "x")},
		{"openat/pseudo-unnamed", fail(openat, unix.ENOTDIR, 8, 1, unix.O_RDONLY, 0).file(0, 0x1234, 55, pseudo).str(1, "x")},
		{"openat/fd-no-path", fail(openat, unix.EBADF, 99, 1, unix.O_RDONLY, 0).str(1, "x")},
		{"openat/negative-fd", fail(openat, unix.EBADF, uint64(0xffffffff), 1, unix.O_RDONLY, 0).str(1, "x")},
		{"openat/fault-path", fail(openat, unix.EFAULT, fd, 0xdead, unix.O_RDONLY, 0).field(1, str, fault, nil)},
		{"openat/null-path", fail(openat, unix.EFAULT, fd, 0, unix.O_RDONLY, 0)},
		{"openat/mode-zero", fail(openat, unix.EEXIST, fd, 1, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0).str(1, "/x")},
		{"openat/mode-high-bits", fail(openat, unix.EEXIST, fd, 1, unix.O_CREAT, 0xffff0000|0o2755).str(1, "/x")},
		{"openat/lsm", fail(openat, unix.EACCES, fd, 1, unix.O_RDONLY, 0).str(1, "/etc/hostname").
			field(argNone, bpfCtraceFieldKindCTRACE_FIELD_LSM, 0, lsm(bpfCtraceLsmHookCTRACE_LSM_FILE_OPEN, -int32(unix.EACCES)))},
		{"openat/success", as(newRecord(openat, 3, fd, 1, unix.O_RDONLY, 0).str(1, "/etc/hostname"), "cat", 4250, 4250, 1000)},

		{"openat2/how", fail(openat2, unix.EXDEV, fd, 1, 2, unix.SizeofOpenHow).str(1, "/etc/x").
			field(2, strct, 0, u64s(unix.O_RDONLY|unix.O_CLOEXEC, 0, unix.RESOLVE_BENEATH|unix.RESOLVE_NO_SYMLINKS))},
		{"openat2/how-creat", fail(openat2, unix.EACCES, fd, 1, 2, unix.SizeofOpenHow).str(1, "/etc/x").
			field(2, strct, 0, u64s(unix.O_WRONLY|unix.O_CREAT, 0o640, unix.RESOLVE_IN_ROOT|unix.RESOLVE_NO_MAGICLINKS|unix.RESOLVE_NO_XDEV|resolveCached|0x100))},
		{"openat2/how-unknown-resolve", fail(openat2, unix.EINVAL, fd, 1, 2, 24).str(1, "/x").field(2, strct, 0, u64s(1<<40, 0, 1<<50))},
		{"openat2/how-short", fail(openat2, unix.EINVAL, fd, 1, 2, 8).str(1, "/x").field(2, strct, 0, u64s(unix.O_PATH))},
		{"openat2/how-empty", fail(openat2, unix.EINVAL, fd, 1, 2, 0).str(1, "/x").field(2, strct, 0, nil)},
		{"openat2/how-fault", fail(openat2, unix.EFAULT, fd, 1, 0xbad, 24).str(1, "/x").field(2, strct, fault, nil)},
		{"openat2/how-null", fail(openat2, unix.EFAULT, fd, 1, 0, 24).str(1, "/x")},
		{"openat2/how-unread", fail(openat2, unix.E2BIG, fd, 1, 0x7000, 4096).str(1, "/x")},

		// Namespaces.
		{"setns/netns-file", as(fail(setns, unix.EINVAL, 5, unix.CLONE_NEWNET).
			file(0, 0x01021994, 77, 0, "cni-8d1c0a4e", "netns", "run"), "ip", 4301, 4301, 0)},
		{"setns/nsfs", fail(setns, unix.EPERM, 4, 0).file(0, unix.NSFS_MAGIC, 4026531840, pseudo, "net")},
		{"setns/no-path", fail(setns, unix.EBADF, 9, unix.CLONE_NEWNET)},
		{"setns/every-type", fail(setns, unix.EINVAL, 4, unix.CLONE_NEWTIME|unix.CLONE_NEWNS|unix.CLONE_NEWCGROUP|unix.CLONE_NEWUTS|unix.CLONE_NEWIPC|unix.CLONE_NEWUSER|unix.CLONE_NEWPID|unix.CLONE_NEWNET)},
		{"setns/unknown", fail(setns, unix.EINVAL, 4, 0x1)},
		{"setns/known-and-unknown", fail(setns, unix.EINVAL, 4, unix.CLONE_NEWUTS|unix.CLONE_VM|1<<40)},

		{"unshare/seccomp", as(withFlags(fail(unshare, unix.EPERM, unix.CLONE_NEWNS), bpfCtraceEventFlagCTRACE_EV_SECCOMP), "app", 5140, 5140, 0)},
		{"unshare/every-flag", fail(unshare, unix.EINVAL, unix.CLONE_NEWTIME|unix.CLONE_VM|unix.CLONE_FS|unix.CLONE_FILES|unix.CLONE_SIGHAND|unix.CLONE_THREAD|unix.CLONE_NEWNS|unix.CLONE_SYSVSEM|unix.CLONE_NEWCGROUP|unix.CLONE_NEWUTS|unix.CLONE_NEWIPC|unix.CLONE_NEWUSER|unix.CLONE_NEWPID|unix.CLONE_NEWNET)},
		{"unshare/unknown", fail(unshare, unix.EINVAL, 0x1|unix.CLONE_PTRACE)},
		{"unshare/zero", fail(unshare, unix.EINVAL, 0)},

		{"clone/namespaces", fail(clone, unix.ENOSPC, unix.CLONE_NEWNS|unix.CLONE_NEWPID|unix.CLONE_NEWUSER|sigchld, 0, 0x7000, 0x7008, 0)},
		{"clone/every-flag", fail(clone, unix.EINVAL, 0xffffff00&^0x00400000|uint64(unix.SIGKILL), 0x1000, 0x2000, 0x3000, 0x4000)},
		{"clone/signal-only", fail(clone, unix.EAGAIN, sigchld, 0, 0, 0, 0)},
		{"clone/zero", fail(clone, unix.EAGAIN, 0, 0, 0, 0, 0)},
		{"clone/rt-signals", fail(clone, unix.EINVAL, unix.CLONE_VM|32, 0, 0, 0, 0)},
		{"clone/rt-signal-n", fail(clone, unix.EINVAL, 35, 0, 0, 0, 0)},
		{"clone/signal-out-of-range", fail(clone, unix.EINVAL, unix.CLONE_FS|65, 0, 0, 0, 0)},
		{"clone/detached-unknown", fail(clone, unix.EINVAL, 0x00400000|1<<40, 0, 0, 0, 0)},

		{"clone3/v0", fail(clone3, unix.EPERM, 1, 64).
			field(0, strct, 0, u64s(unix.CLONE_NEWUSER|unix.CLONE_NEWNS, 0, 0, 0, sigchld, 0, 0, 0))},
		{"clone3/pointers", fail(clone3, unix.EINVAL, 1, 88).
			field(0, strct, 0, u64s(unix.CLONE_VM|unix.CLONE_PIDFD|unix.CLONE_CHILD_SETTID|unix.CLONE_PARENT_SETTID|unix.CLONE_SETTLS|unix.CLONE_NEWTIME|unix.CLONE_CLEAR_SIGHAND,
				0x1000, 0x2000, 0x3000, 34, 0x7000, 0x8000, 0x9000, 0x5000, 3, 0))},
		{"clone3/cgroup", fail(clone3, unix.EBADF, 1, 88).
			field(0, strct, 0, u64s(unix.CLONE_INTO_CGROUP|unix.CLONE_CHILD_CLEARTID, 0, 0, 0, 99, 0, 0, 0, 0, 0, 7))},
		{"clone3/cut", fail(clone3, unix.EFAULT, 1, 64).field(0, strct, trunc, u64s(unix.CLONE_NEWPID, 0, 0))},
		{"clone3/empty", fail(clone3, unix.EINVAL, 1, 0).field(0, strct, 0, nil)},
		{"clone3/fault", fail(clone3, unix.EFAULT, 0xbad, 64).field(0, strct, fault, nil)},
		{"clone3/unknown-flags", fail(clone3, unix.EINVAL, 1, 64).field(0, strct, 0, u64s(1<<40, 0, 0, 0, 0, 0, 0, 0))},

		// exec.
		{"execve/argv", as(fail(execve, unix.EACCES, 1, 2, 0x7ffd80).str(0, "/opt/app/run.sh").
			field(1, argv, 0, []byte("run.sh\x00--config\x00a b\x00q\"uote\x00")), "sh", 77, 77, 0)},
		{"execve/argv-truncated", fail(execve, unix.E2BIG, 1, 2, 3).str(0, "/bin/true").field(1, argv, trunc, []byte("a\x00b\x00"))},
		{"execve/argv-fault-partial", fail(execve, unix.EFAULT, 1, 2, 3).str(0, "/bin/true").field(1, argv, fault, []byte("a\x00"))},
		{"execve/argv-fault", fail(execve, unix.EFAULT, 1, 0xbad, 3).str(0, "/bin/true").field(1, argv, fault, nil)},
		{"execve/argv-empty", fail(execve, unix.ENOENT, 1, 2, 3).str(0, "/nope").field(1, argv, 0, nil)},
		{"execve/argv-null", fail(execve, unix.ENOENT, 1, 0, 0).str(0, "/nope")},
		{"execve/argv-unread", fail(execve, unix.ENOENT, 1, 0x7ffd10, 0x7ffd80).str(0, "/nope")},
		{"execve/success-after", newRecord(execve, 0, 0x55550000, 0x55560000, 0x55570000).
			field(0, bpfCtraceFieldKindCTRACE_FIELD_FILE, after, fileData(ext4, 3, 0, "ls", "bin", "usr")).
			field(1, argv, after, []byte("ls\x00-l\x00"))},
		{"execveat/flags", fail(execveat, unix.ENOEXEC, 3, 1, 2, 4, unix.AT_EMPTY_PATH|0x10000 /* AT_EXECVE_CHECK */ |unix.AT_SYMLINK_NOFOLLOW).
			file(0, ext4, 12, 0, "app", "opt").str(1, "").field(2, argv, 0, []byte("app\x00"))},
		{"execveat/unknown", fail(execveat, unix.EINVAL, fd, 1, 0, 0, unix.AT_SYMLINK_FOLLOW|unix.AT_NO_AUTOMOUNT|unix.AT_RECURSIVE|0x200).str(1, "/bin/x")},
		{"execve/lsm", fail(execve, unix.EACCES, 1, 2, 3).str(0, "/bin/x").field(1, argv, 0, []byte("x\x00")).
			field(argNone, bpfCtraceFieldKindCTRACE_FIELD_LSM, 0, lsm(bpfCtraceLsmHookCTRACE_LSM_BPRM_CHECK, -int32(unix.EACCES)))},

		// The runtime family.
		{"newfstatat/rootfs", nsID(ctx(as(fail(newfstatat, unix.ENOENT, fd, 1, 0x7ffc, unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT).
			str(1, "/run/containerd/io.containerd.runtime.v2.task/default/web/rootfs/dev/null"), "runc:[2:INIT]", 5000, 5000, 0),
			"web\x00default\x00", "runc\x00init\x00"))},
		{"newfstatat/empty-path", fail(newfstatat, unix.EBADF, 3, 1, 0x7ffc, unix.AT_EMPTY_PATH).str(1, "")},
		{"statx/basic", fail(statx, unix.ENOENT, fd, 1, unix.AT_STATX_SYNC_AS_STAT|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, 0x7ffd).str(1, "/x")},
		{"statx/all", fail(statx, unix.ENOENT, fd, 1, unix.AT_STATX_FORCE_SYNC|unix.AT_EMPTY_PATH|unix.AT_NO_AUTOMOUNT, unix.STATX_ALL, 0x7ffd).str(1, "/x")},
		{"statx/mask-bits", fail(statx, unix.ENOENT, fd, 1, unix.AT_STATX_DONT_SYNC, unix.STATX_TYPE|unix.STATX_MODE|unix.STATX_MNT_ID|unix.STATX_DIOALIGN|unix.STATX_BTIME|1<<30, 0x7ffd).str(1, "/x")},
		{"statx/unknown-sync", fail(statx, unix.EINVAL, fd, 1, 0x6000|0x8000, 0, 0).str(1, "/x")},
		{"access/f-ok", fail(access, unix.ENOENT, 1, unix.F_OK).str(0, "/x")},
		{"access/bits", fail(access, unix.EACCES, 1, unix.R_OK|unix.W_OK|unix.X_OK|0x10).str(0, "/x")},
		{"faccessat/x-ok", fail(faccessat, unix.EACCES, fd, 1, unix.X_OK).str(1, "/bin/x")},
		{"faccessat2/flags", fail(faccessat2, unix.ENOENT, fd, 1, unix.F_OK, unix.AT_EACCESS|unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH).str(1, "/x")},
		{"faccessat2/unknown", fail(faccessat2, unix.EINVAL, fd, 1, unix.R_OK, 0x1000).str(1, "/x")},
		{"mkdir/enoent", fail(mkdir, unix.ENOENT, 1, 0o755).str(0, "/nonexistent/sub")},
		{"mkdirat/eexist", fail(mkdirat, unix.EEXIST, 3, 1, 0o1777).file(0, ext4, 40, 0, "rootfs", "bundle").str(1, "tmp")},
		{"symlink/enoent", fail(symlink, unix.ENOENT, 1, 2).str(0, "target").str(1, "/nonexistent/link")},
		{"symlinkat/eexist", fail(symlinkat, unix.EEXIST, 1, 3, 2).str(0, "../lib").file(1, ext4, 40, 0, "rootfs").str(2, "lib64")},
		{"chdir/enoent", fail(chdir, unix.ENOENT, 1).str(0, "/nonexistent/dir")},
		{"chdir/size-int", fail(chdir, unix.ENOENT, 1).str(0, "")},
		{"rmdir/ebusy", fail(rmdir, unix.EBUSY, 1).str(0, "/run/netns")},
		{"unlink/ebusy", fail(unlink, unix.EBUSY, 1).str(0, "/var/run/netns/cni-8d1c")},
		{"unlinkat/removedir", fail(unlinkat, unix.EBUSY, 3, 1, unix.AT_REMOVEDIR).file(0, ext4, 40, 0, "run").str(1, "netns")},
		{"unlinkat/unknown", fail(unlinkat, unix.EINVAL, fd, 1, 0x1).str(1, "x")},
	}
}

// u64s lays out a structure of u64 fields as the kernel copies it.
func u64s(vals ...uint64) []byte {
	b := make([]byte, 8*len(vals))
	for i, v := range vals {
		hostEndian.PutUint64(b[i*8:], v)
	}
	return b
}

// fileData is a CTRACE_FIELD_FILE's payload.
func fileData(magic uint32, ino uint64, flags bpfCtraceFileFlag, leafFirst ...string) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, hostEndian, bpfCtraceFile{Ino: ino, Magic: magic, Ncomp: uint16(len(leafFirst)), Flags: uint16(flags)})
	for _, c := range leafFirst {
		b.WriteString(c)
		b.WriteByte(0)
	}
	return b.Bytes()
}

// TestRecordCorpus keeps testdata/records.golden, the records the
// renderer's golden tests decode, in step with the wire format: after a
// change of the format, regenerate it with go test ./tracer -run
// RecordCorpus -update (the rendered goldens must then not change). Every
// record must decode, and every traced syscall must have one.
func TestRecordCorpus(t *testing.T) {
	var out bytes.Buffer
	seen := map[Op]bool{}
	names := map[string]bool{}
	for _, nr := range corpus() {
		raw := nr.rec.bytes()
		ev, err := Decode(raw)
		if err != nil {
			t.Errorf("%s: %v", nr.name, err)
			continue
		}
		if names[nr.name] {
			t.Errorf("record %s twice", nr.name)
		}
		names[nr.name] = true
		if !strings.HasPrefix(nr.name, ev.Syscall+"/") {
			t.Errorf("record %s is a %s record", nr.name, ev.Syscall)
		}
		seen[ev.Op] = true
		fmt.Fprintf(&out, "%s %s\n", nr.name, hex.EncodeToString(raw))
	}
	for o := Op(1); o < bpfCtraceOpCTRACE_OP_MAX; o++ {
		if !seen[o] {
			t.Errorf("no record of %s in the corpus", o)
		}
	}
	compareGolden(t, recordsFile, out.Bytes())
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the code; if the wire format changed on purpose, rewrite it with -update\n%s", path, firstDiff(got, want))
	}
}

// firstDiff shows the first line where got and want part.
func firstDiff(got, want []byte) string {
	g, w := bufio.NewScanner(bytes.NewReader(got)), bufio.NewScanner(bytes.NewReader(want))
	g.Buffer(nil, 1<<20)
	w.Buffer(nil, 1<<20)
	for n := 1; ; n++ {
		gok, wok := g.Scan(), w.Scan()
		if !gok && !wok {
			return ""
		}
		if g.Text() != w.Text() || gok != wok {
			return fmt.Sprintf("line %d:\n got %s\nwant %s", n, g.Text(), w.Text())
		}
	}
}
