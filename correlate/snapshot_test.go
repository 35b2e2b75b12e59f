package correlate

import (
	"reflect"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"

	"github.com/ctrace-dev/ctrace/tracer"
)

// The mounts are the overlayfs snapshotter's shapes (containerd 1.6 and
// 2.x): bind of its own fs without parents, read-only bind of the parent
// for a view of one, overlay otherwise.
func TestLayerDirs(t *testing.T) {
	const root = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots"
	self := &tracer.Snapshot{Key: "ctr-1", Kind: "active"}
	p1 := &tracer.Snapshot{Key: "sha256:aaa", Kind: "committed"}
	p2 := &tracer.Snapshot{Key: "sha256:bbb", Kind: "committed"}
	for _, tt := range []struct {
		name   string
		mounts []mount.Mount
		kind   snapshots.Kind
		chain  []*tracer.Snapshot
		want   map[string]*tracer.Snapshot
	}{
		{"active without parents", []mount.Mount{{Type: "bind", Source: root + "/7/fs", Options: []string{"rw", "rbind"}}},
			snapshots.KindActive, []*tracer.Snapshot{self}, map[string]*tracer.Snapshot{root + "/7": self}},
		{"view of one parent", []mount.Mount{{Type: "bind", Source: root + "/3/fs", Options: []string{"ro", "rbind"}}},
			snapshots.KindView, []*tracer.Snapshot{self, p1}, map[string]*tracer.Snapshot{root + "/3": p1}},
		{"active over two layers", []mount.Mount{{Type: "overlay", Source: "overlay", Options: []string{"index=off",
			"workdir=" + root + "/9/work", "upperdir=" + root + "/9/fs", "lowerdir=" + root + "/5/fs:" + root + "/2/fs"}}},
			snapshots.KindActive, []*tracer.Snapshot{self, p1, p2},
			map[string]*tracer.Snapshot{root + "/9": self, root + "/5": p1, root + "/2": p2}},
		{"view of two layers", []mount.Mount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=" + root + "/5/fs:" + root + "/2/fs"}}},
			snapshots.KindView, []*tracer.Snapshot{self, p1, p2}, map[string]*tracer.Snapshot{root + "/5": p1, root + "/2": p2}},
		// The lowerdirs do not match the parents: only the upper is
		// named, never a layer for a snapshot it might not be.
		{"lowerdirs not the chain", []mount.Mount{{Type: "overlay", Options: []string{"upperdir=" + root + "/9/fs", "lowerdir=" + root + "/5/fs"}}},
			snapshots.KindActive, []*tracer.Snapshot{self, p1, p2}, map[string]*tracer.Snapshot{root + "/9": self}},
		{"another snapshotter's shape", []mount.Mount{{Type: "zfs", Source: "pool/7"}}, snapshots.KindActive, []*tracer.Snapshot{self}, nil},
		{"two mounts", []mount.Mount{{Type: "bind", Source: root + "/1/fs"}, {Type: "bind", Source: root + "/2/fs"}}, snapshots.KindActive, []*tracer.Snapshot{self}, nil},
		{"relative source", []mount.Mount{{Type: "bind", Source: "7/fs"}}, snapshots.KindActive, []*tracer.Snapshot{self}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := layerDirs(tt.mounts, tt.kind, tt.chain)
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %v", got, tt.want)
			}
			for _, d := range got {
				if tt.want[d.Dir] != d.Snapshot {
					t.Errorf("%s: got %+v, want %+v", d.Dir, d.Snapshot, tt.want[d.Dir])
				}
			}
		})
	}
}

func TestSnapshotAt(t *testing.T) {
	a := &tracer.Snapshot{Key: "a"}
	b := &tracer.Snapshot{Key: "b"}
	c := &tracer.Snapshot{Key: "z", Kind: "active", Container: "z"}
	shared := &tracer.Snapshot{Key: "layer", Image: "img-of-x"}
	r := &Resolver{byKey: map[key]*entry{
		{"default", "x"}: {c: Container{SnapshotDirs: []SnapshotDir{{"/s/1", a}, {"/s/3", shared}}}},
		{"default", "y"}: {c: Container{SnapshotDirs: []SnapshotDir{{"/s/2", b}, {"/s/3", &tracer.Snapshot{Key: "layer", Image: "img-of-y"}}}}},
		{"k8s.io", "z"}:  {c: Container{Snapshot: c, Rootfs: "/run/containerd/io.containerd.runtime.v2.task/k8s.io/z/rootfs"}},
	}}
	for _, tt := range []struct {
		path string
		want *tracer.Snapshot
	}{
		{"/s/1", a},
		{"/s/1/fs/etc/passwd", a},
		{"/s/1/../2/fs", b},
		{"/s/10/fs", nil}, // a prefix of the name is not the directory
		{"/s", nil},
		{"s/1", nil},
		{"/s/3/fs", shared}, // the first container in (namespace, id) order
		// The task bundle's rootfs is the container's snapshot, mounted.
		{"/run/containerd/io.containerd.runtime.v2.task/k8s.io/z/rootfs/etc", c},
		{"/run/containerd/io.containerd.runtime.v2.task/k8s.io/z", nil},
	} {
		if got := r.SnapshotAt(tt.path); got != tt.want {
			t.Errorf("SnapshotAt(%q) = %+v, want %+v", tt.path, got, tt.want)
		}
	}
	var none *Resolver
	if none.SnapshotAt("/s/1") != nil {
		t.Error("a nil resolver names a snapshot")
	}
}

// A container's rootfs is found in a mount table by its snapshot's
// directory as upperdir, wherever it is mounted; another container's
// overlay, or an overlay with the snapshot as a lower layer, is not it.
func TestRootfsMounts(t *testing.T) {
	const root = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots"
	self := &tracer.Snapshot{Snapshotter: "overlayfs", Key: "default/9/web", Kind: "active"}
	layer := &tracer.Snapshot{Snapshotter: "overlayfs", Key: "sha256:aaa", Kind: "committed"}
	c := &Container{ID: "web", Snapshot: self, SnapshotDirs: []SnapshotDir{{root + "/9", self}, {root + "/5", layer}}}
	table := "" +
		"29 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n" +
		"812 29 0:123 / /run/containerd/io.containerd.runtime.v2.task/default/web/rootfs rw,relatime shared:400 - overlay overlay " +
		"rw,lowerdir=" + root + "/5/fs,upperdir=" + root + "/9/fs,workdir=" + root + "/9/work,index=off\n" +
		// runc's bind of the rootfs onto itself, in runc init's table.
		"813 812 0:123 / /run/containerd/io.containerd.runtime.v2.task/default/web/rootfs rw,relatime - overlay overlay " +
		"rw,lowerdir=" + root + "/5/fs,upperdir=" + root + "/9/fs,workdir=" + root + "/9/work,index=off\n" +
		"820 29 0:130 / /run/containerd/io.containerd.runtime.v2.task/default/db/rootfs rw,relatime - overlay overlay " +
		"rw,lowerdir=" + root + "/9/fs,upperdir=" + root + "/11/fs,workdir=" + root + "/11/work\n" +
		// An escaped mount point and upper directory (a space, a comma).
		"830 29 0:131 / /srv/a\\040b rw - overlay overlay rw,lowerdir=/l,upperdir=/x\\054y/fs,workdir=/x\\054y/work\n"
	got := c.RootfsMounts([]byte(table))
	layers := RootfsMount{Upper: root + "/9/fs"}
	want := []RootfsMount{layers, layers}
	want[0].ID, want[1].ID = 812, 813
	want[0].Point = "/run/containerd/io.containerd.runtime.v2.task/default/web/rootfs"
	want[1].Point = want[0].Point
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RootfsMounts = %+v, want %+v", got, want)
	}
	esc := &Container{Snapshot: self, SnapshotDirs: []SnapshotDir{{"/x,y", self}}}
	if got := esc.RootfsMounts([]byte(table)); len(got) != 1 || got[0].Point != "/srv/a b" {
		t.Errorf("escaped: %+v", got)
	}
	for _, c := range []*Container{nil, {ID: "no snapshot"}, {Snapshot: self}} {
		if got := c.RootfsMounts([]byte(table)); got != nil {
			t.Errorf("%+v: %+v, want none", c, got)
		}
	}
}
