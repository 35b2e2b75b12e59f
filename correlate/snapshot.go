package correlate

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"

	"github.com/ctrace-dev/ctrace/tracer"
)

// SnapshotDir is the host directory of one snapshot: for the overlayfs
// snapshotter, .../snapshots/N, whose fs/ is a layer of the overlay (an
// upperdir or a lowerdir) and whose work/ its workdir.
type SnapshotDir struct {
	Dir      string
	Snapshot *tracer.Snapshot
}

// containerSnapshot is what the snapshotter says of a container's rootfs:
// its snapshot and the directories of the snapshots it is made of.
type containerSnapshot struct {
	root   *tracer.Snapshot
	dirs   []SnapshotDir
	layers []string
}

// maxSnapshotParents bounds the walk up a snapshot's parents: overlayfs
// stacks at most 500 lower layers (OVL_MAX_STACK), so no chain it can
// mount is cut.
const maxSnapshotParents = 500

// snapshotOf asks the container's snapshotter about its rootfs snapshot
// and its parents; zero when it has none or the snapshotter does not know
// it. The directories come from the snapshot's mounts: the overlay's
// upperdir is the snapshot's own, its lowerdirs are the parents', nearest
// first (a snapshot without parents is a bind mount of its own fs, a view
// of one parent a read-only bind of that parent's).
//
// layers, when not nil, keeps the committed snapshots already asked about
// (by snapshotter and key): a listing of every container asks about each
// image layer once, not once per container.
func snapshotOf(ctx context.Context, cl *client.Client, cc containers.Container, layers map[[2]string]snapshots.Info) containerSnapshot {
	if cc.Snapshotter == "" || cc.SnapshotKey == "" {
		return containerSnapshot{}
	}
	svc := cl.SnapshotService(cc.Snapshotter)
	info, err := svc.Stat(ctx, cc.SnapshotKey)
	if err != nil {
		return containerSnapshot{}
	}
	stat := func(key string) (snapshots.Info, error) {
		k := [2]string{cc.Snapshotter, key}
		if i, ok := layers[k]; ok {
			return i, nil
		}
		i, err := svc.Stat(ctx, key)
		if err == nil && layers != nil && i.Kind == snapshots.KindCommitted {
			layers[k] = i
		}
		return i, err
	}
	out := containerSnapshot{root: &tracer.Snapshot{Snapshotter: cc.Snapshotter, Key: cc.SnapshotKey,
		Kind: strings.ToLower(info.Kind.String()), Container: cc.ID, Image: cc.Image, Labels: info.Labels}}
	chain := []*tracer.Snapshot{out.root}
	for parent := info.Parent; parent != "" && len(chain) <= maxSnapshotParents; {
		pi, err := stat(parent)
		if err != nil {
			break
		}
		// A committed layer may be shared by many containers and
		// images: it is named by its key and the image it was reached
		// from, not by a container.
		chain = append(chain, &tracer.Snapshot{Snapshotter: cc.Snapshotter, Key: parent,
			Kind: strings.ToLower(pi.Kind.String()), Image: cc.Image, Labels: pi.Labels})
		parent = pi.Parent
	}
	mounts, err := svc.Mounts(ctx, cc.SnapshotKey)
	if err != nil {
		return out
	}
	out.dirs = layerDirs(mounts, info.Kind, chain)
	out.layers = overlayLayers(mounts)
	return out
}

// overlayLayers are the layers of a snapshot's mounts when they are one
// overlay with an upperdir (an active snapshot over parents): the
// upperdir, then the lowerdirs, nearest first; nil otherwise.
func overlayLayers(mounts []mount.Mount) []string {
	if len(mounts) != 1 || mounts[0].Type != "overlay" {
		return nil
	}
	var upper string
	var lower []string
	for _, o := range mounts[0].Options {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "upperdir":
			upper = v
		case "lowerdir":
			lower = strings.Split(v, ":")
		}
	}
	if upper == "" || !filepath.IsAbs(upper) {
		return nil
	}
	for _, l := range lower {
		if !filepath.IsAbs(l) {
			return nil
		}
	}
	return append([]string{upper}, lower...)
}

// taskBundleRootfs is the part of a task bundle's path before its
// namespace: a bundle is <state>/io.containerd.runtime.v2.task/NS/ID,
// and its shim mounts the rootfs at rootfs/ in it (containerd 1.2 to
// 2.x).
const taskBundleRootfs = "/" + taskBundles + "/"

// TaskBundleRootfsOf returns the rootfs directory of c's own task bundle
// that path lies in (the directory itself or anything below it), by
// containerd's layout of task bundles: .../io.containerd.runtime.v2.task/
// NS/ID/rootfs with c's namespace and id; "" when path is not in it. The
// rootfs is mounted there from the task's creation (or the failed
// attempt at one) until the shim cleans up.
func (c *Container) TaskBundleRootfsOf(path string) string {
	if c == nil || c.ID == "" || c.Namespace == "" || !filepath.IsAbs(path) {
		return ""
	}
	path = filepath.Clean(path)
	tail := taskBundleRootfs + c.Namespace + "/" + c.ID + "/rootfs"
	i := strings.Index(path+"/", tail+"/")
	if i < 0 {
		return ""
	}
	return path[:i+len(tail)]
}

// layerDirs pairs the directories a snapshot's mounts name with the
// snapshots of chain (the snapshot itself, then its parents, nearest
// first). Mounts of a shape it does not know give none: no directory is
// named for a snapshot it might not be.
func layerDirs(mounts []mount.Mount, kind snapshots.Kind, chain []*tracer.Snapshot) []SnapshotDir {
	if len(mounts) != 1 {
		return nil
	}
	m := mounts[0]
	var dirs []SnapshotDir
	add := func(layer string, sn *tracer.Snapshot) {
		if d := snapshotDir(layer); d != "" {
			dirs = append(dirs, SnapshotDir{Dir: d, Snapshot: sn})
		}
	}
	switch m.Type {
	case "bind":
		// Its own fs, or for a view of one parent, the parent's.
		i := 0
		if kind == snapshots.KindView {
			i = 1
		}
		if i < len(chain) {
			add(m.Source, chain[i])
		}
	case "overlay":
		var lower []string
		for _, o := range m.Options {
			k, v, _ := strings.Cut(o, "=")
			switch k {
			case "upperdir", "workdir":
				add(v, chain[0])
			case "lowerdir":
				lower = strings.Split(v, ":")
			}
		}
		// A view has no upperdir: its lowerdirs start at its parent, as
		// an active snapshot's do.
		if len(lower) != len(chain)-1 {
			return dirs // not the chain we know: name only the upper
		}
		for i, l := range lower {
			add(l, chain[i+1])
		}
	}
	return dedupDirs(dirs)
}

// snapshotDir is the snapshot's directory of one of its mount's layers:
// the parent of its fs/ or work/ directory.
func snapshotDir(layer string) string {
	if !filepath.IsAbs(layer) {
		return ""
	}
	layer = filepath.Clean(layer)
	switch filepath.Base(layer) {
	case "fs", "work":
		return filepath.Dir(layer)
	}
	return layer
}

// dedupDirs drops the repeats of a directory (upperdir and workdir name
// the same snapshot's).
func dedupDirs(dirs []SnapshotDir) []SnapshotDir {
	out := dirs[:0]
	seen := map[string]bool{}
	for _, d := range dirs {
		if !seen[d.Dir] {
			seen[d.Dir] = true
			out = append(out, d)
		}
	}
	return out
}

// SnapshotAt returns the snapshot whose host directory holds path (a host
// path: the directory itself or anything under it), of any container
// ctrace knows, with its deleted ones in their grace time: a snapshot's
// own directory, or the task bundle's rootfs where the shim mounts the
// container's snapshot (runc init prepares the rootfs there before it
// pivots); nil when path lies in none. A snapshot shared by several containers (an image's
// layer) is named as the container first in (namespace, id) order names
// it, so that the answer does not change from one event to the next.
func (r *Resolver) SnapshotAt(path string) *tracer.Snapshot {
	if r == nil || !filepath.IsAbs(path) {
		return nil
	}
	path = filepath.Clean(path)
	r.mu.Lock()
	defer r.mu.Unlock()
	var (
		best    *tracer.Snapshot
		bestKey key
	)
	for k, e := range r.byKey {
		if best != nil && (k.ns > bestKey.ns || k.ns == bestKey.ns && k.id > bestKey.id) {
			continue
		}
		if r := e.c.Rootfs; r != "" && e.c.Snapshot != nil && within(path, r) {
			best, bestKey = e.c.Snapshot, k
			continue
		}
		for _, d := range e.c.SnapshotDirs {
			if within(path, d.Dir) {
				best, bestKey = d.Snapshot, k
				break
			}
		}
	}
	return best
}

// within reports whether path is dir or lies under it (both clean).
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}
