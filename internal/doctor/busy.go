package doctor

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ctrace-dev/ctrace/correlate"
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

// mountEntry is one line of /proc/PID/mountinfo, the fields doctor needs.
type mountEntry struct {
	root, point, fstype string
	// shared and master are the peer groups of its propagation (0 for
	// none).
	shared, master int
}

// readMountinfo parses the nsfs mounts of a mountinfo file.
func readMountinfo(p string) []mountEntry {
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root point options [optional...] - fstype source super
		fs := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(fs); i++ {
			if fs[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(fs) || fs[sep+1] != "nsfs" {
			continue
		}
		m := mountEntry{root: fs[3], point: unescapeMount(fs[4]), fstype: fs[sep+1]}
		for _, o := range fs[6:sep] {
			if v, ok := strings.CutPrefix(o, "shared:"); ok {
				m.shared, _ = strconv.Atoi(v)
			} else if v, ok := strings.CutPrefix(o, "master:"); ok {
				m.master, _ = strconv.Atoi(v)
			}
		}
		out = append(out, m)
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
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

// nsFile is a namespace file busy checks look for: its path on the node
// and, when a namespace is mounted on it there, the namespace's inode and
// the peer group of that mount.
type nsFile struct {
	path   string
	ino    uint64
	shared int
}

// busyNetNS finds the namespace files whose mount is held in mount
// namespaces other than the node's, by copies that an unmount on the node
// does not take along: a mount namespace made private (unshare -m,
// a container with private propagation of /run) keeps a copy of every
// mount it saw, which keeps the namespace alive and the file a mount
// point after the node unmounted it (containerd#6143: unlinkat ... device
// or resource busy). Copies that are slaves or peers of the node's mount
// go when it goes, and are not reported.
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
	if !ok {
		return nil
	}
	nodeMounts := readMountinfo(filepath.Join(in.Proc, refPID, "mountinfo"))
	var wanted []nsFile
	for _, p := range files {
		f := nsFile{path: netnsPathInNode(in.Root, p)}
		for _, m := range nodeMounts {
			if m.point == f.path {
				f.shared = m.shared
				f.ino = nsfsInode(m.root)
			}
		}
		wanted = append(wanted, f)
	}
	if len(wanted) == 0 {
		return nil
	}
	// Each other mount namespace once, with every process in it.
	type mntNS struct {
		pids  []int
		comms []string
	}
	others := map[uint64]*mntNS{}
	var order []uint64
	ents, _ := os.ReadDir(in.Proc)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ns, ok := inode(filepath.Join(in.Proc, e.Name(), "ns", "mnt"))
		if !ok || ns == nodeNS {
			continue
		}
		m := others[ns]
		if m == nil {
			m = &mntNS{}
			others[ns] = m
			order = append(order, ns)
		}
		comm, _ := os.ReadFile(filepath.Join(in.Proc, e.Name(), "comm"))
		m.pids = append(m.pids, pid)
		m.comms = append(m.comms, strings.TrimSpace(string(comm)))
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
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
	for _, ns := range order {
		m := others[ns]
		var mounts []mountEntry
		for _, pid := range m.pids {
			// A process may exit between the listing and here: the
			// next one of its namespace reads the same table.
			if mounts = readMountinfo(filepath.Join(in.Proc, strconv.Itoa(pid), "mountinfo")); mounts != nil {
				break
			}
		}
		for _, f := range wanted {
			for _, mt := range mounts {
				same := (f.ino != 0 && nsfsInode(mt.root) == f.ino) || (f.ino == 0 && mt.point == f.path)
				linked := f.shared != 0 && (mt.master == f.shared || mt.shared == f.shared)
				if !same || linked {
					continue
				}
				h := Holder{MountNS: ns, PIDs: m.pids, Comms: m.comms}
				if c := containerOf[ns]; c != nil {
					h.Container = ref(c)
				}
				holders[f.path] = append(holders[f.path], h)
				break
			}
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
		if wanted[i].ino == 0 {
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

// nsfsInode reads the inode of an nsfs mount's root, "net:[4026532301]".
func nsfsInode(root string) uint64 {
	s, ok := strings.CutPrefix(root, "net:[")
	if !ok || !strings.HasSuffix(s, "]") {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64)
	return n
}

// netnsPathInNode is a netns file's path as the node's mountinfo spells
// it: with the links of its directory resolved (/var/run -> /run).
func netnsPathInNode(rootDir, p string) string {
	return netns.Canonical(rootDir, p)
}
