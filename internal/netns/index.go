package netns

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ctrace-dev/ctrace/correlate"
)

// Container states an Owner can have. A task that exists (created,
// running or paused) holds the namespace: it counts as running.
const (
	Running = "running"
	Stopped = "stopped"
	Deleted = "deleted"
)

// Defaults of IndexOptions.
const (
	// DefaultMemory is how long a deleted container is remembered: a
	// sandbox's namespace file outlives it when its teardown stopped
	// half-way, and calls fail on the file minutes later (the kubelet
	// retries; an operator runs `ip netns exec`). Longer than
	// correlate's grace, which only has to cover events read late.
	DefaultMemory = 10 * time.Minute
	// DefaultMax bounds the containers indexed.
	DefaultMax = 16384
)

// IndexOptions configure an Index.
type IndexOptions struct {
	// Root is the host root ("" for this file system).
	Root string
	// Memory is how long a deleted container is remembered; 0 means
	// DefaultMemory.
	Memory time.Duration
	// Max bounds the containers indexed; 0 means DefaultMax.
	Max int
	// now is the clock, for tests.
	now func() time.Time
}

// Index maps network namespace files to the containers whose specs name
// them. Feed it with Observe, as correlate.Options.Watch. Its methods are
// safe for concurrent use.
type Index struct {
	opts IndexOptions

	mu     sync.Mutex
	byKey  map[ckey]*Owner
	byPath map[string]map[ckey]bool
	dirs   map[string]string // directory -> its canonical form
}

type ckey struct{ ns, id string }

// Owner is a container that names a network namespace file.
type Owner struct {
	ContainerRef
	// Path is the file as the spec names it; Canonical with its
	// directory's links resolved.
	Path, Canonical string
	// Deleted is when containerd deleted the container.
	Deleted time.Time
	// TaskPID is the task's init process, 0 without a task.
	TaskPID uint32
}

// NewIndex returns an empty index.
func NewIndex(opts IndexOptions) *Index {
	if opts.Memory <= 0 {
		opts.Memory = DefaultMemory
	}
	if opts.Max <= 0 {
		opts.Max = DefaultMax
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	return &Index{opts: opts, byKey: map[ckey]*Owner{}, byPath: map[string]map[ckey]bool{}, dirs: map[string]string{}}
}

// Observe records what containerd said of a container. Containers that
// name no file, or one under /proc (a Kubernetes app container joins its
// sandbox through /proc/PID/ns/net), are not indexed.
func (x *Index) Observe(c correlate.Container) {
	k := ckey{c.Namespace, c.ID}
	x.mu.Lock()
	defer x.mu.Unlock()
	old := x.byKey[k]
	if c.NetNS == "" || strings.HasPrefix(c.NetNS, "/proc/") {
		if old != nil {
			x.forget(k)
		}
		return
	}
	if old != nil && old.Path != c.NetNS {
		x.forget(k)
		old = nil
	}
	o := &Owner{
		ContainerRef: ContainerRef{ID: c.ID, Namespace: c.Namespace, Pod: c.Pod, PodNamespace: c.PodNamespace,
			State: ownerState(c)},
		Path: c.NetNS, Deleted: c.Deleted, TaskPID: c.TaskPID,
	}
	if old != nil {
		o.Canonical = old.Canonical
		if o.Pod == "" { // a record fetched from a task event only
			o.Pod, o.PodNamespace = old.Pod, old.PodNamespace
		}
	} else {
		o.Canonical = x.canonical(c.NetNS)
	}
	x.byKey[k] = o
	if x.byPath[o.Canonical] == nil {
		x.byPath[o.Canonical] = map[ckey]bool{}
	}
	x.byPath[o.Canonical][k] = true
	if old == nil {
		x.prune()
	}
}

func ownerState(c correlate.Container) string {
	switch {
	case !c.Deleted.IsZero():
		return Deleted
	case c.Task == correlate.TaskRunning, c.Task == correlate.TaskPaused, c.Task == correlate.TaskCreated:
		return Running
	}
	return Stopped
}

// canonical resolves a directory once; with x.mu held.
func (x *Index) canonical(path string) string {
	dir := path
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		dir = path[:i]
	}
	if c, ok := x.dirs[dir]; ok {
		return c + path[len(dir):]
	}
	c := Canonical(x.opts.Root, path)
	if len(x.dirs) < maxDirs && strings.HasSuffix(c, path[len(dir):]) {
		cdir := strings.TrimSuffix(c, path[len(dir):])
		x.dirs[dir] = cdir
		x.dirs[cdir] = cdir // the kernel's spelling of the same files
	}
	return c
}

// maxDirs bounds the directories whose canonical form is remembered: the
// directories of the files the specs name, which are few.
const maxDirs = 256

// mayName reports, cheaply, whether path may be a file an indexed
// container names: its directory is one of theirs, as the spec or the
// kernel spells it, or one of Dirs (which the directories of the specs
// may be links to). Lookup of any other path would resolve its directory
// for nothing, and most failures that pass are opens of such paths;
// with x.mu held.
func (x *Index) mayName(path string) bool {
	if len(x.byKey) == 0 {
		return false
	}
	if len(x.dirs) >= maxDirs || Under(path) {
		return true
	}
	dir := path
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		dir = path[:i]
	}
	_, ok := x.dirs[dir]
	return ok
}

// forget drops a container; with x.mu held.
func (x *Index) forget(k ckey) {
	o := x.byKey[k]
	if o == nil {
		return
	}
	delete(x.byKey, k)
	if m := x.byPath[o.Canonical]; m != nil {
		delete(m, k)
		if len(m) == 0 {
			delete(x.byPath, o.Canonical)
		}
	}
}

// prune forgets deleted containers older than Memory and, past Max, the
// oldest deleted ones, then any; with x.mu held.
func (x *Index) prune() {
	now := x.opts.now()
	for k, o := range x.byKey {
		if !o.Deleted.IsZero() && now.Sub(o.Deleted) > x.opts.Memory {
			x.forget(k)
		}
	}
	if len(x.byKey) <= x.opts.Max {
		return
	}
	ks := make([]ckey, 0, len(x.byKey))
	for k := range x.byKey {
		ks = append(ks, k)
	}
	// Deleted first, oldest deletion first.
	sort.Slice(ks, func(i, j int) bool {
		a, b := x.byKey[ks[i]], x.byKey[ks[j]]
		if a.Deleted.IsZero() != b.Deleted.IsZero() {
			return !a.Deleted.IsZero()
		}
		return a.Deleted.Before(b.Deleted)
	})
	for _, k := range ks[:len(ks)-x.opts.Max] {
		x.forget(k)
	}
}

// Lookup returns the container whose spec names path (as the spec or the
// kernel spells it): a running one before a stopped one, before the one
// deleted last.
func (x *Index) Lookup(path string) (Owner, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.mayName(path) {
		return Owner{}, false
	}
	m := x.byPath[x.canonical(path)]
	var best *Owner
	for k := range m {
		o := x.byKey[k]
		if o.State == Deleted && x.opts.now().Sub(o.Deleted) > x.opts.Memory {
			continue
		}
		if best == nil || better(o, best) {
			best = o
		}
	}
	if best == nil {
		return Owner{}, false
	}
	return *best, true
}

func better(a, b *Owner) bool {
	rank := map[string]int{Running: 0, Stopped: 1, Deleted: 2}
	if rank[a.State] != rank[b.State] {
		return rank[a.State] < rank[b.State]
	}
	if a.Deleted.Equal(b.Deleted) {
		return a.ID < b.ID
	}
	return a.Deleted.After(b.Deleted)
}

// Owners returns every container indexed, deleted ones included.
func (x *Index) Owners() []Owner {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]Owner, 0, len(x.byKey))
	for _, o := range x.byKey {
		out = append(out, *o)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].ID < out[j].ID
	})
	return out
}
