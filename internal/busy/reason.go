package busy

import (
	"strconv"
	"strings"

	"github.com/ctrace-dev/ctrace/internal/mountref"
	"github.com/ctrace-dev/ctrace/tracer"
	"github.com/ctrace-dev/ctrace/tracer/jsonw"
)

// Reason: the mount the call needed free is held. Everything in it was
// looked up after the call returned.
type Reason struct {
	// Path is the call's path, as the caller named it.
	Path string
	// Removing: the call removed Path (rmdir, unlink), which is a mount
	// point; Mount is what is mounted on it. Otherwise (umount2) Mount is
	// the mount the call would have unmounted.
	Removing bool
	Mount    mountref.Mount
	// Holders are processes on Mount, or on a copy of it that an unmount
	// reaches (a slave or peer in another mount namespace); More counts
	// the holders and copies beyond Limit.
	Holders []Holder
	More    int
	// Submounts are the mount points of mounts on Mount.
	Submounts []string
	// Copies, for a removal, are the other mount namespaces' copies of
	// Mount that an unmount here does not reach: they keep what is
	// mounted (a network namespace) alive after it.
	Copies []Copy
}

// Holder is a process that holds the mount, with its container.
type Holder struct {
	mountref.Holder
	// Copy: it holds a copy of the mount in its namespace, not the
	// mount itself; Point is where the copy is mounted there.
	Copy      bool
	Point     string
	Container *Container
}

// Copy is a mount namespace that holds a copy of the mount.
type Copy struct {
	MountNS uint64
	Point   string
	// Procs are its first processes, NProcs how many it has.
	Procs     []mountref.Process
	NProcs    int
	Container *Container
}

// Container is the containerd container whose task is in a holder's
// mount namespace.
type Container struct {
	ID, Namespace, Pod, PodNamespace string
}

// Kind implements tracer.Reason.
func (*Reason) Kind() tracer.ReasonKind { return tracer.ReasonBusy }

// Text names the mount and who holds it:
//
//	busy: tmpfs on /tmp/x (mount 46) is held by pid 5501 (sleep): cwd /tmp/x, on its copy in mnt:[4026532840] (looked up after the call)
func (r *Reason) Text(*tracer.Event) string {
	var b strings.Builder
	b.WriteString("busy: ")
	m := &r.Mount
	if r.Removing {
		b.WriteString(r.Path + " is a mount point: ")
	}
	b.WriteString(m.FSType)
	if root := mountref.NSInode(m.Root); root != 0 {
		b.WriteString(" " + m.Root)
	}
	b.WriteString(" on " + m.Point + " (mount " + strconv.Itoa(m.ID) + ")")
	if len(r.Holders) > 0 {
		b.WriteString(" is held by ")
		for i, h := range r.Holders {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString("pid " + strconv.Itoa(h.PID) + " (" + h.Comm + "): " + h.How)
			if h.Path != "" {
				b.WriteString(" " + h.Path)
			}
			if h.Copy {
				b.WriteString(", on its copy in mnt:[" + strconv.FormatUint(h.MountNS, 10) + "]")
			}
			if c := h.Container; c != nil {
				b.WriteString(", " + c.text())
			}
		}
	}
	if len(r.Submounts) > 0 {
		b.WriteString("; mounted on it: " + strings.Join(r.Submounts, ", "))
	}
	if len(r.Copies) > 0 {
		b.WriteString("; copies an unmount here does not reach: ")
		for i, c := range r.Copies {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("mnt:[" + strconv.FormatUint(c.MountNS, 10) + "]")
			for j, p := range c.Procs {
				if j == 0 {
					b.WriteString(" of ")
				} else {
					b.WriteString(", ")
				}
				b.WriteString("pid " + strconv.Itoa(p.PID) + " (" + p.Comm + ")")
			}
			if c.NProcs > len(c.Procs) {
				b.WriteString(" and " + strconv.Itoa(c.NProcs-len(c.Procs)) + " more")
			}
			if ct := c.Container; ct != nil {
				b.WriteString(", " + ct.text())
			}
		}
	}
	if r.More > 0 {
		b.WriteString("; and " + strconv.Itoa(r.More) + " more")
	}
	b.WriteString(" (looked up after the call)")
	return b.String()
}

func (c *Container) text() string {
	if c.Pod != "" {
		return "pod " + c.PodNamespace + "/" + c.Pod
	}
	return "container " + c.Namespace + "/" + c.ID
}

// AppendJSON implements tracer.Reason.
func (r *Reason) AppendJSON(b []byte) []byte {
	b = jsonw.StrLit(b, `"path":`, r.Path)
	b = jsonw.BoolLit(b, `"mount_point":`, r.Removing)
	b = append(jsonw.KeyLit(b, `"mount":`), '{')
	b = jsonw.IntLit(b, `"id":`, int64(r.Mount.ID))
	b = jsonw.StrLit(b, `"fstype":`, r.Mount.FSType)
	b = jsonw.StrLit(b, `"source":`, r.Mount.Source)
	b = jsonw.StrLit(b, `"root":`, r.Mount.Root)
	b = jsonw.StrLit(b, `"point":`, r.Mount.Point)
	b = append(b, '}')
	b = append(jsonw.KeyLit(b, `"holders":`), '[')
	for i, h := range r.Holders {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = jsonw.IntLit(b, `"pid":`, int64(h.PID))
		b = jsonw.StrLit(b, `"comm":`, h.Comm)
		b = jsonw.StrLit(b, `"how":`, h.How)
		b = jsonw.StrLit(b, `"ref":`, h.Path)
		b = jsonw.UintLit(b, `"mnt_ns":`, h.MountNS)
		b = jsonw.BoolLit(b, `"copy":`, h.Copy)
		if h.Copy {
			b = jsonw.StrLit(b, `"point":`, h.Point)
		}
		b = h.Container.appendJSON(b)
		b = append(b, '}')
	}
	b = append(b, ']')
	if len(r.Submounts) > 0 {
		b = jsonw.Strs(b, "submounts", r.Submounts)
	}
	if len(r.Copies) > 0 {
		b = append(jsonw.KeyLit(b, `"copies":`), '[')
		for i, c := range r.Copies {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			b = jsonw.UintLit(b, `"mnt_ns":`, c.MountNS)
			b = jsonw.StrLit(b, `"point":`, c.Point)
			b = append(jsonw.KeyLit(b, `"processes":`), '[')
			for j, p := range c.Procs {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, '{')
				b = jsonw.IntLit(b, `"pid":`, int64(p.PID))
				b = jsonw.StrLit(b, `"comm":`, p.Comm)
				b = append(b, '}')
			}
			b = append(b, ']')
			b = jsonw.IntLit(b, `"nprocesses":`, int64(c.NProcs))
			b = c.Container.appendJSON(b)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if r.More > 0 {
		b = jsonw.IntLit(b, `"more":`, int64(r.More))
	}
	return jsonw.StrLit(b, `"checked":`, "after")
}

func (c *Container) appendJSON(b []byte) []byte {
	if c == nil {
		return b
	}
	b = append(jsonw.KeyLit(b, `"container":`), '{')
	b = jsonw.StrLit(b, `"id":`, c.ID)
	b = jsonw.StrLit(b, `"namespace":`, c.Namespace)
	if c.Pod != "" {
		b = jsonw.StrLit(b, `"pod":`, c.Pod)
		b = jsonw.StrLit(b, `"pod_namespace":`, c.PodNamespace)
	}
	return append(b, '}')
}
