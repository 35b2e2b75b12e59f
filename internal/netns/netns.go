// Package netns says what became of a network namespace file and whose
// it was: the "why" stage for calls that fail on /run/netns/X (setns,
// open, mount, umount of it), and the checks of `ctrace doctor`.
//
// A named network namespace is an nsfs bind mount on a file: `ip netns
// add` and CNI plugins create an empty file under /run/netns and bind the
// namespace (/proc/PID/ns/net) onto it. When that bind mount is gone
// (unmounted by a cleanup that stopped half-way, or never propagated into
// this mount namespace) the file stays, empty, and setns on it fails with
// EINVAL: the file is stale. Classify tells the three states apart with
// one statfs(2): an nsfs mount reports NSFS_MAGIC.
//
// Whose namespace it was comes from containerd: a container's OCI spec
// names the file as linux.namespaces[type=network].path (the pod sandbox
// under Kubernetes; `ctr run --with-ns network:PATH`). Index learns these
// from correlate's container cache, which containerd's event stream keeps
// fresh, and remembers deleted containers for some minutes so that a call
// that fails after a sandbox was removed still names it.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// State is what a network namespace file is now.
type State string

// The states of a network namespace file.
const (
	// StateOK: an nsfs mount, the namespace is alive.
	StateOK State = "ok"
	// StateStale: the file exists but no namespace is mounted on it.
	StateStale State = "stale"
	// StateMissing: there is no such file.
	StateMissing State = "missing"
)

// Dirs are where network namespace files are made on a node: iproute2's
// and the CNI plugins' /run/netns, and /var/run/netns, which the CRI
// plugin of containerd uses (usually a link to /run/netns; both are
// listed because on some nodes it is not).
var Dirs = []string{"/run/netns", "/var/run/netns"}

// Classify returns the state of the network namespace file at path, read
// below root ("" or "/" for this file system; "/host" from a debug pod
// whose host root is mounted there). path is a path on the node.
func Classify(root, path string) (State, error) {
	var st unix.Statfs_t
	err := unix.Statfs(hostPath(root, path), &st)
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return StateMissing, nil
	case err != nil:
		return "", fmt.Errorf("statfs %s: %w", path, err)
	case int64(st.Type) == unix.NSFS_MAGIC:
		return StateOK, nil
	}
	return StateStale, nil
}

// Under reports whether path is in one of Dirs.
func Under(path string) bool {
	for _, d := range Dirs {
		if len(path) > len(d)+1 && path[len(d)] == '/' && strings.HasPrefix(path, d) && !strings.Contains(path[len(d)+1:], "/") {
			return true
		}
	}
	return false
}

// hostPath is path as seen from here: below root.
func hostPath(root, path string) string { return HostPath(root, path) }

// maxLinks bounds the symbolic links HostPath follows, as the kernel's
// ELOOP does.
const maxLinks = 40

// HostPath is the node's path as seen from here, below root, with its
// symbolic links resolved inside root as the node resolves them: /var/run
// is usually a link to /run, which from a container with the node's root
// at /host must mean /host/run, not the container's own /run. Components
// that do not exist are kept as they are.
func HostPath(root, path string) string { return inRoot(root, path, true) }

// HostEntry is HostPath with the last component left as it is: the
// directory entry itself, for what removes or unmounts it (a link there
// is what the removal removes).
func HostEntry(root, path string) string { return inRoot(root, path, false) }

func inRoot(root, path string, last bool) string {
	if root == "" || root == "/" {
		return path
	}
	dir, base := filepath.Split(filepath.Clean("/" + path))
	if last {
		dir, base = filepath.Clean("/"+path), ""
	}
	rest := strings.Split(strings.Trim(dir, "/"), "/")
	cur := "/" // the directory resolved so far, inside root
	for links := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return filepath.Join(root, next, strings.Join(rest, "/"), base)
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(cur, target)
		}
		rest = append(strings.Split(strings.Trim(filepath.Clean(target), "/"), "/"), rest...)
		cur = "/"
	}
	return filepath.Join(root, cur, base)
}

// Canonical returns path with the symbolic links of its directory
// resolved (/var/run/netns/X -> /run/netns/X), as the kernel names an
// open file; the file itself may be missing. Paths it cannot resolve come
// back cleaned.
func Canonical(root, path string) string {
	path = filepath.Clean(path)
	dir, base := filepath.Split(path)
	real, err := filepath.EvalSymlinks(hostPath(root, dir))
	if err != nil {
		return path
	}
	if root != "" && root != "/" {
		rel, err := filepath.Rel(root, real)
		if err != nil || strings.HasPrefix(rel, "..") {
			return path
		}
		real = "/" + rel
	}
	return filepath.Join(real, base)
}
