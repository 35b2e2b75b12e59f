package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
		ev.recheckPermission = !s.explain(ev.Event, nil)
	}
	s.next.Handle(ev)
}

// Close implements Stage.
func (s *Permission) Close(context.Context) {}

// Recheck returns the stage that looks again at the failures this one
// could not explain for want of their container: a start that fails in
// runc init is often read before containerd has described the container
// (its snapshot, its id maps), and by then runc init is gone, so only the
// container's rootfs or its snapshot's layers can stand for its view. It
// goes after Containers, which holds an event until containerd has
// described its container.
func (s *Permission) Recheck() *PermissionRecheck { return &PermissionRecheck{p: s} }

// PermissionRecheck is Permission's second look (Permission.Recheck).
type PermissionRecheck struct {
	p    *Permission
	next Next
}

// Link implements Stage.
func (s *PermissionRecheck) Link(next Next) { s.next = next }

// Handle implements Stage.
func (s *PermissionRecheck) Handle(ev *Event) {
	if ev.recheckPermission {
		ev.recheckPermission = false
		if c := ev.Container; c != nil && c.Known {
			s.p.explain(ev.Event, c)
		}
	}
	s.next.Handle(ev)
}

// Close implements Stage.
func (s *PermissionRecheck) Close(context.Context) {}

// explain adds the permission reason to ev, or says why there is none.
// known is ev's container when a stage has found it already; otherwise
// the resolver is asked. It reports whether a second look, once the
// container is known, could not find more: the reason was found, or the
// container was known with its snapshot.
func (s *Permission) explain(ev *tracer.Event, known *correlate.Container) (settled bool) {
	ct := known
	if ct == nil && s.resolve != nil {
		ct = s.resolve(ev)
	}
	settled = ct == nil && s.onHost(ev) || ct != nil && ct.Known && ct.Snapshot != nil
	c, err := permission.FromProc(s.proc, ev)
	if errors.Is(err, permission.ErrGone) {
		c, err = s.fromGone(ev, ct)
	} else if err == nil {
		c.Snapshot = s.rootSnapshot(ct, c.Root.Dir)
		if s.snapshotAt != nil && sameFile(c.Root.Dir, s.hostRoot) {
			// The caller sees the host's files: a snapshotter's
			// paths are its paths.
			c.SnapshotAt = s.snapshotAt
		}
		if c.Snapshot == nil && ct != nil && ct.Snapshot != nil {
			// runc init before it pivots (its root is the node's),
			// or a container whose task ctrace did not see created:
			// its rootfs is where the caller's own mount table
			// mounts its snapshot.
			c.SnapshotMounts = snapshotMounts(ct, ct.RootfsMounts(readFile(filepath.Join(s.proc,
				strconv.FormatUint(uint64(ev.Proc.PID), 10), "mountinfo"))))
		}
	}
	if err != nil {
		ev.NoReason = "permission: " + err.Error()
		return settled
	}
	c.WithKernelCaps(ev)
	r, why := permission.Explain(ev, c)
	if r == nil && c.Via == permission.ViaProc && s.goneNow(ev) {
		// The caller exited while it was looked at (its /proc/PID/root
		// went away under the walk): look as for a caller gone before.
		if gc, gerr := s.fromGone(ev, ct); gerr == nil {
			c = gc
			c.WithKernelCaps(ev)
			r, why = permission.Explain(ev, c)
		} else {
			why = gerr.Error()
		}
	}
	if r == nil && c.Via == permission.ViaNodeRootfs {
		// The rootfs was unmounted under the walk: its layers.
		if lc, lerr := s.fromLayers(ev, ct); lerr == nil {
			lc.WithKernelCaps(ev)
			var lwhy string
			if r, lwhy = permission.Explain(ev, lc); r == nil {
				why += "; through the snapshot's layers: " + lwhy
			}
		} else {
			why += "; " + lerr.Error()
		}
	}
	if r == nil {
		ev.NoReason = "permission: " + why
		return settled
	}
	ev.NoReason = ""
	ev.Reasons = append(ev.Reasons, r)
	return true
}

// goneNow reports whether the event's caller has exited by now.
func (s *Permission) goneNow(ev *tracer.Event) bool {
	_, err := permission.FromProc(s.proc, ev)
	return errors.Is(err, permission.ErrGone)
}

// fromGone stands its container's rootfs, or for a host process the
// node's root, for the root of a caller of container c (nil: a host
// process, or none known) that is gone.
func (s *Permission) fromGone(ev *tracer.Event, c *correlate.Container) (*permission.Caller, error) {
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
		return s.fromNodeRootfs(ev, c)
	case c.Rootfs == "":
		return nil, errors.New("the caller exited before ctrace could see its files, and its container's rootfs is not known")
	}
	uidMap, gidMap, err := containerMaps(ev, c)
	if err != nil {
		return nil, err
	}
	caller := permission.FromRootfs(filepath.Join(s.hostRoot, c.Rootfs), ev, uidMap, gidMap)
	caller.Snapshot = c.Snapshot
	return caller, nil
}

// fromNodeRootfs stands the node's root for the root of a container
// runtime process that is gone, when every path of its call lies in its
// container's rootfs as the node mounts it now. runc init, until it
// pivots, works in a copy of the node's mount namespace that holds the
// same rootfs mount (the shim mounts it before runc starts): there, and
// only there, the node's view is the caller's. No task need exist: the
// rootfs is found by its snapshot in the node's mount table, not from
// containerd's TaskCreate, which a start that fails in runc init never
// sends.
func (s *Permission) fromNodeRootfs(ev *tracer.Event, c *correlate.Container) (*permission.Caller, error) {
	if c.Snapshot == nil {
		return nil, errors.New(gone + ", and its container's snapshot is not known")
	}
	mounts := c.RootfsMounts(readFile(s.nodeMountinfo()))
	if len(mounts) == 0 {
		return s.fromLayers(ev, c)
	}
	if err := inRootfs(ev, mounts); err != nil {
		return nil, err
	}
	uidMap, gidMap, err := containerMaps(ev, c)
	if err != nil {
		return nil, err
	}
	caller := permission.FromRootfs(s.hostRoot, ev, uidMap, gidMap)
	caller.Via = permission.ViaNodeRootfs
	caller.SnapshotMounts = snapshotMounts(c, mounts)
	caller.OnlySnapshotMounts = true
	return caller, nil
}

// fromLayers stands the layers of a container's rootfs that is no longer
// mounted for the caller's view of it: runc init fails, exits, and the
// shim unmounts the rootfs, often all within the millisecond or two
// before ctrace reads the failure. The call's paths must lie in the
// rootfs of the container's own task bundle (containerd's layout names
// it after the container the kernel attributed the call to), where the
// shim mounts the overlay its snapshotter gives.
func (s *Permission) fromLayers(ev *tracer.Event, c *correlate.Container) (*permission.Caller, error) {
	if len(c.RootfsLayers) == 0 {
		return nil, errors.New(gone + ", its container's rootfs is not mounted on the node, and its snapshot's layers are not known")
	}
	point := ""
	for _, req := range permission.Requests(ev) {
		p := c.TaskBundleRootfsOf(req.Target())
		if p == "" || (point != "" && p != point) {
			return nil, fmt.Errorf("%s, its container's rootfs is not mounted on the node, and its path %q is not in the "+
				"container's task bundle rootfs", gone, req.Path)
		}
		point = p
	}
	if point == "" {
		return nil, errors.New(gone + ", and the call named no path")
	}
	uidMap, gidMap, err := containerMaps(ev, c)
	if err != nil {
		return nil, err
	}
	caller := permission.FromRootfs(s.hostRoot, ev, uidMap, gidMap)
	caller.Via = permission.ViaSnapshotLayers
	caller.Layers = s.snapshotLayers(c, point)
	caller.OnlySnapshotMounts = true
	return caller, nil
}

// snapshotLayers is container c's rootfs overlay, no longer mounted,
// seen through its layers as its snapshotter gives them (upper first),
// where ctrace can open them; point is where it was mounted in the
// caller's view (the task bundle's rootfs for runc init before it
// pivots, "/" for a process whose root it was).
func (s *Permission) snapshotLayers(c *correlate.Container, point string) *permission.Layers {
	l := &permission.Layers{Point: point, Snapshot: c.Snapshot}
	for _, d := range c.RootfsLayers {
		l.Dirs = append(l.Dirs, filepath.Join(s.hostRoot, d))
	}
	return l
}

// gone starts what the stage says when a container runtime process is
// gone and what stands for its view cannot be found.
const gone = "the caller, a container runtime process, exited before ctrace could see its root"

// inRootfs checks that every path of ev's call lies in one of the
// container's rootfs mounts (in the node's view).
func inRootfs(ev *tracer.Event, mounts []correlate.RootfsMount) error {
	for _, req := range permission.Requests(ev) {
		t := req.Target()
		if !slices.ContainsFunc(mounts, func(m correlate.RootfsMount) bool { return within(t, m.Point) }) {
			return fmt.Errorf("%s, and its path %q is not in its container's rootfs as the node mounts it (%s)", gone, req.Path, mounts[0].Point)
		}
	}
	return nil
}

// containerMaps are the user namespace maps of a gone caller of
// container c: none in the initial user namespace, else the container's
// OCI spec's, the kernel's record of the call taking precedence.
func containerMaps(ev *tracer.Event, c *correlate.Container) (permission.IDMap, permission.IDMap, error) {
	if ev.Proc.UserNS == permission.InitUserNS {
		return nil, nil, nil
	}
	if len(c.UIDMap) == 0 || len(c.GIDMap) == 0 {
		return nil, nil, errors.New("the caller exited, and its user namespace's maps are not known (its container's spec has none)")
	}
	uidMap, gidMap := permission.IDMap(c.UIDMap), permission.IDMap(c.GIDMap)
	// The kernel's record of the call, where there is one, is of the
	// caller's own namespace.
	if m, ok := permission.KernelUIDMap(ev); ok {
		uidMap = m
	}
	return uidMap, gidMap, nil
}

// nodeMountinfo is the node's mount table: ctrace's own on the host;
// from a pod (the node's root mounted elsewhere), that of the node's
// pid 1, whose mount points are in the node's view.
func (s *Permission) nodeMountinfo() string {
	if s.hostRoot == "/" {
		return "/proc/self/mountinfo"
	}
	return filepath.Join(s.proc, "1/mountinfo")
}

// snapshotMounts maps the ids of container c's rootfs mounts to its
// snapshot; nil when there are none.
func snapshotMounts(c *correlate.Container, mounts []correlate.RootfsMount) map[uint64]*tracer.Snapshot {
	if len(mounts) == 0 {
		return nil
	}
	out := make(map[uint64]*tracer.Snapshot, len(mounts))
	for _, m := range mounts {
		out[m.ID] = c.Snapshot
	}
	return out
}

// readFile returns a file's content, nil when it cannot be read (the
// process is gone, or the file is not there).
func readFile(p string) []byte {
	b, _ := os.ReadFile(p)
	return b
}

// within reports whether the clean absolute path p is dir or lies under
// it.
func within(p, dir string) bool {
	return p != "" && (p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/"))
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
func (s *Permission) rootSnapshot(c *correlate.Container, root string) *tracer.Snapshot {
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
