package permission

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/tracer"
)

// Layers is an overlay mount seen through its layers: a container's
// rootfs that was unmounted before ctrace looked (runc init failed, and
// the shim cleaned up within milliseconds), as its snapshotter gives its
// mount. The layers are the snapshots' directories, which outlive the
// mount as long as the snapshots do.
type Layers struct {
	// Point is where the overlay was mounted, in the caller's view.
	Point string
	// Dirs are the layers, upper first, then the lowerdirs nearest
	// first, as paths ctrace can open.
	Dirs []string
	// ReadOnly: the overlay is mounted read-only.
	ReadOnly bool
	// Snapshot is the containerd snapshot the overlay is the rootfs
	// of: a component found in the layers lies in it.
	Snapshot *tracer.Snapshot
}

// overlayOpaque is the xattr overlayfs marks a directory of an upper
// layer with when it hides the lower layers' directory of that name.
const overlayOpaque = "trusted.overlay.opaque"

// walkLayers checks the part of req's path at and below l.Point as
// overlayfs would have looked it up in l's layers: a name is the
// topmost layer's entry, a whiteout (a 0/0 character device) hides it,
// a directory merges the same directories below it unless it is opaque,
// and a merged directory has the attributes of its topmost one. The
// directories above l.Point are walked in the caller's root as Walk does
// (they are not the overlay's). A symbolic link below l.Point is not
// followed (it would have to be resolved in the merged view):
// Unexplained.
func walkLayers(root Root, l *Layers, req Request, c *Creds, errno unix.Errno) (*Finding, error) {
	t := req.Target()
	if t == "" || (t != l.Point && !strings.HasPrefix(t, strings.TrimSuffix(l.Point, "/")+"/")) {
		return nil, unexplained("%s is not in the overlay that was mounted at %s", req.Path, l.Point)
	}
	if errno != unix.EACCES && errno != unix.EROFS {
		return nil, unexplained("%s is not a file-permission error (permission bits refuse with EACCES, read-only mounts with EROFS)", unix.ErrnoName(errno))
	}
	// The directories above the mount point: each needs search.
	if l.Point != "/" {
		up := Request{Arg: req.Arg, Path: path.Dir(l.Point), Final: []Need{NeedSearch}}
		f, err := Walk(root, up, c, unix.EACCES)
		if f != nil {
			f.Arg, f.Target = req.Arg, t
			return f, nil
		}
		var u *Unexplained
		if !errors.As(err, &u) || !u.granted {
			return nil, err
		}
	}
	var flags int64
	if l.ReadOnly {
		flags |= unix.ST_RDONLY
	}
	w := &walker{c: c, errno: errno, flags: &flags}
	var merged []int
	defer func() { closeAll(merged) }()
	for _, d := range l.Dirs {
		fd, err := unix.Open(d, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, unexplained("the layer %s of the overlay that was mounted at %s is gone (%v)", d, l.Point, err)
		}
		merged = append(merged, fd)
	}
	if len(merged) == 0 {
		return nil, unexplained("the overlay that was mounted at %s has no layers ctrace knows", l.Point)
	}
	found := func(f *Finding, err error) (*Finding, error) {
		if f != nil {
			f.Arg, f.Target, f.InLayers = req.Arg, t, true
			f.MountID, f.OnRootMount = 0, false
		}
		return f, err
	}
	view := l.Point
	names := split(strings.TrimPrefix(t, l.Point))
	for i, name := range names {
		last := i == len(names)-1
		if f, err := w.check(merged[0], view, NeedSearch); f != nil || err != nil {
			return found(f, err)
		}
		next, top, err := lookupLayers(merged, name)
		if err != nil {
			closeAll(next)
			return nil, fmt.Errorf("look %s up in the layers: %w", path.Join(view, name), err)
		}
		if top == nil {
			if last && req.Create {
				return found(w.check(merged[0], view, NeedWrite))
			}
			return nil, unexplained("%s does not exist in the overlay's layers now (it may have changed since the call)", path.Join(view, name))
		}
		view = path.Join(view, name)
		if top.st.Mode&unix.S_IFMT == unix.S_IFLNK {
			closeAll(next)
			return nil, unexplained("%s is a symbolic link in the layers of an overlay that is no longer mounted, which ctrace does not follow there", view)
		}
		if last {
			defer unix.Close(top.fd)
			closeAll(next)
			return found(w.final(top.fd, view, req))
		}
		_ = unix.Close(top.fd)
		if top.st.Mode&unix.S_IFMT != unix.S_IFDIR {
			closeAll(next)
			return nil, unexplained("%s is not a directory now (it may have changed since the call)", view)
		}
		closeAll(merged)
		merged = next
	}
	// The mount point itself.
	return found(w.final(merged[0], view, req))
}

// layerEntry is the topmost entry of a name in an overlay's layers.
type layerEntry struct {
	fd int // O_PATH
	st unix.Stat_t
}

// lookupLayers looks name up in a merged directory (its layers' fds, top
// first). It returns the topmost entry (nil when the name is absent or
// whited out) and, when that is a directory, the directories that make
// up the merged one.
func lookupLayers(merged []int, name string) ([]int, *layerEntry, error) {
	var (
		top  *layerEntry
		next []int
	)
	for _, d := range merged {
		var st unix.Stat_t
		err := unix.Fstatat(d, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return next, nil, err
		}
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if top == nil {
			if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
				return nil, nil, nil // a whiteout: the name is deleted
			}
			fd, err := unix.Openat(d, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return nil, nil, err
			}
			top = &layerEntry{fd: fd, st: st}
			if !isDir {
				return nil, top, nil
			}
		} else if !isDir {
			break // a lower non-directory ends the merge
		}
		fd, err := unix.Openat(d, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return next, top, err
		}
		next = append(next, fd)
		if opaque(fd) {
			break
		}
	}
	return next, top, nil
}

// opaque reports whether the directory open as fd hides the lower
// layers' directories of its name.
func opaque(fd int) bool {
	var v [1]byte
	n, err := unix.Getxattr(fmt.Sprintf("/proc/self/fd/%d", fd), overlayOpaque, v[:])
	return err == nil && n == 1 && v[0] == 'y'
}

func closeAll(fds []int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}

// ErrLayerGone is Open's error when a layer of the overlay cannot be
// opened: its snapshot was removed (containerd's garbage collector
// removes a deleted container's snapshot soon after).
var ErrLayerGone = errors.New("a layer of the overlay is gone")

// Open opens p, an absolute path in the caller's view at or below
// l.Point, as the mounted overlay would have: each name is the topmost
// layer's entry (whiteouts and opaque directories as walkLayers takes
// them), and symbolic links are followed, as the kernel's lookup of an
// exec'd file and its interpreter does (/lib64/ld-linux-x86-64.so.2 is
// a link into /lib). When l.Point is "/" the overlay was the caller's
// root: an absolute link or a ".." at the top stays in it, as under
// RESOLVE_IN_ROOT. Elsewhere, what lies beyond the overlay is not in the
// layers, and a lookup that would leave it fails with EXDEV. A missing
// name is ENOENT. flags are open(2)'s; with O_PATH the entry itself is
// returned.
func (l *Layers) Open(p string, flags int) (int, error) {
	if !strings.HasPrefix(p, "/") || !isAbove(l.Point, p) {
		return -1, fmt.Errorf("%s is not in the overlay that was mounted at %s: %w", p, l.Point, unix.EXDEV)
	}
	rest := split(strings.TrimPrefix(p, l.Point))
	var names []string // the directories resolved so far, below l.Point
	merged, err := l.dir(names)
	if err != nil {
		return -1, err
	}
	defer func() { closeAll(merged) }()
	links := 0
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case ".":
			continue
		case "..":
			if len(names) == 0 {
				if l.Point != "/" {
					return -1, fmt.Errorf("%s leaves the overlay that was mounted at %s: %w", p, l.Point, unix.EXDEV)
				}
				continue
			}
			// Every name in names is a directory: ".." is lexical.
			names = names[:len(names)-1]
			closeAll(merged)
			if merged, err = l.dir(names); err != nil {
				return -1, err
			}
			continue
		}
		next, top, err := lookupLayers(merged, name)
		if err != nil {
			closeAll(next)
			return -1, fmt.Errorf("look %s up in the layers: %w", path.Join(l.Point, path.Join(names...), name), err)
		}
		if top == nil {
			return -1, fmt.Errorf("%s in the overlay's layers: %w", path.Join(l.Point, path.Join(names...), name), unix.ENOENT)
		}
		switch top.st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			target, err := readlinkat(top.fd, "")
			_ = unix.Close(top.fd)
			if err != nil {
				return -1, fmt.Errorf("read the link %s in the layers: %w", path.Join(l.Point, path.Join(names...), name), err)
			}
			if links++; links > maxLinks {
				return -1, fmt.Errorf("%s: %w", p, unix.ELOOP)
			}
			if target == "" {
				return -1, fmt.Errorf("the link %s is empty: %w", path.Join(l.Point, path.Join(names...), name), unix.ENOENT)
			}
			if strings.HasPrefix(target, "/") {
				if l.Point != "/" {
					return -1, fmt.Errorf("the link %s leads out of the overlay that was mounted at %s: %w",
						path.Join(l.Point, path.Join(names...), name), l.Point, unix.EXDEV)
				}
				names = nil
				closeAll(merged)
				if merged, err = l.dir(names); err != nil {
					return -1, err
				}
			}
			rest = append(split(target), rest...)
		case unix.S_IFDIR:
			_ = unix.Close(top.fd)
			names = append(names, name)
			closeAll(merged)
			merged = next
		default:
			if len(rest) > 0 {
				_ = unix.Close(top.fd)
				return -1, fmt.Errorf("%s in the overlay's layers: %w", path.Join(l.Point, path.Join(names...), name), unix.ENOTDIR)
			}
			return reopen(top.fd, flags)
		}
	}
	// A directory: its topmost layer's.
	fd, err := unix.Dup(merged[0])
	if err != nil {
		return -1, fmt.Errorf("dup: %w", err)
	}
	return reopen(fd, flags)
}

// dir opens the merged directory at names below l.Point: each layer's
// directory of that path, top first, down to an opaque one.
func (l *Layers) dir(names []string) ([]int, error) {
	var merged []int
	for _, d := range l.Dirs {
		fd, err := unix.Open(d, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			// Not the lookup's ENOENT: without a layer, nothing
			// is known of the names, not even that one is missing.
			closeAll(merged)
			return nil, fmt.Errorf("%w: %s, of the overlay that was mounted at %s (%v)", ErrLayerGone, d, l.Point, err)
		}
		merged = append(merged, fd)
	}
	if len(merged) == 0 {
		return nil, fmt.Errorf("%w: the overlay that was mounted at %s has none ctrace knows", ErrLayerGone, l.Point)
	}
	for _, name := range names {
		next, top, err := lookupLayers(merged, name)
		closeAll(merged)
		if top != nil {
			_ = unix.Close(top.fd)
		}
		if err == nil && (top == nil || top.st.Mode&unix.S_IFMT != unix.S_IFDIR) {
			err = unix.ENOTDIR // it changed since it was looked up
		}
		if err != nil {
			closeAll(next)
			return nil, fmt.Errorf("look %s up in the layers: %w", path.Join(l.Point, path.Join(names...)), err)
		}
		merged = next
	}
	return merged, nil
}

// reopen turns fd, an O_PATH descriptor that Open found, into one opened
// with flags (through /proc/self/fd, as the layer's directory is not at
// hand); fd is closed.
func reopen(fd, flags int) (int, error) {
	if flags&unix.O_PATH != 0 {
		return fd, nil
	}
	defer unix.Close(fd)
	for {
		nfd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), flags|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, fmt.Errorf("open: %w", err)
		}
		return nfd, nil
	}
}
