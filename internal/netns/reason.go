package netns

import (
	"path/filepath"
	"strings"

	"github.com/ctrace-dev/ctrace/tracer"
)

// Diagnoser adds a ReasonNetNS to failed calls that named a network
// namespace file.
type Diagnoser struct {
	// Root is the host root ("" for this file system).
	Root string
	// Index names the container; nil leaves Owner out.
	Index *Index
}

// Diagnose appends a ReasonNetNS to ev when it failed on a network
// namespace file: a file under Dirs, or one a container's spec names. It
// returns whether it did. The file's state is the one found now, when the
// event is read, a few milliseconds after the call.
//
// The paths are read in the node's mount namespace: the kernel names a
// setns descriptor's file as the caller sees it, and the callers that
// use these files (ip netns, CNI plugins, runc before it enters the
// container's root) see the node's.
func (d *Diagnoser) Diagnose(ev *tracer.Event) bool {
	if !ev.Failed() {
		return false
	}
	var buf [2]string
	for _, p := range candidates(ev, &buf) {
		var owner *tracer.Owner
		if d.Index != nil {
			if o, ok := d.Index.Lookup(p); ok {
				own := o.Owner // on the heap only when found
				owner = &own
			}
		}
		if owner == nil && !Under(p) {
			continue
		}
		st, err := Classify(d.Root, p)
		if err != nil {
			// Without a state there is no claim to make.
			continue
		}
		ev.Reasons = append(ev.Reasons, tracer.Reason{Kind: tracer.ReasonNetNS, Path: p, State: string(st), Owner: owner})
		return true
	}
	return false
}

// candidates returns the absolute paths ev names that could be network
// namespace files: setns's descriptor, the path of an open, the source
// and target of a mount, the target of an umount. They are kept in buf:
// most failures are opens, and this runs for each.
func candidates(ev *tracer.Event, buf *[2]string) []string {
	var names [2]string
	switch ev.Syscall {
	case "setns":
		names[0] = "fd"
	case "open", "openat", "openat2":
		names[0] = "path"
	case "mount":
		names = [2]string{"target", "source"}
	case "umount2":
		names[0] = "target"
	default:
		return nil
	}
	out := buf[:0]
	for _, n := range names {
		if n == "" {
			break
		}
		for i := range ev.Args {
			a := &ev.Args[i]
			if a.Name != n {
				continue
			}
			p := a.Str
			if a.Kind == tracer.KindFD {
				// The kernel marks a descriptor whose file was unlinked.
				p = strings.TrimSuffix(p, " (deleted)")
			} else if !a.Read || a.Fault || a.Truncated {
				continue
			}
			if strings.HasPrefix(p, "/") {
				out = append(out, filepath.Clean(p))
			}
		}
	}
	return out
}
