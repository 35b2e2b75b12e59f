package pipeline

import (
	"context"
	"errors"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/permission"
	"github.com/ctrace-dev/ctrace/tracer"
)

// Permission adds the permission reason to EACCES and EROFS failures: the
// path component that refused the caller (package permission). It is the
// first stage, so that it looks while the caller most likely still runs:
// through /proc/PID of the caller itself, or, when the caller is gone
// already (a container's process that failed and exited at once), through
// its container's rootfs, which the shim keeps mounted until the task is
// deleted (docs/permission.md).
type Permission struct {
	proc, hostRoot string
	resolve        func(*tracer.Event) *correlate.Container
	snapshotAt     func(string) *tracer.Snapshot
	next           Next
	// hostMntNS is the node's mount namespace, read at the first need;
	// 0 until then or when it cannot be read.
	hostMntNS     uint32
	hostMntNSRead bool
}

// NewPermission returns the stage. proc is the node's /proc, hostRoot
// where the node's root is ("/" on the host), resolve names an event's
// container if it is known yet (correlate.Resolver.Resolve), and
// snapshotAt the containerd snapshot behind a host path
// (correlate.Resolver.SnapshotAt); either may be nil.
func NewPermission(proc, hostRoot string, resolve func(*tracer.Event) *correlate.Container, snapshotAt func(string) *tracer.Snapshot) *Permission {
	if proc == "" {
		proc = "/proc"
	}
	if hostRoot == "" {
		hostRoot = "/"
	}
	return &Permission{proc: proc, hostRoot: hostRoot, resolve: resolve, snapshotAt: snapshotAt}
}

// Link implements Stage.
func (s *Permission) Link(next Next) { s.next = next }

// Handle implements Stage.
func (s *Permission) Handle(ev *Event) {
	if ev.Failed() && permission.Explained(ev.Event) {
		s.explain(ev.Event)
	}
	s.next.Handle(ev)
}

// Close implements Stage.
func (s *Permission) Close(context.Context) {}

func (s *Permission) explain(ev *tracer.Event) {
	c, err := permission.FromProc(s.proc, ev)
	if errors.Is(err, permission.ErrGone) {
		c, err = s.fromGone(ev)
	} else if err == nil {
		c.Snapshot = s.rootSnapshot(ev, c.Root.Dir)
		if s.snapshotAt != nil && sameFile(c.Root.Dir, s.hostRoot) {
			// The caller sees the host's files: a snapshotter's
			// paths are its paths.
			c.SnapshotAt = s.snapshotAt
		}
	}
	if err != nil {
		ev.NoReason = "permission: " + err.Error()
		return
	}
	c.WithKernelCaps(ev)
	r, why := permission.Explain(ev, c)
	if r == nil && c.Via == permission.ViaProc && s.goneNow(ev) {
		// The caller exited while it was looked at (its /proc/PID/root
		// went away under the walk): look as for a caller gone before.
		if c, err = s.fromGone(ev); err == nil {
			c.WithKernelCaps(ev)
			r, why = permission.Explain(ev, c)
		} else {
			why = err.Error()
		}
	}
	if r == nil {
		ev.NoReason = "permission: " + why
		return
	}
	ev.Reasons = append(ev.Reasons, r)
}

// goneNow reports whether the event's caller has exited by now.
func (s *Permission) goneNow(ev *tracer.Event) bool {
	_, err := permission.FromProc(s.proc, ev)
	return errors.Is(err, permission.ErrGone)
}

// fromGone stands its container's rootfs, or for a host process the
// node's root, for the root of a caller that is gone.
func (s *Permission) fromGone(ev *tracer.Event) (*permission.Caller, error) {
	var c *correlate.Container
	if s.resolve != nil {
		c = s.resolve(ev)
	}
	switch {
	case c == nil && s.onHost(ev):
		if !permission.DACOverrideDenied(ev) {
			return nil, errors.New("the caller, a host process, exited before ctrace could see its files, and the kernel " +
				"recorded no CAP_DAC_OVERRIDE denial to show that it was not running privileged (a set-uid program)")
		}
		caller := permission.FromHostRoot(s.hostRoot, ev)
		caller.SnapshotAt = s.snapshotAt
		return caller, nil
	case c == nil:
		return nil, errors.New("the caller exited before ctrace could see its files, and it ran in no container ctrace knows")
	case strings.HasPrefix(ev.Proc.Comm, "runc") || strings.HasPrefix(ev.Proc.Comm, "containerd"):
		// runc init works in the host's root until it pivots.
		return nil, errors.New("the caller, a container runtime process, exited before ctrace could see its root")
	case c.Rootfs == "":
		return nil, errors.New("the caller exited before ctrace could see its files, and its container's rootfs is not known")
	}
	var uidMap, gidMap permission.IDMap
	if ev.Proc.UserNS != permission.InitUserNS {
		if len(c.UIDMap) == 0 || len(c.GIDMap) == 0 {
			return nil, errors.New("the caller exited, and its user namespace's maps are not known (its container's spec has none)")
		}
		uidMap, gidMap = permission.IDMap(c.UIDMap), permission.IDMap(c.GIDMap)
		// The kernel's record of the call, where there is one, is of
		// the caller's own namespace.
		if m, ok := permission.KernelUIDMap(ev); ok {
			uidMap = m
		}
	}
	caller := permission.FromRootfs(filepath.Join(s.hostRoot, c.Rootfs), ev, uidMap, gidMap)
	caller.Snapshot = c.Snapshot
	return caller, nil
}

// onHost reports whether the event's caller ran in the node's mount
// namespace and the initial user namespace: the node's root was its root
// (unless it had chrooted, which a gone process no longer tells).
func (s *Permission) onHost(ev *tracer.Event) bool {
	if !s.hostMntNSRead {
		s.hostMntNSRead = true
		// On the host, ctrace's own; from a pod (the node's root
		// mounted elsewhere), that of the node's pid 1, which a
		// sandbox may keep from even root.
		ns := "/proc/self/ns/mnt"
		if s.hostRoot != "/" {
			ns = filepath.Join(s.proc, "1/ns/mnt")
		}
		var st unix.Stat_t
		if unix.Stat(ns, &st) == nil {
			s.hostMntNS = uint32(st.Ino)
		}
	}
	return s.hostMntNS != 0 && ev.Proc.MntNS == s.hostMntNS && ev.Proc.UserNS == permission.InitUserNS
}

// rootSnapshot returns the snapshot of the caller's container when the
// caller's root is that container's rootfs: the same file system as the
// task bundle's rootfs mount (runc init, before it pivots, has the host's).
func (s *Permission) rootSnapshot(ev *tracer.Event, root string) *tracer.Snapshot {
	if s.resolve == nil {
		return nil
	}
	c := s.resolve(ev)
	if c == nil || c.Snapshot == nil || c.Rootfs == "" {
		return nil
	}
	if !sameFile(root, filepath.Join(s.hostRoot, c.Rootfs)) {
		return nil
	}
	return c.Snapshot
}

// sameFile reports whether a and b are the same file (device and inode).
func sameFile(a, b string) bool {
	var sa, sb unix.Stat_t
	return unix.Stat(a, &sa) == nil && unix.Stat(b, &sb) == nil && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}
