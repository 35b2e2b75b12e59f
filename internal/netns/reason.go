package netns

import (
	"path/filepath"
	"strings"

	"github.com/ctrace-dev/ctrace/tracer"
	"github.com/ctrace-dev/ctrace/tracer/jsonw"
)

// Diagnoser adds a Reason to failed calls that named a network
// namespace file.
type Diagnoser struct {
	// Root is the host root ("" for this file system).
	Root string
	// Index names the container; nil leaves Owner out.
	Index *Index
}

// Diagnose appends a Reason to ev when it failed on a network
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
		var owner *ContainerRef
		if d.Index != nil {
			if o, ok := d.Index.Lookup(p); ok {
				own := o.ContainerRef // on the heap only when found
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
		ev.Reasons = append(ev.Reasons, &Reason{Path: p, State: st, Owner: owner})
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

// Reason: the call named a network namespace file. It says what state
// the file is in now and whose namespace it was.
type Reason struct {
	Path  string
	State State
	// Owner is the container whose spec names the file (a pod's sandbox
	// under Kubernetes); nil when none ever did, as far as ctrace knows.
	Owner *ContainerRef
}

// ContainerRef is the container a Reason names.
type ContainerRef struct {
	ID           string
	Namespace    string // containerd namespace
	Pod          string
	PodNamespace string
	// State is "running", "stopped" or "deleted".
	State string
}

// Kind implements tracer.Reason.
func (*Reason) Kind() tracer.ReasonKind { return tracer.ReasonNetNS }

// Text says what the namespace file is now and whose it was:
//
//	netns: /run/netns/cni-8d1c is stale (its bind mount is gone); network namespace of sandbox 3f2a1b2c3d4e5 (pod shop/web-1), still running
func (r *Reason) Text(*tracer.Event) string {
	s := "netns: " + r.Path
	switch r.State {
	case StateStale:
		s += " is stale (its bind mount is gone)"
	case StateMissing:
		s += " is missing (no such file)"
	case StateOK:
		s += " is a live network namespace (the failure has another cause)"
	}
	o := r.Owner
	if o == nil {
		return s + "; no container names it"
	}
	// 13 characters, as crictl shows ids and the stale-netns hint
	// writes them.
	id := o.ID
	if len(id) > 13 {
		id = id[:13]
	}
	if o.Pod != "" {
		s += "; network namespace of sandbox " + id + " (pod " + o.PodNamespace + "/" + o.Pod + ")"
	} else {
		s += "; network namespace of container " + o.Namespace + "/" + id
	}
	switch o.State {
	case Running:
		return s + ", still running"
	case Deleted:
		return s + ", deleted by containerd"
	}
	return s + ", " + o.State
}

// AppendJSON implements tracer.Reason.
func (r *Reason) AppendJSON(b []byte) []byte {
	b = jsonw.StrLit(b, `"path":`, r.Path)
	b = jsonw.StrLit(b, `"state":`, string(r.State))
	if o := r.Owner; o != nil {
		b = append(jsonw.KeyLit(b, `"container":`), '{')
		b = jsonw.StrLit(b, `"id":`, o.ID)
		b = jsonw.StrLit(b, `"namespace":`, o.Namespace)
		if o.Pod != "" {
			b = jsonw.StrLit(b, `"pod":`, o.Pod)
			b = jsonw.StrLit(b, `"pod_namespace":`, o.PodNamespace)
		}
		b = append(b, '}')
		b = jsonw.StrLit(b, `"container_state":`, o.State)
	}
	return b
}
