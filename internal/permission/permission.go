// Package permission finds which path component refused a failed call,
// and why: its owner and mode against the caller's ids (DAC), an owner
// that is not mapped in the caller's user namespace (so that even root
// there has no override), a read-only or noexec mount.
//
// The kernel does not tell which component refused, and on kernels
// without fexit ctrace cannot watch the permission hooks: the walk is
// made after the call returned, in the caller's view of the file system
// (its root, its working directory, its user namespace's maps), and the
// reason says so (Checked "after"). The files may have changed in
// between. When no component explains the error, or when what would
// decide it is not known (supplementary groups of a process that is
// gone, capabilities of root in a namespace, a POSIX ACL), there is no
// reason, and Explain says why.
package permission

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ctrace-dev/ctrace/tracer"
)

// CheckedAfter marks a reason looked up after the call returned.
const CheckedAfter = "after"

// Explain walks the paths a failed call named as its caller saw them and
// returns the permission reason, or the reasons why there is none.
func Explain(ev *tracer.Event, c *Caller) (*Reason, string) {
	reqs := Requests(ev)
	if len(reqs) == 0 {
		return nil, "the call named no path that ctrace could read"
	}
	var why []string
	for _, req := range reqs {
		var f *Finding
		var err error
		if c.Layers != nil {
			f, err = walkLayers(c.Root, c.Layers, req, &c.Creds, ev.Errno)
		} else {
			f, err = Walk(c.Root, req, &c.Creds, ev.Errno)
		}
		if f != nil && c.OnlySnapshotMounts && c.SnapshotMounts[f.MountID] == nil && !f.InLayers {
			why = append(why, fmt.Sprintf("%s refuses %s, but it is not on the container's rootfs mount, the only place "+
				"the node's view is known to be the caller's (the rootfs may have been unmounted during the look, or the refusal is above it)", f.Path, f.Need))
			continue
		}
		if f != nil {
			return reason(ev, c, f), ""
		}
		var u *Unexplained
		if errors.As(err, &u) {
			why = append(why, u.Why)
		} else if err != nil {
			why = append(why, err.Error())
		}
	}
	return nil, strings.Join(why, "; ")
}

func reason(ev *tracer.Event, c *Caller, f *Finding) *Reason {
	r := &Reason{
		Path:        f.Path,
		Arg:         f.Arg,
		Need:        string(f.Need),
		OwnerUID:    f.OwnerUID,
		OwnerGID:    f.OwnerGID,
		Mode:        f.Mode,
		OwnerMapped: f.OwnerMapped,
		CallerUID:   c.Creds.UID,
		MountRO:     f.MountRO,
		MountNoexec: f.MountNoexec,
		Idmapped:    f.Idmapped,
		Checked:     CheckedAfter,
		Via:         c.Via,
	}
	if f.OnRootMount {
		r.Snapshot = c.Snapshot
	}
	if r.Snapshot == nil && f.MountID != 0 {
		r.Snapshot = c.SnapshotMounts[f.MountID]
	}
	if f.InLayers && c.Layers != nil {
		r.Snapshot = c.Layers.Snapshot
	}
	if r.Snapshot == nil && c.SnapshotAt != nil {
		// The component's snapshot; else, for a component above every
		// snapshot (the snapshotter's own 0700 directory refuses a
		// mounter in a user namespace), the snapshot the argument
		// leads into: the layer the call was after.
		r.Snapshot = c.SnapshotAt(f.Path)
		if r.Snapshot == nil && f.Target != "" && isAbove(f.Path, f.Target) {
			r.Snapshot = c.SnapshotAt(f.Target)
			r.SnapshotOfArg = r.Snapshot != nil
		}
	}
	if !c.Creds.UIDMap.Initial() {
		r.CallerUserNS = ev.Proc.UserNS
		r.CallerUIDMap = tracer.IDMap(c.Creds.UIDMap)
	}
	return r
}

// isAbove reports whether the directory dir is target or one of its
// ancestors.
func isAbove(dir, target string) bool {
	return dir == target || strings.HasPrefix(target, strings.TrimSuffix(dir, "/")+"/")
}
