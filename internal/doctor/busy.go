package doctor

import (
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/mountref"
	"github.com/ctrace-dev/ctrace/internal/netns"
)

// busyConfirm is how long a mount namespace holding a copy must last to
// count.
const busyConfirm = 100 * time.Millisecond

// Holder is a mount namespace other than the node's that holds a copy of
// a network namespace file's mount: its processes and, when one of them
// is a container's task, the container.
type Holder struct {
	MountNS   uint64
	PIDs      []int
	Comms     []string
	Container *Container
}

// nsFile is a namespace file busy checks look for: its path on the node
// and, when a namespace is mounted on it there, that mount.
type nsFile struct {
	path    string
	mount   mountref.Mount
	mounted bool
}

// busyNetNS finds the namespace files whose mount is held in mount
// namespaces other than the node's, by copies that an unmount on the node
// does not take along: a mount namespace made private (unshare -m,
// a container with private propagation of /run) keeps a copy of every
// mount it saw, which keeps the namespace alive and the file a mount
// point after the node unmounted it (containerd#6143: unlinkat ... device
// or resource busy). Copies under a mount that receives propagation from
// the parent of the node's mount (a peer or slave of /run/netns) go when
// it goes, and are not reported: the kernel propagates an unmount through
// the parent's peers and slaves (mountref.Tables.Copies).
//
// Files that a container with a live task names are not checked: the
// container uses the namespace, and its teardown unmounts and removes the
// file, which detaches the copies in every mount namespace (the kernel has
// done so on unlink since 3.18). A copy matters once the node's own mount
// is gone or nothing uses the namespace: then it alone keeps the namespace
// and what is in it alive. Mount namespaces that end within a moment (a
// tool's private namespace of a few milliseconds) hold nothing: a holder
// is confirmed by a second look.
func busyNetNS(in Input, files []string, live []*correlate.Container) []Finding {
	inUse := map[string]bool{}
	for _, c := range live {
		if c.NetNS != "" && taskAlive(c) {
			inUse[netns.Canonical(in.Root, c.NetNS)] = true
		}
	}
	var check []string
	for _, p := range files {
		if !inUse[netns.Canonical(in.Root, p)] {
			check = append(check, p)
		}
	}
	files = check
	// The node's mount namespace: doctor's own on the node (where it
	// classified the files), init's from a container with the node's
	// root elsewhere.
	refPID := "self"
	if in.Root != "" && in.Root != "/" {
		refPID = "1"
	}
	nodeNS, ok := inode(filepath.Join(in.Proc, refPID, "ns", "mnt"))
	if !ok || len(files) == 0 {
		return nil
	}
	tables, err := mountref.ReadTables(in.Proc)
	if err != nil {
		return nil
	}
	var wanted []nsFile
	for _, p := range files {
		f := nsFile{path: netnsPathInNode(in.Root, p)}
		// The last mount on a point is the one on top, which the file
		// shows.
		for _, m := range tables.Mounts[nodeNS] {
			if m.FSType == "nsfs" && m.Point == f.path {
				f.mount, f.mounted = m, true
			}
		}
		wanted = append(wanted, f)
	}
	containerOf := map[uint64]*correlate.Container{}
	for _, c := range live {
		if c.TaskPID == 0 {
			continue
		}
		if ns, ok := inode(filepath.Join(in.Proc, strconv.FormatUint(uint64(c.TaskPID), 10), "ns", "mnt")); ok {
			containerOf[ns] = c
		}
	}
	holders := map[string][]Holder{}
	for _, f := range wanted {
		seen := map[uint64]bool{}
		for _, ns := range heldIn(tables, nodeNS, f) {
			if seen[ns.Inode] {
				continue
			}
			seen[ns.Inode] = true
			h := Holder{MountNS: ns.Inode}
			for _, p := range ns.Procs {
				h.PIDs = append(h.PIDs, p.PID)
				h.Comms = append(h.Comms, p.Comm)
			}
			if c := containerOf[ns.Inode]; c != nil {
				h.Container = ref(c)
			}
			holders[f.path] = append(holders[f.path], h)
		}
	}
	if len(holders) > 0 {
		time.Sleep(busyConfirm)
		for p, hs := range holders {
			var kept []Holder
			for _, h := range hs {
				for _, pid := range h.PIDs {
					if ns, ok := inode(filepath.Join(in.Proc, strconv.Itoa(pid), "ns", "mnt")); ok && ns == h.MountNS {
						kept = append(kept, h)
						break
					}
				}
			}
			holders[p] = kept
		}
	}
	var out []Finding
	for i, p := range files {
		hs := holders[wanted[i].path]
		if len(hs) == 0 {
			continue
		}
		var who []string
		for _, h := range hs {
			who = append(who, describeHolder(h))
		}
		what := "the namespace mounted on it"
		if !wanted[i].mounted {
			what = "a namespace that is no longer mounted on it here"
		}
		out = append(out, Finding{Kind: NetNSBusy, Path: p, Holders: hs,
			Detail: p + " holds " + what + ", and a copy of that mount lives on in " + strconv.Itoa(len(hs)) +
				" other mount namespace(s), which unmounting it here does not reach: " + strings.Join(who, "; "),
			Action: "unmount the copy where it is held (nsenter -t " + strconv.Itoa(hs[0].PIDs[0]) + " -m umount " + p +
				"), or restart what holds it; until then the namespace stays alive with what is in it (its interfaces, their addresses and veth peers)"})
	}
	return out
}

// describeHolder names a holder's processes (the first few) and its
// container.
func describeHolder(h Holder) string {
	var ps []string
	for i, pid := range h.PIDs {
		if i == 3 {
			ps = append(ps, "and "+strconv.Itoa(len(h.PIDs)-3)+" more")
			break
		}
		ps = append(ps, strconv.Itoa(pid)+" ("+h.Comms[i]+")")
	}
	s := "mnt:[" + strconv.FormatUint(h.MountNS, 10) + "] of pid " + strings.Join(ps, ", ")
	if c := h.Container; c != nil {
		s += ", container " + c.Namespace + "/" + c.ID
		if c.Pod != "" {
			s += " (pod " + c.PodNamespace + "/" + c.Pod + ")"
		}
	}
	return s
}

// netnsPathInNode is a netns file's path as the node's mountinfo spells
// it: with the links of its directory resolved (/var/run -> /run).
func netnsPathInNode(rootDir, p string) string {
	return netns.Canonical(rootDir, p)
}

// heldIn returns the mount namespaces other than the node's that hold a
// copy of f's namespace which an unmount on the node does not reach, in
// the order of their inodes. While the node has the namespace mounted on
// f, those are its copies that are not Propagated; once it has not, any
// nsfs mount at the same point elsewhere is such a copy, as nothing on the
// node is left to propagate an unmount from.
func heldIn(t *mountref.Tables, nodeNS uint64, f nsFile) []*mountref.Namespace {
	var out []*mountref.Namespace
	if f.mounted {
		for _, c := range t.Copies(f.mount) {
			if !c.Propagated && c.NS.Inode != nodeNS {
				out = append(out, c.NS)
			}
		}
		return out
	}
	for _, ns := range t.NS {
		if ns.Inode == nodeNS {
			continue
		}
		for _, m := range t.Mounts[ns.Inode] {
			if m.FSType == "nsfs" && m.Point == f.path {
				out = append(out, ns)
				break
			}
		}
	}
	return out
}
