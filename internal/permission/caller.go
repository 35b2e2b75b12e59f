package permission

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/tracer"
)

// InitUserNS is the inode number of the initial user namespace
// (PROC_USER_INIT_INO), which the kernel never gives another one.
const InitUserNS = 4026531837

// The ways ctrace sees the caller's files and credentials after the call
// (the Reason's Via).
const (
	// ViaProc: the caller itself, through /proc/PID (root, cwd, status,
	// uid_map): the process still ran, in the namespaces of the event.
	ViaProc = "proc"
	// ViaContainerRootfs: the caller was gone; its container's rootfs
	// (the task bundle's rootfs mount, which exists until the task is
	// deleted) stands for its root, and the container's OCI spec or the
	// kernel's capability record for its user namespace's maps.
	ViaContainerRootfs = "container_rootfs"
	// ViaHostRoot: the caller was gone; it ran on the host, in the
	// node's mount and initial user namespaces, so the node's root stands
	// for its root (a caller that had chrooted is not told apart).
	ViaHostRoot = "host_root"
	// ViaNodeRootfs: the caller was gone; a container runtime process
	// (runc init before it pivots, which works in a copy of the node's
	// mount namespace) whose path lay in its container's rootfs as the
	// node mounts it. The node's root stands for its root, the
	// container's OCI spec (or the kernel's capability record) for its
	// user namespace's maps, and only a component on the rootfs mount
	// itself is a reason.
	ViaNodeRootfs = "node_rootfs"
	// ViaSnapshotLayers: as ViaNodeRootfs, but the rootfs was unmounted
	// before ctrace looked. The path named the rootfs of the event's own
	// container's task bundle (containerd's layout), and the overlay's
	// layers as its snapshotter gives them (the snapshots' directories)
	// stand for what was mounted there.
	ViaSnapshotLayers = "snapshot_layers"
)

// Caller is the caller of a failed call as ctrace can see it after the
// call returned.
type Caller struct {
	Root  Root
	Creds Creds
	Via   string
	// Snapshot is the containerd snapshot mounted as the caller's root,
	// when that is known; a reason on the root mount names it.
	Snapshot *tracer.Snapshot
	// SnapshotAt names the containerd snapshot whose directory holds a
	// path in the caller's view (a snapshotter's lowerdir, say); set
	// only when the caller's view is the host's, where the
	// snapshotter's paths mean what they say. Nil: none is looked up.
	SnapshotAt func(path string) *tracer.Snapshot
	// SnapshotMounts are the mounts of the caller's view, by mount id,
	// whose files are a containerd snapshot's (its container's rootfs,
	// found in a mount table by the snapshot's directory): a component
	// on one lies in that snapshot.
	SnapshotMounts map[uint64]*tracer.Snapshot
	// OnlySnapshotMounts: the caller's view is known to be its own only
	// on SnapshotMounts (ViaNodeRootfs); a component elsewhere, which
	// is also what a walk finds when the mount went away under it, is
	// no reason.
	OnlySnapshotMounts bool
	// Layers, when set, stands for the caller's view at and below
	// Layers.Point: its container's rootfs, no longer mounted, seen
	// through its overlay's layers (ViaSnapshotLayers).
	Layers *Layers
}

// ErrGone is returned by FromProc when the process is gone or is not the
// one of the event any more.
var ErrGone = errors.New("the process is gone")

// FromProc finds the caller of ev through proc (the node's /proc). The
// process must still be in the event's mount and user namespaces with the
// same real uid and gid, or a reused pid would be read.
func FromProc(proc string, ev *tracer.Event) (*Caller, error) {
	dir := filepath.Join(proc, strconv.FormatUint(uint64(ev.Proc.PID), 10))
	if nsInode(filepath.Join(dir, "ns/mnt")) != ev.Proc.MntNS || nsInode(filepath.Join(dir, "ns/user")) != ev.Proc.UserNS {
		return nil, ErrGone
	}
	st, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return nil, ErrGone
	}
	c := &Caller{Via: ViaProc, Root: Root{Dir: filepath.Join(dir, "root"), Cwd: filepath.Join(dir, "cwd")}}
	uids, gids, groups, capEff, err := parseStatus(st)
	if err != nil {
		return nil, fmt.Errorf("%s/status: %w", dir, err)
	}
	if uids[0] != ev.Proc.UID || gids[0] != ev.Proc.GID {
		return nil, ErrGone
	}
	c.Creds = Creds{UID: uids[3], GID: gids[3], Groups: groups, GroupsKnown: true,
		Caps: Caps{Known: true, DACOverride: capEff&(1<<unix.CAP_DAC_OVERRIDE) != 0, DACReadSearch: capEff&(1<<unix.CAP_DAC_READ_SEARCH) != 0}}
	if ev.Proc.UserNS != InitUserNS {
		// The process may exit between its status and its maps (runc
		// init, whose mkdirat failed): gone, as before the status.
		if c.Creds.UIDMap, err = readIDMap(filepath.Join(dir, "uid_map")); err != nil {
			return nil, goneOr(err)
		}
		if c.Creds.GIDMap, err = readIDMap(filepath.Join(dir, "gid_map")); err != nil {
			return nil, goneOr(err)
		}
	}
	c.Root.Idmapped = idmappedIn(filepath.Join(dir, "mountinfo"))
	// An exiting process gives up its root and working directory before
	// its namespaces: past that, it is gone for what is read here. Once
	// it is reaped, its root link says EACCES rather than ENOENT: gone
	// if its /proc entry is gone too, else the error it is.
	if _, err := os.Stat(c.Root.Dir); err != nil {
		if errors.Is(err, fs.ErrPermission) && goneFrom(dir, ev) {
			return nil, ErrGone
		}
		return nil, goneOr(err)
	}
	return c, nil
}

// goneFrom reports whether ev's process no longer has its /proc entry
// dir, or has left the event's namespaces.
func goneFrom(dir string, ev *tracer.Event) bool {
	if _, err := os.Stat(filepath.Join(dir, "status")); err != nil {
		return true
	}
	return nsInode(filepath.Join(dir, "ns/mnt")) != ev.Proc.MntNS
}

// goneOr is ErrGone when err says the process's /proc entry went away
// while it was read, else err.
func goneOr(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return ErrGone
	}
	return err
}

// FromRootfs stands a container's rootfs (a directory on the host) for
// the root of a caller that is gone. The uid and gid are the event's (the
// real ones: set-id programs are not told apart), the supplementary
// groups and capabilities are unknown, and the user namespace's maps are
// the ones given, which must be the caller's (nil for the initial one).
func FromRootfs(rootfs string, ev *tracer.Event, uidMap, gidMap IDMap) *Caller {
	return &Caller{Via: ViaContainerRootfs, Root: Root{Dir: rootfs},
		Creds: Creds{UID: ev.Proc.UID, GID: ev.Proc.GID, UIDMap: uidMap, GIDMap: gidMap}}
}

// FromHostRoot stands the node's root (hostRoot) for the root of a host
// caller that is gone; its ids are the event's.
func FromHostRoot(hostRoot string, ev *tracer.Event) *Caller {
	c := FromRootfs(hostRoot, ev, nil, nil)
	c.Via = ViaHostRoot
	return c
}

// WithKernelCaps refines what is known of the caller's capabilities from
// the kernel's capability reasons of the same call: a CAP_DAC_* denied in
// the caller's own user namespace was not in its effective set.
func (c *Caller) WithKernelCaps(ev *tracer.Event) {
	if c.Creds.Caps.Known {
		return
	}
	var override, search bool
	for r := range tracer.ReasonsOf[*tracer.CapabilityReason](ev) {
		if r.UserNS != ev.Proc.UserNS {
			continue
		}
		switch r.Cap {
		case "CAP_DAC_OVERRIDE":
			override = true
		case "CAP_DAC_READ_SEARCH":
			search = true
		}
	}
	// Both denied: the kernel asked for each, and neither was there.
	if override && search {
		c.Creds.Caps = Caps{Known: true}
	}
}

// DACOverrideDenied reports whether the kernel recorded, with the call,
// CAP_DAC_OVERRIDE denied to the caller in its own user namespace: it ran
// the permission bits' check and the caller could not override it, so it
// was not root with its capabilities there (as a set-uid-root program
// runs, whose event carries its real uid).
func DACOverrideDenied(ev *tracer.Event) bool {
	for r := range tracer.ReasonsOf[*tracer.CapabilityReason](ev) {
		if r.UserNS == ev.Proc.UserNS && r.Cap == "CAP_DAC_OVERRIDE" {
			return true
		}
	}
	return false
}

// KernelUIDMap returns the uid_map of the caller's user namespace as the
// kernel recorded it with a capability reason of the call, if any.
func KernelUIDMap(ev *tracer.Event) (IDMap, bool) {
	for r := range tracer.ReasonsOf[*tracer.CapabilityReason](ev) {
		if r.CallerUserNS == ev.Proc.UserNS && len(r.CallerUIDMap) > 0 {
			return IDMap(r.CallerUIDMap), true
		}
	}
	return nil, false
}

func nsInode(p string) uint32 {
	var st unix.Stat_t
	if unix.Stat(p, &st) != nil {
		return 0
	}
	return uint32(st.Ino)
}

func readIDMap(p string) (IDMap, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return ParseIDMap(string(b))
}

// parseStatus reads the Uid, Gid (real, effective, saved, fs), Groups and
// CapEff lines of /proc/PID/status.
func parseStatus(b []byte) (uids, gids [4]uint32, groups []uint32, capEff uint64, err error) {
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		f := strings.Fields(v)
		switch k {
		case "Uid", "Gid":
			if len(f) != 4 {
				return uids, gids, nil, 0, fmt.Errorf("%s: %q", k, v)
			}
			for i := range f {
				n, perr := strconv.ParseUint(f[i], 10, 32)
				if perr != nil {
					return uids, gids, nil, 0, fmt.Errorf("%s: %w", k, perr)
				}
				if k == "Uid" {
					uids[i] = uint32(n)
				} else {
					gids[i] = uint32(n)
				}
			}
			seen++
		case "Groups":
			for _, s := range f {
				n, perr := strconv.ParseUint(s, 10, 32)
				if perr != nil {
					return uids, gids, nil, 0, fmt.Errorf("supplementary groups: %w", perr)
				}
				groups = append(groups, uint32(n))
			}
		case "CapEff":
			if len(f) != 1 {
				return uids, gids, nil, 0, fmt.Errorf("CapEff: %q", v)
			}
			if capEff, err = strconv.ParseUint(f[0], 16, 64); err != nil {
				return uids, gids, nil, 0, fmt.Errorf("CapEff: %w", err)
			}
			seen++
		}
	}
	if seen != 3 {
		return uids, gids, nil, 0, errors.New("no Uid, Gid or CapEff line")
	}
	return uids, gids, groups, capEff, nil
}

// idmappedIn returns a function telling whether the mount of a descriptor
// is idmapped, by its mount id in mountinfo (the kernel shows "idmapped"
// among the mount's options).
func idmappedIn(mountinfo string) func(fd int) bool {
	var ids map[uint64]bool
	return func(fd int) bool {
		if ids == nil {
			ids = map[uint64]bool{}
			b, err := os.ReadFile(mountinfo)
			if err != nil {
				return false
			}
			for _, line := range strings.Split(string(b), "\n") {
				f := strings.Fields(line)
				if len(f) < 6 {
					continue
				}
				if id, err := strconv.ParseUint(f[0], 10, 64); err == nil {
					ids[id] = strings.Contains(","+f[5]+",", ",idmapped,")
				}
			}
		}
		var stx unix.Statx_t
		if unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx) != nil {
			return false
		}
		return ids[stx.Mnt_id]
	}
}
