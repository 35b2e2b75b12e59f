package hints

import (
	"path/filepath"
	"strconv"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/busy"
	"github.com/ctrace-dev/ctrace/tracer"
)

// busyMount: what frees a mount depends on what holds it. A mount point
// is unmounted before it is removed; a process on the mount, or on a copy
// the unmount reaches, lets go or is stopped; a copy in another mount
// namespace is there because that namespace receives the node's mounts
// (a container given /run/netns or a parent of it with shared or slave
// propagation: containerd#6143).
func busyMount(ev *tracer.Event, _ *correlate.Container) string {
	r, ok := tracer.FirstReason[*busy.Reason](ev)
	if !ok {
		return ""
	}
	point := r.Mount.Point
	s := ""
	if r.Removing {
		s = "unmount it before removing it (umount " + point + ")"
		if len(r.Holders) == 0 && len(r.Submounts) == 0 {
			if len(r.Copies) > 0 && len(r.Copies[0].Procs) > 0 {
				c := r.Copies[0]
				s += "; mnt:[" + strconv.FormatUint(c.MountNS, 10) + "] keeps a copy that outlives it: nsenter -t " +
					strconv.Itoa(c.Procs[0].PID) + " -m umount " + c.Point
			}
			return s
		}
		s += ", which "
	}
	switch {
	case len(r.Holders) > 0 && r.Holders[0].Copy:
		h := r.Holders[0]
		s += "pid " + strconv.Itoa(h.PID) + " (" + h.Comm + ") blocks: it holds the copy of the mount in its mount namespace, " +
			"which receives the unmount; stop it, or unmount the copy there (nsenter -t " + strconv.Itoa(h.PID) + " -m umount -l " +
			h.Point + "); a container that needs the host's mounts under " + filepath.Dir(point) +
			" gets them with rslave propagation, so that its copies never block the host"
	case len(r.Holders) > 0:
		h := r.Holders[0]
		s += "pid " + strconv.Itoa(h.PID) + " (" + h.Comm + ") blocks (" + h.How + " on it): stop it or make it let go, " +
			"or detach the mount now and free it when the last user leaves (umount -l " + point + ")"
	case len(r.Submounts) > 0:
		s += "has mounts on it: unmount them first (umount " + r.Submounts[0] + "), or all at once (umount -R " + point + ")"
	}
	return s
}
