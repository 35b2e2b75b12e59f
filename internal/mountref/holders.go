package mountref

import (
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Tables are the mount tables of every mount namespace on the node, read
// once.
type Tables struct {
	NS     []*Namespace
	Mounts map[uint64][]Mount // by namespace inode
}

// ReadTables reads the mount table of every namespace under proc. A
// namespace whose processes all exit while it is read is left out.
func ReadTables(proc string) (*Tables, error) {
	nss, err := Namespaces(proc)
	if err != nil {
		return nil, err
	}
	t := &Tables{Mounts: map[uint64][]Mount{}}
	for _, ns := range nss {
		ms, err := ns.Mounts(proc)
		if err != nil {
			continue
		}
		t.NS = append(t.NS, ns)
		t.Mounts[ns.Inode] = ms
	}
	return t, nil
}

// Namespace returns the namespace of that inode, nil when none was read.
func (t *Tables) Namespace(ino uint64) *Namespace {
	for _, ns := range t.NS {
		if ns.Inode == ino {
			return ns
		}
	}
	return nil
}

// Find returns the mount with that id and its namespace.
func (t *Tables) Find(id int) (Mount, *Namespace, bool) {
	for _, ns := range t.NS {
		for _, m := range t.Mounts[ns.Inode] {
			if m.ID == id {
				return m, ns, true
			}
		}
	}
	return Mount{}, nil, false
}

// Children returns the mounts on m, in its namespace: an unmount without
// MNT_DETACH fails while there are any.
func (t *Tables) Children(m Mount) []Mount {
	var out []Mount
	for _, ns := range t.NS {
		for _, c := range t.Mounts[ns.Inode] {
			if c.Parent == m.ID && c.ID != m.ID {
				out = append(out, c)
			}
		}
	}
	return out
}

// Copy is another mount of a mount's file system subtree.
type Copy struct {
	NS    *Namespace
	Mount Mount
	// Propagated: unmounting the original unmounts this one too, and
	// fails while this one is busy.
	Propagated bool
}

// Copies returns every other mount of m's file system subtree (the same
// device and root), in any namespace: the copies a namespace made of m
// when it was created, those propagation made, and binds of m. A copy is
// Propagated when its parent receives propagation from m's parent: an
// unmount propagates through the parent's peers and slaves (fs/pnode.c),
// not through m's own group, so a copy in a private or unrelated tree
// outlives the unmount of m and keeps what is mounted alive (an nsfs
// copy keeps its network namespace).
func (t *Tables) Copies(m Mount) []Copy {
	groups := t.receivers(m)
	var out []Copy
	for _, ns := range t.NS {
		ms := t.Mounts[ns.Inode]
		for _, c := range ms {
			if c.ID == m.ID || c.Dev != m.Dev || c.Root != m.Root {
				continue
			}
			cp := Copy{NS: ns, Mount: c}
			for _, p := range ms {
				if p.ID == c.Parent {
					cp.Propagated = p.ID != c.ID && (groups[p.Shared] || groups[p.Master])
					break
				}
			}
			out = append(out, cp)
		}
	}
	return out
}

// receivers returns the peer groups an unmount of m propagates to: its
// parent's group and, transitively, the groups of the shared slaves of
// those groups. It is empty when the parent is not shared.
func (t *Tables) receivers(m Mount) map[int]bool {
	groups := map[int]bool{}
	parent, _, ok := t.Find(m.Parent)
	if !ok || parent.Shared == 0 {
		return groups
	}
	groups[parent.Shared] = true
	for grew := true; grew; {
		grew = false
		for _, ms := range t.Mounts {
			for _, x := range ms {
				if x.Master != 0 && x.Shared != 0 && groups[x.Master] && !groups[x.Shared] {
					groups[x.Shared] = true
					grew = true
				}
			}
		}
	}
	delete(groups, 0)
	return groups
}

// Holder is a process that holds a mount: its working directory or root
// is on it, or a file it has open or mapped.
type Holder struct {
	Process
	MountNS uint64
	MountID int
	// How: "cwd", "root", "fd N", "mapping".
	How string
	// Path is the reference as the holder sees it (the link's target).
	Path string
}

// Holders returns the processes under proc that hold any of the mounts
// ids names, one reference each, at most limit of them, and how many more
// there were. A process that exits while it is looked at is left out.
func Holders(proc string, ids map[int]bool, limit int) ([]Holder, int) {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil, 0
	}
	var out []Holder
	more := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		h, ok := holds(filepath.Join(proc, e.Name()), ids)
		if !ok {
			continue
		}
		if len(out) == limit {
			more++
			continue
		}
		h.PID, h.Comm = pid, comm(proc, pid)
		var st unix.Stat_t
		if unix.Stat(filepath.Join(proc, e.Name(), "ns", "mnt"), &st) == nil {
			h.MountNS = st.Ino
		}
		out = append(out, h)
	}
	return out, more
}

// holds looks at one process's references, cheapest first.
func holds(dir string, ids map[int]bool) (Holder, bool) {
	check := func(link, how string) (Holder, bool) {
		id, err := ID(unix.AT_FDCWD, link, false)
		if err != nil || !ids[id] {
			return Holder{}, false
		}
		p, _ := os.Readlink(link)
		return Holder{MountID: id, How: how, Path: p}, true
	}
	for _, l := range [...]string{"cwd", "root"} {
		if h, ok := check(filepath.Join(dir, l), l); ok {
			return h, true
		}
	}
	fds, _ := os.ReadDir(filepath.Join(dir, "fd"))
	for _, fd := range fds {
		if h, ok := check(filepath.Join(dir, "fd", fd.Name()), "fd "+fd.Name()); ok {
			return h, true
		}
	}
	// map_files names each mapped file once per mapping; it needs
	// CAP_SYS_ADMIN, which ctrace has.
	maps, _ := os.ReadDir(filepath.Join(dir, "map_files"))
	for _, m := range maps {
		if h, ok := check(filepath.Join(dir, "map_files", m.Name()), "mapping"); ok {
			return h, true
		}
	}
	return Holder{}, false
}
