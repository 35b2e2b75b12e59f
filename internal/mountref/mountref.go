// Package mountref answers who holds a mount: the processes whose working
// directory, root, open files or mappings are on it, and the mount
// namespaces that hold a copy of it. It is what an umount that fails with
// EBUSY, the removal of a mount point, and `ctrace doctor`'s busy network
// namespace files all ask.
//
// Everything is read from /proc: mountinfo for the mounts of each mount
// namespace and their propagation groups, and statx(2)'s STATX_MNT_ID
// (5.8) on /proc/PID/{cwd,root,fd/N,map_files/...} for the mount each
// reference is on. Mount ids are the kernel's, one numbering for every
// namespace, so a reference to a copy is told from one to the original
// without resolving any path.
package mountref

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one line of a mountinfo file.
type Mount struct {
	ID, Parent int
	Dev        string // major:minor
	// Root is the path of the mount's root within its file system;
	// an nsfs mount's is the namespace ("net:[4026532301]").
	Root string
	// Point is where it is mounted, as the namespace's processes (with
	// the reader's root) see it.
	Point  string
	FSType string
	Source string
	// Shared is the peer group the mount is in, Master the one it is a
	// slave of; 0 for none.
	Shared, Master int
}

// ParseMountinfo reads a mountinfo file (proc(5)).
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
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
		if sep < 0 || sep+2 >= len(fs) {
			continue
		}
		m := Mount{Dev: fs[2], Root: unescape(fs[3]), Point: unescape(fs[4]), FSType: fs[sep+1], Source: unescape(fs[sep+2])}
		m.ID, _ = strconv.Atoi(fs[0])
		m.Parent, _ = strconv.Atoi(fs[1])
		for _, o := range fs[6:sep] {
			if v, ok := strings.CutPrefix(o, "shared:"); ok {
				m.Shared, _ = strconv.Atoi(v)
			} else if v, ok := strings.CutPrefix(o, "master:"); ok {
				m.Master, _ = strconv.Atoi(v)
			}
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mountinfo: %w", err)
	}
	return out, nil
}

// ReadMountinfo reads the mountinfo file at path (/proc/PID/mountinfo).
func ReadMountinfo(path string) ([]Mount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ms, err := ParseMountinfo(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ms, nil
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
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

// NSInode returns the namespace an nsfs mount's root names
// ("net:[4026532301]" is 4026532301), 0 for other roots.
func NSInode(root string) uint64 {
	i := strings.Index(root, ":[")
	if i < 0 || !strings.HasSuffix(root, "]") {
		return 0
	}
	n, _ := strconv.ParseUint(root[i+2:len(root)-1], 10, 64)
	return n
}

// Process is a process by its pid and name.
type Process struct {
	PID  int
	Comm string
}

// Namespace is a mount namespace and the processes in it.
type Namespace struct {
	Inode uint64
	Procs []Process
}

// Namespaces lists every mount namespace that a process under proc is
// in, once each, by inode, with its processes by pid.
func Namespaces(proc string) ([]*Namespace, error) {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil, fmt.Errorf("mount namespaces: %w", err)
	}
	byIno := map[uint64]*Namespace{}
	var out []*Namespace
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		// A process that exits while it is listed is left out.
		if unix.Stat(filepath.Join(proc, e.Name(), "ns", "mnt"), &st) != nil {
			continue
		}
		ns := byIno[st.Ino]
		if ns == nil {
			ns = &Namespace{Inode: st.Ino}
			byIno[st.Ino] = ns
			out = append(out, ns)
		}
		ns.Procs = append(ns.Procs, Process{PID: pid, Comm: comm(proc, pid)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Inode < out[j].Inode })
	return out, nil
}

func comm(proc string, pid int) string {
	b, _ := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "comm"))
	return strings.TrimSuffix(string(b), "\n")
}

// Mounts reads a namespace's mount table through the first of its
// processes still there.
func (ns *Namespace) Mounts(proc string) ([]Mount, error) {
	err := fmt.Errorf("mnt:[%d]: no process left in it", ns.Inode)
	for _, p := range ns.Procs {
		var ms []Mount
		if ms, err = ReadMountinfo(filepath.Join(proc, strconv.Itoa(p.PID), "mountinfo")); err == nil {
			return ms, nil
		}
	}
	return nil, err
}

// ID returns the id of the mount that path is on (statx's STATX_MNT_ID),
// following a final symlink, as the magic links of /proc/PID do, unless
// nofollow.
func ID(dirfd int, path string, nofollow bool) (int, error) {
	flags := unix.AT_STATX_DONT_SYNC
	if nofollow {
		flags |= unix.AT_SYMLINK_NOFOLLOW
	}
	if path == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	var st unix.Statx_t
	if err := unix.Statx(dirfd, path, flags, unix.STATX_MNT_ID, &st); err != nil {
		return 0, fmt.Errorf("statx %s: %w", path, err)
	}
	if st.Mask&unix.STATX_MNT_ID == 0 {
		return 0, fmt.Errorf("statx %s: the kernel gives no mount id (5.8 or newer does)", path)
	}
	return int(st.Mnt_id), nil
}
