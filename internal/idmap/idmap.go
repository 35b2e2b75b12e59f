// Package idmap says why a mount could not be idmapped: mount_setattr
// asking for MOUNT_ATTR_IDMAP and failing EINVAL, which the kernel returns
// for a file system that does not support idmapped mounts (no
// FS_ALLOW_IDMAP in its type, or SB_I_NOIDMAP on the superblock: NFS,
// hugetlbfs, ramfs, tmpfs before 6.3, FUSE without FUSE_ALLOW_IDMAP), for
// a mount that is attached (the kernel idmaps only a mount never yet
// visible in a mount tree), and for a userns_fd that is not a user
// namespace; and fsmount, which never takes MOUNT_ATTR_IDMAP.
//
// Whether the file system supports idmapped mounts is the kernel's own
// answer, asked after the call: ctrace clones the caller's mount
// (open_tree with OPEN_TREE_CLONE, in the caller's mount namespace, which
// the kernel requires), asks mount_setattr to idmap the copy to a user
// namespace of ctrace's own, and closes the copy, which was never
// attached. EINVAL there, for a copy that is detached and not idmapped,
// can only be the file system's refusal. The caller must still run: its
// descriptor is the only way to its mount.
package idmap

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/nsfork"
	"github.com/ctrace-dev/ctrace/tracer"
	"github.com/ctrace-dev/ctrace/tracer/jsonw"
)

// The causes a Reason names.
const (
	// CauseUnsupported: the file system refuses idmapped mounts.
	CauseUnsupported = "fs_unsupported"
	// CauseAttached: the mount is in a mount tree already.
	CauseAttached = "attached"
	// CauseNotUserNS: userns_fd is not a user namespace.
	CauseNotUserNS = "not_userns"
	// CauseFsmount: fsmount was asked for MOUNT_ATTR_IDMAP.
	CauseFsmount = "fsmount"
)

// Reason: why the kernel would not idmap the mount.
type Reason struct {
	Cause string
	// FSType is the mount's file system type ("ramfs"), "" when unknown.
	FSType string
	// Target is what userns_fd referred to, for CauseNotUserNS.
	Target string
}

// Kind implements tracer.Reason.
func (*Reason) Kind() tracer.ReasonKind { return tracer.ReasonIDMap }

// Text says what refused the idmapping:
//
//	idmap: ramfs does not support idmapped mounts on this kernel (asked after the call: a detached copy of the mount was refused MOUNT_ATTR_IDMAP with EINVAL)
func (r *Reason) Text(*tracer.Event) string {
	switch r.Cause {
	case CauseUnsupported:
		return "idmap: " + fsName(r.FSType) + " does not support idmapped mounts on this kernel (asked after the call: " +
			"a detached copy of the mount was refused MOUNT_ATTR_IDMAP with EINVAL)"
	case CauseAttached:
		return "idmap: the mount is attached (in the caller's mount tree), and the kernel idmaps only a mount never " +
			"attached, from open_tree(OPEN_TREE_CLONE) or fsmount; " + fsName(r.FSType) + " itself takes idmapped mounts " +
			"(asked after the call, on a detached copy)"
	case CauseNotUserNS:
		return "idmap: userns_fd refers to " + r.Target + ", not a user namespace"
	case CauseFsmount:
		return "idmap: fsmount does not take MOUNT_ATTR_IDMAP; the mount it returns is idmapped with mount_setattr"
	}
	return "idmap: " + r.Cause
}

func fsName(t string) string {
	if t == "" {
		return "the mount's file system"
	}
	return t
}

// AppendJSON implements tracer.Reason.
func (r *Reason) AppendJSON(b []byte) []byte {
	b = jsonw.StrLit(b, `"cause":`, r.Cause)
	if r.FSType != "" {
		b = jsonw.StrLit(b, `"fstype":`, r.FSType)
	}
	if r.Target != "" {
		b = jsonw.StrLit(b, `"userns_fd_target":`, r.Target)
	}
	return b
}

// Explained reports whether ev is a failure Diagnose looks at.
func Explained(ev *tracer.Event) bool {
	if ev.Errno != unix.EINVAL {
		return false
	}
	switch ev.Syscall {
	case "mount_setattr":
		a := arg(ev, "attr")
		return a != nil && a.Read && !a.Fault && field(a, "attr_set")&unix.MOUNT_ATTR_IDMAP != 0
	case "fsmount":
		a := arg(ev, "attr_flags")
		return a != nil && a.Raw&unix.MOUNT_ATTR_IDMAP != 0
	}
	return false
}

func arg(ev *tracer.Event, name string) *tracer.Arg {
	for i := range ev.Args {
		if ev.Args[i].Name == name {
			return &ev.Args[i]
		}
	}
	return nil
}

func field(a *tracer.Arg, name string) uint64 {
	for _, f := range a.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	return 0
}

// Diagnoser adds a Reason to failed idmappings. Its methods are safe for
// concurrent use.
type Diagnoser struct {
	// Proc is the node's /proc ("" for /proc).
	Proc string

	once   sync.Once
	userns int // a user namespace of ctrace's own, for the probe
	nsErr  error
}

func (d *Diagnoser) proc() string {
	if d.Proc == "" {
		return "/proc"
	}
	return d.Proc
}

// Diagnose adds a Reason to ev when it tells why the idmapping failed,
// and says why not under NoReason when it looked.
func (d *Diagnoser) Diagnose(ev *tracer.Event) {
	if !Explained(ev) {
		return
	}
	if ev.Syscall == "fsmount" {
		ev.Reasons = append(ev.Reasons, &Reason{Cause: CauseFsmount})
		return
	}
	r, err := d.mountSetattr(ev)
	switch {
	case r != nil:
		ev.Reasons = append(ev.Reasons, r)
	case err != nil && len(ev.Reasons) == 0:
		ev.NoReason = "idmap: " + err.Error()
	}
}

var errGone = errors.New("the caller exited before ctrace could look at its mount, which only its descriptors reach")

func (d *Diagnoser) mountSetattr(ev *tracer.Event) (*Reason, error) {
	pid := ev.Proc.PID
	if a := arg(ev, "attr"); a != nil {
		fd := field(a, "userns_fd")
		if t, err := os.Readlink(fmt.Sprintf("%s/%d/fd/%d", d.proc(), pid, fd)); err == nil && !strings.HasPrefix(t, "user:[") {
			return &Reason{Cause: CauseNotUserNS, Target: t}, nil
		}
	}
	pathfd, err := d.openTarget(ev)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pathfd)
	mntns, err := unix.Open(fmt.Sprintf("%s/%d/ns/mnt", d.proc(), pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, errGone
	}
	defer unix.Close(mntns)
	fstype, attached := d.mountOf(pid, pathfd)
	d.once.Do(func() { d.userns, d.nsErr = nsfork.NewUserNS() })
	if d.nsErr != nil {
		return nil, fmt.Errorf("a user namespace to ask the kernel with: %w", d.nsErr)
	}
	verdict, err := probe(pathfd, mntns, d.userns)
	if err != nil {
		return nil, err
	}
	switch {
	case verdict == unix.EINVAL:
		return &Reason{Cause: CauseUnsupported, FSType: fstype}, nil
	case verdict == 0 && attached:
		return &Reason{Cause: CauseAttached, FSType: fstype}, nil
	case verdict == 0:
		return nil, fmt.Errorf("%s takes idmapped mounts (asked after the call, on a detached copy of the mount), "+
			"the mount was detached and userns_fd a user namespace: another check refused it", fsName(fstype))
	}
	return nil, fmt.Errorf("asked after the call, the kernel refused to idmap a copy of the mount with %v, "+
		"which does not tell whether %s supports it", verdict, fsName(fstype))
}

// openTarget opens, O_PATH, the file the call named, as the caller saw
// it: through its descriptor, its root or its working directory.
func (d *Diagnoser) openTarget(ev *tracer.Event) (int, error) {
	pid := ev.Proc.PID
	dirfd, path := arg(ev, "dirfd"), arg(ev, "path")
	if dirfd == nil || path == nil || (path.Raw != 0 && (!path.Read || path.Fault || path.Truncated)) {
		return -1, errors.New("the call's path was not read")
	}
	base := fmt.Sprintf("%s/%d/fd/%d", d.proc(), pid, dirfd.Int())
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC}
	switch {
	case strings.HasPrefix(path.Str, "/"):
		base, how.Resolve = fmt.Sprintf("%s/%d/root", d.proc(), pid), unix.RESOLVE_IN_ROOT
	case dirfd.IsATFDCWD():
		base = fmt.Sprintf("%s/%d/cwd", d.proc(), pid)
	}
	flags := arg(ev, "flags")
	if flags != nil && flags.Raw&unix.AT_SYMLINK_NOFOLLOW != 0 {
		how.Flags |= unix.O_NOFOLLOW
	}
	bfd, err := unix.Open(base, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, errGone
	}
	p := strings.TrimLeft(path.Str, "/")
	if p == "" && (path.Str == "" || how.Resolve != 0) {
		return bfd, nil // AT_EMPTY_PATH, or the caller's root
	}
	defer unix.Close(bfd)
	if how.Resolve == 0 {
		p = path.Str
	}
	fd, err := unix.Openat2(bfd, p, &how)
	if err != nil {
		return -1, fmt.Errorf("opening the call's mount %q as the caller sees it: %w", path.Str, err)
	}
	return fd, nil
}

// mountOf returns the file system type of the mount fd is on and whether
// the mount is in the caller's mount tree (its mountinfo lists it). A
// detached mount is listed nowhere: its type comes from statfs.
func (d *Diagnoser) mountOf(pid uint32, fd int) (fstype string, attached bool) {
	var stx unix.Statx_t
	if unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx) == nil && stx.Mask&unix.STATX_MNT_ID != 0 {
		if t, ok := d.mountinfo(pid, stx.Mnt_id); ok {
			return t, true
		}
	}
	var st unix.Statfs_t
	if unix.Fstatfs(fd, &st) == nil {
		return magicName(int64(st.Type)), false
	}
	return "", false
}

// mountinfo returns the type of the caller's mount id, if it is listed.
func (d *Diagnoser) mountinfo(pid uint32, id uint64) (string, bool) {
	f, err := os.Open(fmt.Sprintf("%s/%d/mountinfo", d.proc(), pid))
	if err != nil {
		return "", false
	}
	defer f.Close()
	want := strconv.FormatUint(id, 10) + " "
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		l := s.Text()
		if !strings.HasPrefix(l, want) {
			continue
		}
		// "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw"
		if _, after, ok := strings.Cut(l, " - "); ok {
			t, _, _ := strings.Cut(after, " ")
			return t, true
		}
		return "", true
	}
	return "", false
}

// probe asks the kernel whether the mount fd is on can be idmapped: it
// clones the mount, detached, and idmaps the copy to userns. It works on
// a thread of its own in the caller's mount namespace (the kernel clones
// only mounts of the cloner's own namespace, or detached mounts that one
// made); the thread, locked and never unlocked, ends with its goroutine.
func probe(fd, mntns, userns int) (unix.Errno, error) {
	type result struct {
		verdict unix.Errno
		err     error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var own, theirs unix.Stat_t
		if err := unix.Stat("/proc/thread-self/ns/mnt", &own); err != nil {
			ch <- result{err: fmt.Errorf("own mount namespace: %w", err)}
			return
		}
		if err := unix.Fstat(mntns, &theirs); err != nil {
			ch <- result{err: fmt.Errorf("the caller's mount namespace: %w", err)}
			return
		}
		if own.Ino != theirs.Ino {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				ch <- result{err: fmt.Errorf("unshare(CLONE_FS): %w", err)}
				return
			}
			if err := unix.Setns(mntns, unix.CLONE_NEWNS); err != nil {
				ch <- result{err: fmt.Errorf("entering the caller's mount namespace: %w", err)}
				return
			}
		}
		clone, err := unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
		if err != nil {
			ch <- result{err: fmt.Errorf("asking the kernel after the call: open_tree(OPEN_TREE_CLONE) of the mount: %w", err)}
			return
		}
		err = unix.MountSetattr(clone, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns)})
		unix.Close(clone)
		var e unix.Errno
		if err != nil && !errors.As(err, &e) {
			ch <- result{err: err}
			return
		}
		ch <- result{verdict: e}
	}()
	r := <-ch
	return r.verdict, r.err
}

// magicName names a file system by its statfs magic: those a node's
// volumes use, and those the kernel refuses to idmap.
func magicName(m int64) string {
	switch m {
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.RAMFS_MAGIC:
		return "ramfs"
	case unix.HUGETLBFS_MAGIC:
		return "hugetlbfs"
	case unix.NFS_SUPER_MAGIC:
		return "nfs"
	case unix.FUSE_SUPER_MAGIC:
		return "fuse"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlay"
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.CIFS_SUPER_MAGIC, unix.SMB2_SUPER_MAGIC:
		return "cifs"
	case unix.CEPH_SUPER_MAGIC:
		return "ceph"
	case unix.V9FS_MAGIC:
		return "9p"
	case unix.SQUASHFS_MAGIC:
		return "squashfs"
	case unix.EROFS_SUPER_MAGIC_V1:
		return "erofs"
	}
	return fmt.Sprintf("file system 0x%x", m)
}
