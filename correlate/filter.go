package correlate

import (
	"fmt"
	"strings"
)

// Filter selects events by container. Each set field must match (AND);
// within a field any value may (OR). The zero Filter matches everything.
//
// Filters apply in userspace, after resolution: a container that starts
// after ctrace has none of its ids known in advance, and a `runc` or shim
// event is only tied to its container by its command line. Pushing them
// into the kernel is possible later for the part that a cgroup id decides
// (a map of the cgroup ids of the chosen containers' /NS/ID or
// ...-ID.scope directories, filled as containers are created and checked
// before a record is reserved); runc and the shims would still have to
// pass, as they run in the root cgroup.
type Filter struct {
	// Containers: a full id, a prefix of one (at least 3 characters), or
	// a name (the Kubernetes container name or nerdctl's name).
	Containers []string
	// Namespaces: containerd namespaces.
	Namespaces []string
	// Pods: Kubernetes pod names or UIDs.
	Pods []string
	// PodNamespaces: Kubernetes namespaces.
	PodNamespaces []string
	// Host keeps host processes only: those of no container.
	Host bool
}

// Validate reports contradictory or malformed filters.
func (f *Filter) Validate() error {
	if f.Host && (len(f.Containers) > 0 || len(f.Namespaces) > 0 || len(f.Pods) > 0 || len(f.PodNamespaces) > 0) {
		return fmt.Errorf("--host selects host processes only and cannot be combined with container filters")
	}
	for _, c := range f.Containers {
		if strings.TrimSpace(c) == "" {
			return fmt.Errorf("empty container name or id")
		}
	}
	return nil
}

// Empty reports whether f keeps every event.
func (f *Filter) Empty() bool {
	return !f.Host && len(f.Containers) == 0 && len(f.Namespaces) == 0 && len(f.Pods) == 0 && len(f.PodNamespaces) == 0
}

// Match reports whether an event of container c (nil: a host process)
// passes the filter.
func (f *Filter) Match(c *Container) bool {
	if f.Host {
		return c == nil
	}
	if f.Empty() {
		return true
	}
	if c == nil {
		return false
	}
	if len(f.Containers) > 0 && !anyOf(f.Containers, func(v string) bool { return c.matchesName(v) }) {
		return false
	}
	if len(f.Namespaces) > 0 && !anyOf(f.Namespaces, func(v string) bool { return v == c.Namespace }) {
		return false
	}
	if len(f.Pods) > 0 && !anyOf(f.Pods, func(v string) bool { return v == c.Pod || (c.PodUID != "" && v == c.PodUID) }) {
		return false
	}
	if len(f.PodNamespaces) > 0 && !anyOf(f.PodNamespaces, func(v string) bool { return v == c.PodNamespace }) {
		return false
	}
	return true
}

// matchesName reports whether v is c's id, a prefix of it, or its name.
func (c *Container) matchesName(v string) bool {
	if v == c.ID || (len(v) >= 3 && strings.HasPrefix(c.ID, v)) {
		return true
	}
	return v == c.Name()
}

// Ambiguous returns the ids of the known containers that a --container
// value selects when it selects more than one by id prefix: such a value
// names no container on its own, and the caller should say so.
func Ambiguous(v string, known []*Container) []string {
	var ids []string
	for _, c := range known {
		if c.ID != v && len(v) >= 3 && strings.HasPrefix(c.ID, v) {
			ids = append(ids, c.Namespace+"/"+c.ID)
		}
	}
	if len(ids) < 2 {
		return nil
	}
	return ids
}

func anyOf(vs []string, f func(string) bool) bool {
	for _, v := range vs {
		if f(v) {
			return true
		}
	}
	return false
}
