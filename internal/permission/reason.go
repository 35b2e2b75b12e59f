package permission

import (
	"fmt"
	"sort"

	"github.com/ctrace-dev/ctrace/tracer"
	"github.com/ctrace-dev/ctrace/tracer/jsonw"
)

// Reason: the path component that refused the caller (Path, in the
// caller's view), the access it refused (Need), its owner and mode as the
// initial user namespace sees them, whether the owner is mapped in the
// caller's user namespace, and the caller's uid there. Checked says when
// it was looked up ("after": once the call had returned) and Via how
// ctrace saw the caller's files.
type Reason struct {
	Path        string
	Arg         string // the argument the path is on: "path", "lowerdir", ...
	Need        string
	OwnerUID    uint32
	OwnerGID    uint32
	Mode        uint32
	OwnerMapped bool
	CallerUID   uint32
	// CallerUserNS and CallerUIDMap are the caller's user namespace and
	// its uid_map, when it is not the initial one.
	CallerUserNS uint32
	CallerUIDMap tracer.IDMap
	MountRO      bool
	MountNoexec  bool
	Idmapped     bool
	Checked      string
	Via          string
	// Snapshot is the containerd snapshot the component lies in: the
	// rootfs of the caller's container, or a snapshot directory on the
	// host (an image layer an overlay's lowerdir names); nil when none.
	// SnapshotOfArg: the component is a directory above every snapshot
	// (the snapshotter's own), and Snapshot is the one the argument
	// leads into.
	Snapshot      *tracer.Snapshot
	SnapshotOfArg bool
}

// Kind implements tracer.Reason.
func (*Reason) Kind() tracer.ReasonKind { return tracer.ReasonPermission }

// LabelUIDMapping is the snapshot label that asks a snapshotter to shift
// a snapshot's files to a user namespace's ids.
const LabelUIDMapping = "containerd.io/snapshot/uidmapping"

// Text says which path component refused what, and why:
//
//	permission: /etc is 0:0 0755, owner not mapped in the caller's user namespace (0 -> 100000, 65536 ids): write denied (checked after the call)
//	permission: /srv/key is 0:0 0600: read denied to uid 65534 (checked after the call)
func (r *Reason) Text(*tracer.Event) string {
	s := "permission: " + r.Path
	switch {
	case r.MountRO:
		s += " is on a read-only mount"
	case r.MountNoexec:
		s += " is on a noexec mount"
	default:
		s += fmt.Sprintf(" is %d:%d %04o", r.OwnerUID, r.OwnerGID, r.Mode)
		if !r.OwnerMapped {
			s += ", owner not mapped in the caller's user namespace"
			if len(r.CallerUIDMap) > 0 {
				s += " (" + r.CallerUIDMap[0].Arrow() + ")"
			}
		}
	}
	s += ": " + r.Need + " denied"
	if r.OwnerMapped && !r.MountRO && !r.MountNoexec {
		s += fmt.Sprintf(" to uid %d", r.CallerUID)
	}
	if r.Idmapped {
		s += " (idmapped mount)"
	}
	if sn := r.Snapshot; sn != nil {
		if r.SnapshotOfArg {
			s += "; " + r.Arg + " leads into " + sn.Snapshotter + " snapshot " + sn.Key
		} else {
			s += "; in " + sn.Snapshotter + " snapshot " + sn.Key
		}
		if sn.Container == "" && sn.Image != "" {
			s += " (a layer of " + sn.Image + ")"
		}
		if m := sn.Labels[LabelUIDMapping]; m != "" {
			s += " (uidmapping label " + m + ")"
		}
	}
	if r.Checked == CheckedAfter {
		// Found by looking after the call returned: say so.
		s += " (checked after the call)"
	}
	return s
}

// AppendJSON implements tracer.Reason.
func (r *Reason) AppendJSON(b []byte) []byte {
	b = jsonw.StrLit(b, `"path":`, r.Path)
	b = jsonw.StrLit(b, `"arg":`, r.Arg)
	b = jsonw.StrLit(b, `"need":`, r.Need)
	b = jsonw.UintLit(b, `"owner_uid":`, uint64(r.OwnerUID))
	b = jsonw.UintLit(b, `"owner_gid":`, uint64(r.OwnerGID))
	b = append(jsonw.KeyLit(b, `"mode":`), '"')
	b = appendOctal4(b, r.Mode)
	b = append(b, '"')
	b = jsonw.BoolLit(b, `"owner_mapped":`, r.OwnerMapped)
	b = jsonw.UintLit(b, `"caller_uid":`, uint64(r.CallerUID))
	if len(r.CallerUIDMap) > 0 {
		b = jsonw.UintLit(b, `"caller_userns":`, uint64(r.CallerUserNS))
		b = r.CallerUIDMap.AppendJSON(b, `"caller_uid_map":`)
	}
	if r.MountRO {
		b = jsonw.BoolLit(b, `"mount_ro":`, true)
	}
	if r.MountNoexec {
		b = jsonw.BoolLit(b, `"mount_noexec":`, true)
	}
	if r.Idmapped {
		b = jsonw.BoolLit(b, `"idmapped":`, true)
	}
	b = jsonw.StrLit(b, `"checked":`, r.Checked)
	b = jsonw.StrLit(b, `"via":`, r.Via)
	if r.Snapshot != nil {
		b = appendSnapshot(b, r.Snapshot, r.SnapshotOfArg)
	}
	return b
}

// appendSnapshot appends the "snapshot" object, its labels sorted by
// key; "of":"argument" when it is the snapshot the argument leads into
// rather than the component's.
func appendSnapshot(b []byte, sn *tracer.Snapshot, ofArg bool) []byte {
	b = append(jsonw.KeyLit(b, `"snapshot":`), '{')
	b = jsonw.StrLit(b, `"snapshotter":`, sn.Snapshotter)
	b = jsonw.StrLit(b, `"key":`, sn.Key)
	b = jsonw.StrLit(b, `"kind":`, sn.Kind)
	b = jsonw.StrLit(b, `"container":`, sn.Container)
	b = jsonw.StrLit(b, `"image":`, sn.Image)
	if ofArg {
		b = jsonw.StrLit(b, `"of":`, "argument")
	}
	if len(sn.Labels) > 0 {
		keys := make([]string, 0, len(sn.Labels))
		for k := range sn.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(jsonw.KeyLit(b, `"labels":`), '{')
		for _, k := range keys {
			b = jsonw.Str(b, k, sn.Labels[k])
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendOctal4 appends permission bits (07777 at most) as four octal
// digits, "0755".
func appendOctal4(b []byte, mode uint32) []byte {
	for i := 9; i >= 0; i -= 3 {
		b = append(b, byte('0'+mode>>uint(i)&7))
	}
	return b
}
