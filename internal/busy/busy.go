// Package busy says who holds a mount that an unmount or a removal found
// busy: umount2 failing with EBUSY, and rmdir, unlink or unlinkat of a
// mount point (a network namespace file that CNI's cleanup could not
// unmount: containerd#6143). The answer comes from package mountref,
// looked up after the call, when the event is read: a holder gone by then
// is not named, and a failure with no holder left gets no reason.
package busy

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/mountref"
	"github.com/ctrace-dev/ctrace/tracer"
)

// Limit bounds the processes and copies a reason names: enough to act on,
// short enough for one line.
const Limit = 8

// Finder adds a Reason to calls that failed with EBUSY on a mount.
type Finder struct {
	// Proc is the node's /proc.
	Proc string
	// Containers lists the containers ctrace knows (correlate's cache),
	// to name a holder's; nil names none.
	Containers func() []*correlate.Container
}

// Applies reports whether ev is a failure Diagnose looks at.
func Applies(ev *tracer.Event) bool {
	if ev.Errno != unix.EBUSY {
		return false
	}
	switch ev.Syscall {
	case "umount2", "rmdir", "unlink", "unlinkat":
		return true
	}
	return false
}

// Diagnose appends a Reason to ev, or says in ev.NoReason why it could
// not.
func (f *Finder) Diagnose(ev *tracer.Event) {
	if !Applies(ev) {
		return
	}
	r, err := f.find(ev)
	if err != nil {
		ev.NoReason = "busy: " + err.Error()
		return
	}
	ev.Reasons = append(ev.Reasons, r)
}

func (f *Finder) find(ev *tracer.Event) (*Reason, error) {
	proc := f.Proc
	if proc == "" {
		proc = "/proc"
	}
	path, flags := arg(ev, "path"), uint64(0)
	if ev.Syscall == "umount2" {
		path, flags = arg(ev, "target"), argRaw(ev, "flags")
	}
	if path == "" {
		return nil, errors.New("the call's path was not read")
	}
	tables, err := mountref.ReadTables(proc)
	if err != nil {
		return nil, err
	}
	view, err := callerView(proc, ev, tables)
	if err != nil {
		return nil, err
	}
	abs := path
	if !strings.HasPrefix(path, "/") {
		dir, ok := dirOf(ev, proc, view)
		if !ok {
			return nil, fmt.Errorf("%s is relative, and the caller's directory is not known after the call", path)
		}
		abs = filepath.Join(dir, path)
	}
	root, err := unix.Open(filepath.Join(proc, strconv.Itoa(view), "root"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("the caller's root: %w", err)
	}
	defer unix.Close(root)

	r := &Reason{Path: path, Removing: ev.Syscall != "umount2"}
	var id int
	if r.Removing {
		id, err = mountOn(root, abs, tables)
	} else {
		id, err = mountAt(root, abs, flags&unix.UMOUNT_NOFOLLOW != 0)
	}
	if err != nil {
		return nil, err
	}
	m, _, ok := tables.Find(id)
	if !ok {
		return nil, fmt.Errorf("mount %d on %s is in no mount table read after the call", id, abs)
	}
	r.Mount = m
	// What keeps an unmount of m from succeeding: processes on m or on a
	// copy the unmount reaches, and mounts on m.
	ids := map[int]bool{m.ID: true}
	for _, c := range tables.Copies(m) {
		if c.Propagated {
			ids[c.Mount.ID] = true
		} else if r.Removing {
			// Copies an unmount here does not reach keep what is
			// mounted alive (a network namespace) after it.
			r.Copies = append(r.Copies, copyOf(c))
		}
	}
	for _, c := range tables.Children(m) {
		r.Submounts = append(r.Submounts, c.Point)
	}
	hs, more := mountref.Holders(proc, ids, Limit)
	r.More = more
	for _, h := range hs {
		hd := Holder{Holder: h, Copy: h.MountID != m.ID}
		if hd.Copy {
			c, _, _ := tables.Find(h.MountID)
			hd.Point = c.Point
		}
		r.Holders = append(r.Holders, hd)
	}
	if len(r.Copies) > Limit {
		r.More += len(r.Copies) - Limit
		r.Copies = r.Copies[:Limit]
	}
	if !r.Removing && len(r.Holders) == 0 && len(r.Submounts) == 0 {
		return nil, fmt.Errorf("after the call, nothing held %s (mount %d): no process had its directory, root, an open file "+
			"or a mapping on it or on a copy an unmount reaches, and nothing was mounted on it; what held it let go in between", abs, m.ID)
	}
	f.nameContainers(proc, r)
	return r, nil
}

// callerView returns a pid whose root and mount namespace are the
// caller's: the caller itself while it runs, else another process in its
// mount namespace (whose root is most likely the same).
func callerView(proc string, ev *tracer.Event, t *mountref.Tables) (int, error) {
	pid := int(ev.Proc.PID)
	var st unix.Stat_t
	if unix.Stat(filepath.Join(proc, strconv.Itoa(pid), "ns", "mnt"), &st) == nil && uint32(st.Ino) == ev.Proc.MntNS {
		return pid, nil
	}
	for _, ns := range t.NS {
		if uint32(ns.Inode) == ev.Proc.MntNS && len(ns.Procs) > 0 {
			return ns.Procs[0].PID, nil
		}
	}
	return 0, fmt.Errorf("the caller exited, and no process is left in its mount namespace mnt:[%d] to look through", ev.Proc.MntNS)
}

// dirOf is the directory a relative path was resolved from: the dirfd's
// file, as the kernel named it at the call, or the caller's working
// directory now.
func dirOf(ev *tracer.Event, proc string, view int) (string, bool) {
	for i := range ev.Args {
		a := &ev.Args[i]
		if a.Name == "dirfd" && !a.IsATFDCWD() {
			return a.Str, strings.HasPrefix(a.Str, "/")
		}
	}
	if view != int(ev.Proc.PID) {
		return "", false
	}
	s, err := readlink(filepath.Join(proc, strconv.Itoa(view), "cwd"))
	return s, err == nil
}

func readlink(p string) (string, error) {
	b := make([]byte, unix.PathMax)
	n, err := unix.Readlink(p, b)
	if err != nil {
		return "", err
	}
	return string(b[:n]), nil
}

// mountAt returns the mount an umount2 of abs names: the one on top at
// abs, in the caller's root.
func mountAt(root int, abs string, nofollow bool) (int, error) {
	flags := uint64(unix.O_PATH | unix.O_CLOEXEC)
	if nofollow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Openat2(root, abs, &unix.OpenHow{Flags: flags, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return 0, fmt.Errorf("%s after the call: %w", abs, err)
	}
	defer unix.Close(fd)
	return mountref.ID(fd, "", true)
}

// mountOn returns the mount on abs, the mount point a removal found
// busy: the lowest one mounted there, in the caller's root.
func mountOn(root int, abs string, t *mountref.Tables) (int, error) {
	dir, name := filepath.Split(abs)
	fd, err := unix.Openat2(root, dir, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return 0, fmt.Errorf("%s after the call: %w", dir, err)
	}
	defer unix.Close(fd)
	dirID, err := mountref.ID(fd, "", true)
	if err != nil {
		return 0, err
	}
	// The lookup of name crosses what is mounted on it, whatever the
	// symlink flag: a mount point's id differs from its directory's.
	top, err := mountref.ID(fd, name, true)
	if err != nil {
		return 0, err
	}
	if top == dirID {
		return 0, fmt.Errorf("%s is not a mount point after the call: what was mounted on it is gone", abs)
	}
	for range 64 { // stacked mounts, bounded
		m, _, ok := t.Find(top)
		if !ok || m.Parent == dirID {
			return top, nil
		}
		top = m.Parent
	}
	return top, nil
}

func copyOf(c mountref.Copy) Copy {
	procs := c.NS.Procs
	n := len(procs)
	if len(procs) > 3 {
		procs = procs[:3]
	}
	return Copy{MountNS: c.NS.Inode, Point: c.Mount.Point, Procs: append([]mountref.Process(nil), procs...), NProcs: n}
}

// nameContainers names the containers of the holders' mount namespaces:
// the container whose task is in that namespace.
func (f *Finder) nameContainers(proc string, r *Reason) {
	if f.Containers == nil || (len(r.Holders) == 0 && len(r.Copies) == 0) {
		return
	}
	byNS := map[uint64]*Container{}
	for _, c := range f.Containers() {
		if c.TaskPID == 0 {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(filepath.Join(proc, strconv.FormatUint(uint64(c.TaskPID), 10), "ns", "mnt"), &st) == nil {
			byNS[st.Ino] = &Container{ID: c.ID, Namespace: c.Namespace, Pod: c.Pod, PodNamespace: c.PodNamespace}
		}
	}
	for i := range r.Holders {
		r.Holders[i].Container = byNS[r.Holders[i].MountNS]
	}
	for i := range r.Copies {
		r.Copies[i].Container = byNS[r.Copies[i].MountNS]
	}
}

func arg(ev *tracer.Event, name string) string {
	for i := range ev.Args {
		if a := &ev.Args[i]; a.Name == name && a.Read && !a.Fault && !a.Truncated {
			return a.Str
		}
	}
	return ""
}

func argRaw(ev *tracer.Event, name string) uint64 {
	for i := range ev.Args {
		if ev.Args[i].Name == name {
			return ev.Args[i].Raw
		}
	}
	return 0
}
