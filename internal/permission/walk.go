package permission

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Need is the access a path component had to grant.
type Need string

// The accesses, as the kernel's MAY_EXEC on a directory (search), MAY_READ,
// MAY_WRITE and MAY_EXEC on a file.
const (
	NeedSearch Need = "search"
	NeedRead   Need = "read"
	NeedWrite  Need = "write"
	NeedExec   Need = "exec"
)

func (n Need) bit() uint32 {
	switch n {
	case NeedRead:
		return 4
	case NeedWrite:
		return 2
	}
	return 1
}

// Caps says what ctrace knows of the caller's DAC-overriding capabilities
// in its own user namespace.
type Caps struct {
	// Known is set when the effective set was read (/proc/PID/status) or
	// the kernel reported the capability checks of the call.
	Known bool
	// DACOverride and DACReadSearch are CAP_DAC_OVERRIDE and
	// CAP_DAC_READ_SEARCH in the effective set.
	DACOverride, DACReadSearch bool
}

// Creds is who the kernel checked: the caller's file-system ids as the
// initial user namespace sees them, and its user namespace's maps.
type Creds struct {
	UID, GID uint32
	// Groups are the supplementary groups, when GroupsKnown.
	Groups      []uint32
	GroupsKnown bool
	// UIDMap and GIDMap are the caller's user namespace's maps; nil for
	// the initial user namespace.
	UIDMap, GIDMap IDMap
	Caps           Caps
}

// Request is one path a call named and what the call needed of it.
type Request struct {
	// Arg names the argument the path came from ("path", "target",
	// "lowerdir", ...).
	Arg string
	// Path is the path as the call passed it.
	Path string
	// Base is where a relative Path starts, in the caller's view: the
	// dirfd's path or the caller's working directory; "" when unknown.
	Base string
	// Final is what the last component had to grant (none: only found).
	Final []Need
	// Create is set when a missing last component would have been
	// created: its directory then had to grant write.
	Create bool
	// NoFollow is set when a symbolic link as last component is not
	// followed (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW).
	NoFollow bool
	// Remove is set when the last component is removed (rmdir,
	// unlink): its directory had to grant write, and the component
	// itself is neither followed nor checked.
	Remove bool
}

// Finding is the component that refused a call, and why.
type Finding struct {
	// Arg is the argument whose path the component is on.
	Arg string
	// Path is the component in the caller's view.
	Path string
	// Target is the whole path the argument named, made absolute in
	// the caller's view (lexically: "." and ".." folded, links not
	// followed); "" for a path relative to a working directory whose
	// path is not known.
	Target string
	Need   Need
	// OwnerUID, OwnerGID and Mode are the component's, as the initial
	// user namespace sees them (through an idmapped mount: as mapped).
	OwnerUID, OwnerGID uint32
	Mode               uint32 // permission bits, with setuid, setgid, sticky
	// OwnerMapped tells whether OwnerUID is mapped in the caller's user
	// namespace; OwnerGIDMapped the same for the group. Without both,
	// root in that namespace has no DAC override.
	OwnerMapped, GroupMapped bool
	// MountRO: a write refused because the mount or file system is
	// read-only (EROFS). MountNoexec: an exec refused by a noexec mount.
	MountRO, MountNoexec bool
	// Idmapped: the component lies on an idmapped mount.
	Idmapped bool
	// OnRootMount: the component lies on the mount of the caller's root
	// (a container's rootfs, not a volume or /proc).
	OnRootMount bool
	// MountID is the id of the mount the component lies on; 0 when
	// the kernel did not say.
	MountID uint64
	// InLayers: the component was found in the layers of an overlay
	// that is no longer mounted (Caller.Layers).
	InLayers bool
}

// Root is the caller's view of the file system: a directory on the host
// that is the caller's "/" (/proc/PID/root, a container's rootfs), and
// optionally one that is its working directory.
type Root struct {
	Dir string
	// Cwd is the caller's working directory on the host
	// (/proc/PID/cwd); "" when unknown.
	Cwd string
	// Idmapped reports whether the mount of an open descriptor is
	// idmapped; nil when unknown.
	Idmapped func(fd int) bool
}

// Unexplained says why no component explains a failure; the walk's
// answer when it finds none.
type Unexplained struct {
	Why string
	// granted: every component granted what the call needed.
	granted bool
}

func (u *Unexplained) Error() string { return u.Why }

func unexplained(format string, a ...any) error {
	return &Unexplained{Why: fmt.Sprintf(format, a...)}
}

// maxLinks is the kernel's limit of symbolic links in one lookup.
const maxLinks = 40

// Walk looks the request's path up in root component by component, as
// the kernel did for the caller, and returns the first component that
// refuses the caller errno. EACCES is explained by permission bits, EROFS
// by a read-only mount, EACCES of an exec also by a noexec mount. It
// returns an *Unexplained error when no component explains errno (or
// when what would decide it is not known), and other errors when the
// lookup itself fails.
func Walk(root Root, req Request, c *Creds, errno unix.Errno) (*Finding, error) {
	if errno != unix.EACCES && errno != unix.EROFS {
		return nil, unexplained("%s is not a file-permission error (permission bits refuse with EACCES, read-only mounts with EROFS)", unix.ErrnoName(errno))
	}
	if req.Path == "" {
		return nil, unexplained("the call named no path")
	}
	w := &walker{root: root, c: c, errno: errno}
	defer w.close()
	rfd, err := unix.Open(root.Dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the caller's root %s: %w", root.Dir, err)
	}
	w.stack = []dir{{fd: rfd, view: "/"}}
	w.rootMnt, _ = mountID(rfd)
	rest := req.Path
	if !strings.HasPrefix(rest, "/") {
		switch {
		case req.Base != "" && strings.HasPrefix(req.Base, "/"):
			// The kernel starts at the base without checking its
			// ancestors: go there unchecked.
			if err := w.descend(req.Base); err != nil {
				return nil, err
			}
		case root.Cwd != "":
			fd, err := unix.Open(root.Cwd, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return nil, fmt.Errorf("open the caller's working directory: %w", err)
			}
			w.stack = append(w.stack, dir{fd: fd, view: ".", floor: true})
		default:
			return nil, unexplained("%q is relative and the caller's working directory is not known", req.Path)
		}
	}
	f, err := w.walk(rest, req)
	if f != nil {
		f.Arg = req.Arg
		f.Target = req.Target()
	}
	return f, err
}

// Target is the path req names, absolute in the caller's view
// (lexically: "." and ".." folded, links not followed), or "" for a path
// relative to a working directory whose path is not known.
func (req Request) Target() string {
	switch {
	case strings.HasPrefix(req.Path, "/"):
		return path.Clean(req.Path)
	case strings.HasPrefix(req.Base, "/"):
		return path.Join(req.Base, req.Path)
	}
	return ""
}

type dir struct {
	fd   int
	view string
	// floor: ".." cannot go above this directory (its ancestors are
	// unknown).
	floor bool
}

type walker struct {
	root    Root
	rootMnt uint64
	c       *Creds
	errno   unix.Errno
	stack   []dir
	links   int
	// flags, when set, are the mount's flags (ST_RDONLY, ST_NOEXEC)
	// for every component, in place of the file system's statfs: the
	// layers of an overlay that is no longer mounted.
	flags *int64
}

func (w *walker) close() {
	for _, d := range w.stack {
		_ = unix.Close(d.fd)
	}
	w.stack = nil
}

func (w *walker) top() *dir { return &w.stack[len(w.stack)-1] }

func (w *walker) pop() error {
	if w.top().floor {
		return unexplained("the path leaves the caller's working directory with .., whose ancestors are not known")
	}
	if len(w.stack) > 1 {
		_ = unix.Close(w.top().fd)
		w.stack = w.stack[:len(w.stack)-1]
	}
	return nil
}

func (w *walker) push(name string) error {
	fd, err := unix.Openat(w.top().fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	w.stack = append(w.stack, dir{fd: fd, view: path.Join(w.top().view, name)})
	return nil
}

// descend goes to an absolute directory of the caller's view without
// checking permissions, following symbolic links inside the root.
func (w *walker) descend(p string) error {
	for _, name := range strings.Split(p, "/") {
		switch name {
		case "", ".":
			continue
		case "..":
			if err := w.pop(); err != nil {
				return err
			}
			continue
		}
		if err := w.push(name); err != nil {
			return fmt.Errorf("go to the call's directory %s: %w", p, err)
		}
	}
	return nil
}

// walk checks each component of p, starting at the top of the stack.
func (w *walker) walk(p string, req Request) (*Finding, error) {
	names := split(p)
	if strings.HasPrefix(p, "/") {
		w.toRoot()
	}
	for len(names) > 0 {
		name := names[0]
		names = names[1:]
		last := len(names) == 0
		// Every lookup in a directory needs search on it.
		if f, err := w.check(w.top().fd, w.top().view, NeedSearch); f != nil || err != nil {
			return f, err
		}
		if last && req.Remove {
			return w.removal(name, req)
		}
		switch name {
		case ".":
			if last {
				return w.final(w.top().fd, w.top().view, req)
			}
			continue
		case "..":
			if err := w.pop(); err != nil {
				return nil, err
			}
			if last {
				return w.final(w.top().fd, w.top().view, req)
			}
			continue
		}
		view := path.Join(w.top().view, name)
		var st unix.Stat_t
		err := unix.Fstatat(w.top().fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) {
			if last && req.Create {
				return w.check(w.top().fd, w.top().view, NeedWrite)
			}
			return nil, unexplained("%s does not exist now (it may have changed since the call)", view)
		}
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", view, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK && (!last || !req.NoFollow) {
			if w.links++; w.links > maxLinks {
				return nil, unexplained("more than %d symbolic links in %s", maxLinks, req.Path)
			}
			target, err := readlinkat(w.top().fd, name)
			if err != nil {
				return nil, fmt.Errorf("read link %s: %w", view, err)
			}
			if strings.HasPrefix(target, "/") {
				w.toRoot()
			}
			names = append(split(target), names...)
			if len(names) == 0 { // a link to "/"
				return w.final(w.top().fd, w.top().view, req)
			}
			continue
		}
		if last {
			fd, err := unix.Openat(w.top().fd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return nil, fmt.Errorf("open %s: %w", view, err)
			}
			defer unix.Close(fd)
			return w.final(fd, view, req)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return nil, unexplained("%s is not a directory now (it may have changed since the call)", view)
		}
		if err := w.push(name); err != nil {
			return nil, fmt.Errorf("open %s: %w", view, err)
		}
	}
	// A path of only slashes: the root itself.
	return w.final(w.top().fd, w.top().view, req)
}

// removal checks the directory a removal's last component is in, as
// may_delete does: write (search was checked on the way). The sticky
// bit's rule (the caller must own the file or the directory, or have
// CAP_FOWNER over the owner) refuses with EPERM, never EACCES, so it is
// no reason here: Walk explains neither EPERM nor, through it, a sticky
// directory. The component itself needs nothing; it may be gone since
// the call, which failed after finding it.
func (w *walker) removal(name string, req Request) (*Finding, error) {
	if name == "." || name == ".." {
		return nil, unexplained("%s ends in %s, which is never removed (EINVAL, ENOTEMPTY or EISDIR, not a permission error)", req.Path, name)
	}
	if f, err := w.check(w.top().fd, w.top().view, NeedWrite); f != nil || err != nil {
		return f, err
	}
	return w.final(w.top().fd, w.top().view, req)
}

// toRoot drops everything above the caller's root.
func (w *walker) toRoot() {
	for len(w.stack) > 1 {
		_ = unix.Close(w.top().fd)
		w.stack = w.stack[:len(w.stack)-1]
	}
}

func (w *walker) final(fd int, view string, req Request) (*Finding, error) {
	for _, n := range req.Final {
		if f, err := w.check(fd, view, n); f != nil || err != nil {
			return f, err
		}
	}
	if w.errno == unix.EROFS {
		return nil, unexplained("no component %s needed to write to is on a read-only mount now", req.Path)
	}
	return nil, &Unexplained{granted: true, Why: fmt.Sprintf("every component of %s grants uid %d what the call needed "+
		"(it may have changed since the call, or another layer refused it)", req.Path, w.c.UID)}
}

// check reports the component open as fd when it refuses need to the
// caller in the way errno says.
func (w *walker) check(fd int, view string, need Need) (*Finding, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", view, err)
	}
	f := &Finding{Path: view, Need: need, OwnerUID: st.Uid, OwnerGID: st.Gid, Mode: st.Mode & 0o7777}
	_, f.OwnerMapped = w.c.UIDMap.Inside(st.Uid)
	_, f.GroupMapped = w.c.GIDMap.Inside(st.Gid)
	f, err := w.refuses(fd, view, need, &st, f)
	if f != nil {
		// Only for the component that refused: mountinfo is long.
		if w.root.Idmapped != nil {
			f.Idmapped = w.root.Idmapped(fd)
		}
		if id, ok := mountID(fd); ok {
			f.MountID = id
			f.OnRootMount = w.rootMnt != 0 && id == w.rootMnt
		}
	}
	return f, err
}

// refuses returns f when the component open as fd refuses need.
func (w *walker) refuses(fd int, view string, need Need, st *unix.Stat_t, f *Finding) (*Finding, error) {
	var sfs unix.Statfs_t
	if w.flags != nil {
		sfs.Flags = *w.flags
	} else if err := unix.Fstatfs(fd, &sfs); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", view, err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	switch w.errno {
	case unix.EROFS:
		// Only a write to the file system refuses with EROFS; devices,
		// fifos and sockets are not written through it.
		if need == NeedWrite && sfs.Flags&unix.ST_RDONLY != 0 && (isDir || st.Mode&unix.S_IFMT == unix.S_IFREG) {
			f.MountRO = true
			return f, nil
		}
		return nil, nil
	}
	if need == NeedExec && !isDir && sfs.Flags&unix.ST_NOEXEC != 0 {
		f.MountNoexec = true
		return f, nil
	}
	if hasACL(fd) {
		return nil, unexplained("%s has a POSIX ACL, which ctrace does not evaluate", view)
	}
	switch w.c.allows(st, need) {
	case yes:
		return nil, nil
	case unknown:
		return nil, unexplained("whether %s grants %s to uid %d depends on the caller's supplementary groups, which are not known", view, need, w.c.UID)
	}
	// The bits refuse. Root in the caller's namespace may still pass.
	if !f.OwnerMapped || !f.GroupMapped {
		return f, nil // no capability overrides an unmapped owner
	}
	override := w.c.Caps.DACOverride
	if need == NeedRead || (need == NeedSearch && isDir) {
		override = override || w.c.Caps.DACReadSearch
	}
	if need == NeedExec && !isDir && st.Mode&0o111 == 0 {
		override = false // no one executes a file without an x bit
	}
	if !w.c.Caps.Known {
		if inner, ok := w.c.UIDMap.Inside(w.c.UID); ok && inner == 0 {
			return nil, unexplained("%s refuses %s by its bits, but the caller is root in its user namespace and its capabilities are not known", view, need)
		}
		// A process that is not root in its namespace has no
		// capabilities unless it runs a file with capabilities or
		// was given ambient ones (docs/permission.md).
		override = false
	}
	if override {
		return nil, nil
	}
	return f, nil
}

type verdict int

const (
	no verdict = iota
	yes
	unknown
)

// allows applies the permission bits as generic_permission does: the
// owner's class if the caller owns the file, else the group's if it is in
// the group, else the others'.
func (c *Creds) allows(st *unix.Stat_t, need Need) verdict {
	bit := need.bit()
	mode := st.Mode
	if st.Uid == c.UID {
		return ok(mode>>6&bit != 0)
	}
	group, other := mode>>3&bit != 0, mode&bit != 0
	if st.Gid == c.GID || contains(c.Groups, st.Gid) {
		return ok(group)
	}
	if !c.GroupsKnown && group != other {
		return unknown
	}
	return ok(other)
}

func ok(b bool) verdict {
	if b {
		return yes
	}
	return no
}

func contains(s []uint32, v uint32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func split(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// mountID returns the id of the mount of an open descriptor.
func mountID(fd int) (uint64, bool) {
	var stx unix.Statx_t
	if unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx) != nil || stx.Mask&unix.STATX_MNT_ID == 0 {
		return 0, false
	}
	return stx.Mnt_id, true
}

// hasACL reports whether the file open as fd carries a POSIX access ACL,
// which may grant what its mode bits do not show.
func hasACL(fd int) bool {
	_, err := unix.Getxattr(fmt.Sprintf("/proc/self/fd/%d", fd), "system.posix_acl_access", nil)
	return err == nil
}
