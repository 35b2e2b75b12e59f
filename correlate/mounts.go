package correlate

import (
	"slices"
	"strconv"
	"strings"
)

// RootfsMount is one mount of a container's rootfs in a mount table.
type RootfsMount struct {
	// ID is the mount's id (mountinfo's first field, statx's
	// STATX_MNT_ID): unique among the mounts that exist at one time.
	ID uint64
	// Point is where it is mounted, in the view of the process whose
	// table it is (relative to that process's root).
	Point string
	// Upper is the overlay's upperdir.
	Upper string
}

// RootfsMounts finds c's rootfs in a mount table (the text of a
// /proc/PID/mountinfo): the overlay mounts whose upperdir is the
// directory of c's own snapshot, as its snapshotter's Mounts named it.
// The upperdir is the evidence: a container's snapshot is the upper
// layer of one rootfs only, whatever its mount point is called (the
// shim's task bundle, runc's bind of it onto itself). It finds none for
// a container whose snapshot or its directories are not known, or
// whose snapshotter mounts no overlay (a snapshot without parents is a
// bind mount, which this does not follow).
func (c *Container) RootfsMounts(mountinfo []byte) []RootfsMount {
	own := c.ownSnapshotDir()
	if own == "" {
		return nil
	}
	var out []RootfsMount
	for _, m := range overlayMounts(mountinfo) {
		if snapshotDir(m.Upper) == own {
			out = append(out, m)
		}
	}
	return out
}

// overlayMounts parses the overlay mounts of a mount table that have an
// upperdir.
func overlayMounts(mountinfo []byte) []RootfsMount {
	var out []RootfsMount
	for _, line := range strings.Split(string(mountinfo), "\n") {
		// id parent major:minor root point options [optional...] - type source super
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if sep < 6 || len(f) < sep+4 || f[sep+1] != "overlay" {
			continue
		}
		id, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		m := RootfsMount{ID: id, Point: unescapeMountinfo(f[4])}
		for _, o := range strings.Split(f[sep+3], ",") {
			if v, ok := strings.CutPrefix(o, "upperdir="); ok {
				m.Upper = unescapeMountinfo(v)
			}
		}
		if m.Upper != "" {
			out = append(out, m)
		}
	}
	return out
}

// ownSnapshotDir is the host directory of c's own snapshot (the rootfs
// overlay's upper layer), "" when not known.
func (c *Container) ownSnapshotDir() string {
	if c == nil || c.Snapshot == nil {
		return ""
	}
	for _, d := range c.SnapshotDirs {
		if d.Snapshot != nil && d.Snapshot.Snapshotter == c.Snapshot.Snapshotter && d.Snapshot.Key == c.Snapshot.Key {
			return d.Dir
		}
	}
	return ""
}

// unescapeMountinfo undoes the kernel's octal escapes in a mountinfo
// field (`\040` for a space; the super options also escape `,` and `=`).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
