package correlate

import (
	"context"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ctrace-dev/ctrace/tracer"
)

// DefaultAddress is containerd's socket on most nodes.
const DefaultAddress = "/run/containerd/containerd.sock"

// KnownAddresses are the sockets tried, in order, when Options.Address is
// empty: containerd's own default, then the one k3s and RKE2 run (RKE2
// embeds k3s's containerd set-up and shares its socket path), then
// MicroK8s's.
var KnownAddresses = []string{
	DefaultAddress,
	"/run/k3s/containerd/containerd.sock",
	"/var/snap/microk8s/common/run/containerd.sock",
}

// Defaults of Options.
const (
	DefaultMaxContainers = 16384
	// DefaultGrace is how long a deleted container stays known: events
	// read late from the ring buffer (or held for their audit records)
	// still find a container that lived for a few milliseconds.
	DefaultGrace = 30 * time.Second
)

// Options configure a Resolver. The zero value works: it finds
// containerd's socket itself.
type Options struct {
	// Address is containerd's socket; "" tries KnownAddresses in order
	// and keeps watching them until one answers.
	Address string
	// MaxContainers bounds the cache, live and recently deleted
	// containers together; 0 means DefaultMaxContainers.
	MaxContainers int
	// Grace is how long a deleted container is remembered; 0 means
	// DefaultGrace.
	Grace time.Duration
	// ProcRoot is where /proc is mounted ("" means /proc); tests and a
	// debug pod with the host's /proc at /host/proc set it.
	ProcRoot string
	// Log receives the resolver's notices: connected, lost, the one
	// warning when containerd cannot be reached. nil discards them.
	Log func(level Level, msg string)
	// Watch, when set, is told every change of a container's record:
	// created, updated, its task's state, deleted. It is called with the
	// resolver's lock held, so it must be quick and must not call the
	// Resolver. Stages that index containers by something else than the
	// event's identity (the netns index: by network namespace path) keep
	// their index fresh through it, without a second containerd client.
	Watch func(Container)
}

// Level is the severity of a notice passed to Options.Log.
type Level int

// Notice levels.
const (
	LevelInfo Level = iota
	LevelWarn
)

// Resolver ties tracer events to containerd containers. It keeps a bounded
// cache of containers, fed by containerd's event stream and resynced on
// every (re)connect; what containerd has not told yet is read from the
// event itself (cgroup path, runtime command line) and from /proc. All of
// its methods are safe for concurrent use.
type Resolver struct {
	opts   Options
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	byKey     map[key]*entry
	byPID     map[uint32]pidEntry
	nsKnown   map[string]bool
	connected bool   // a session is live and has resynced
	address   string // of the live session
	changed   chan struct{}
	fetches   chan key
	inflight  map[key]bool
	// kernelCgroups is set once an event carried a cgroup path: from
	// then on an event without one is in the root cgroup (a host
	// process), and /proc need not be read to find out.
	kernelCgroups bool
	proc          procCache
	// cgroupIDs memoizes fromCgroup, which a storm of events from a
	// few cgroups would otherwise parse with regexps for each event.
	cgroupIDs map[string]cgroupID
}

type cgroupID struct {
	id ident
	ok bool
}

// maxCgroupIDs bounds Resolver.cgroupIDs; past it, it starts again.
const maxCgroupIDs = 4096

type key struct{ ns, id string }

type entry struct {
	c        Container
	deleted  time.Time // zero while the container exists
	missing  bool      // containerd did not know the id when asked
	checked  time.Time // when missing was found
	lastUsed time.Time
	// pids are the container's task and exec processes that have not
	// exited, oldest first, at most maxPIDsPerContainer: a container that
	// takes an exec probe every few seconds for a week must not keep one
	// entry per exec.
	pids []uint32
}

// maxPIDsPerContainer bounds entry.pids where exits went unseen (events
// lost while containerd was unreachable): past it, the oldest pid is
// forgotten after the grace time, as if it had exited.
const maxPIDsPerContainer = 1024

type pidEntry struct {
	k       key
	expires time.Time // zero while the process is alive
}

// Open starts a Resolver. It never fails because containerd is absent:
// it says so once through Options.Log and connects when containerd
// appears; events are resolved from what they carry meanwhile. ctx bounds
// the resolver's life as Close does.
func Open(ctx context.Context, opts Options) (*Resolver, error) {
	if opts.MaxContainers <= 0 {
		opts.MaxContainers = DefaultMaxContainers
	}
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.Log == nil {
		opts.Log = func(Level, string) {}
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &Resolver{
		opts:     opts,
		cancel:   cancel,
		byKey:    map[key]*entry{},
		byPID:    map[uint32]pidEntry{},
		nsKnown:  map[string]bool{},
		changed:  make(chan struct{}),
		fetches:  make(chan key, 1024),
		inflight: map[key]bool{},
		proc:     procCache{root: opts.ProcRoot, m: map[uint32]procResult{}},
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.connectLoop(ctx)
	}()
	return r, nil
}

// Close stops the resolver's goroutines and waits for them.
func (r *Resolver) Close() error {
	r.cancel()
	r.wg.Wait()
	return nil
}

// Connected reports whether the resolver is connected to containerd and
// has read its containers, and through which socket.
func (r *Resolver) Connected() (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.connected, r.address
}

// WaitConnected waits until the resolver is connected or ctx is done.
func (r *Resolver) WaitConnected(ctx context.Context) bool {
	for {
		r.mu.Lock()
		ok, ch := r.connected, r.changed
		r.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
	}
}

// Resolve returns the container ev's process belongs to, nil for a host
// process. It never waits for containerd: a container whose metadata is
// not cached yet comes back with its ID and Namespace only (Known false)
// and is fetched in the background, so that the next event of it, or
// the same event resolved again through a Queue, finds it.
func (r *Resolver) Resolve(ev *tracer.Event) *Container {
	c, _ := r.resolve(ev)
	return c
}

// resolve also reports whether waiting could still fill in the container's
// metadata: the id is known, containerd is connected, and has not said
// yet that it does not know the container.
func (r *Resolver) resolve(ev *tracer.Event) (*Container, bool) {
	id, ok := r.identify(ev)
	if !ok {
		return nil, false
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.lookup(id)
	if e != nil && !e.missing {
		e.lastUsed = now
		c := e.c.clone()
		c.Source = id.Source
		if c.PodUID == "" {
			c.PodUID = id.PodUID
		}
		return c, false
	}
	// A /NS/ID cgroup path in a namespace containerd does not have is a
	// host cgroup that happens to have that shape.
	if r.connected && id.Source == SourceCgroup && id.PodUID == "" && id.Namespace != "" &&
		!strings.HasPrefix(ev.Proc.Cgroup, "/kubepods") && !r.nsKnown[id.Namespace] {
		return nil, false
	}
	c := &Container{ID: id.ID, Namespace: id.Namespace, PodUID: id.PodUID, Source: id.Source}
	if !r.connected || id.Namespace == "" {
		return c, false
	}
	if e != nil && e.missing {
		return c, false
	}
	r.requestFetch(key{id.Namespace, id.ID})
	return c, true
}

// lookup finds the entry of id; with r.mu held.
func (r *Resolver) lookup(id ident) *entry {
	if e := r.byKey[key{id.Namespace, id.ID}]; e != nil {
		return e
	}
	if id.Source == SourceCgroup && id.Namespace == "k8s.io" {
		// Guessed from a kubepods path: the CRI plugin may run in
		// another namespace.
		var found *entry
		for k, e := range r.byKey {
			if k.id == id.ID {
				if found != nil {
					return nil
				}
				found = e
			}
		}
		return found
	}
	return nil
}

// requestFetch asks the session to get a container from containerd; with
// r.mu held. It never blocks: when too many are asked for at once, the
// rest are answered from the event stream or not at all.
func (r *Resolver) requestFetch(k key) {
	if r.inflight[k] {
		return
	}
	select {
	case r.fetches <- k:
		r.inflight[k] = true
	default:
	}
}

// identify finds which container ev's process belongs to from the event
// itself, then from containerd's task pids, then from /proc.
func (r *Resolver) identify(ev *tracer.Event) (ident, bool) {
	p := &ev.Proc
	// A runtime's command line names the container it works on; it
	// wins over the cgroup, where runc and the shim sit outside it.
	if id, ok := fromCmdline(p.Cmdline); ok {
		return id, true
	}
	if p.Cgroup != "" {
		r.mu.Lock()
		r.kernelCgroups = true
		cg, seen := r.cgroupIDs[p.Cgroup]
		r.mu.Unlock()
		if !seen {
			cg.id, cg.ok = fromCgroup(p.Cgroup)
			r.mu.Lock()
			if r.cgroupIDs == nil || len(r.cgroupIDs) >= maxCgroupIDs {
				r.cgroupIDs = map[string]cgroupID{}
			}
			r.cgroupIDs[p.Cgroup] = cg
			r.mu.Unlock()
		}
		if cg.ok {
			return cg.id, true
		}
	}
	r.mu.Lock()
	pe, ok := r.byPID[p.PID]
	kc := r.kernelCgroups
	r.mu.Unlock()
	if ok {
		return ident{Namespace: pe.k.ns, ID: pe.k.id, Source: SourcePID}, true
	}
	runtime := isRuntimeComm(p.Comm)
	if kc && !runtime {
		// The kernel reads cgroup paths: no path is the root cgroup.
		return ident{}, false
	}
	return r.proc.identify(p, runtime)
}

// isRuntimeComm reports whether a comm is runc's (any of its stages) or a
// containerd shim's, as the kernel side tells runtime processes apart.
func isRuntimeComm(comm string) bool {
	return strings.HasPrefix(comm, "runc") || strings.HasPrefix(comm, "containerd-shim")
}

// changedCh returns a channel closed at the next change of the cache or
// of the connection.
func (r *Resolver) changedCh() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// notify wakes the waiters of changedCh; with r.mu held.
func (r *Resolver) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Containers returns the containers the resolver knows now, deleted ones
// within their grace time included.
func (r *Resolver) Containers() []*Container {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Container, 0, len(r.byKey))
	for _, e := range r.byKey {
		if !e.missing {
			out = append(out, e.c.clone())
		}
	}
	return out
}

// put stores what containerd said about a container; with r.mu held.
func (r *Resolver) put(c Container) *entry {
	k := key{c.Namespace, c.ID}
	e := r.byKey[k]
	if e == nil {
		e = &entry{}
		r.byKey[k] = e
	}
	old := e.c
	e.c = c
	if e.c.ShimPID == 0 {
		e.c.ShimPID = old.ShimPID
	}
	if e.c.Rootfs == "" {
		e.c.Rootfs = old.Rootfs
	}
	// A container record does not carry its task's state: the task
	// events and the listing do.
	if e.c.Task == TaskNone && e.c.TaskPID == 0 {
		e.c.Task, e.c.TaskPID = old.Task, old.TaskPID
	}
	e.c.Deleted = time.Time{}
	e.missing, e.deleted = false, time.Time{}
	e.lastUsed = time.Now()
	r.nsKnown[c.Namespace] = true
	r.watch(e)
	r.bound()
	return e
}

// watch tells Options.Watch of a change of e; with r.mu held.
func (r *Resolver) watch(e *entry) {
	if r.opts.Watch != nil && e != nil && !e.missing {
		r.opts.Watch(*e.c.clone())
	}
}

// setTask records a change of a container's task; with r.mu held.
func (r *Resolver) setTask(k key, st TaskState, pid uint32) {
	e := r.byKey[k]
	if e == nil {
		return
	}
	e.c.Task = st
	if pid != 0 || st == TaskNone {
		e.c.TaskPID = pid
	}
	r.watch(e)
}

// addPID records a task or exec process of a container; with r.mu held.
func (r *Resolver) addPID(k key, pid uint32) {
	if pid == 0 {
		return
	}
	r.byPID[pid] = pidEntry{k: k}
	e := r.byKey[k]
	if e == nil || slices.Contains(e.pids, pid) {
		return // a resync lists the task's pid again
	}
	if len(e.pids) >= maxPIDsPerContainer {
		r.expirePID(k, e.pids[0], time.Now())
		e.pids = slices.Delete(e.pids, 0, 1)
	}
	e.pids = append(e.pids, pid)
}

// exitPID notes that a container's process exited: it is still resolved
// for the grace time, for the events read late, and the container no
// longer lists it; with r.mu held.
func (r *Resolver) exitPID(k key, pid uint32, now time.Time) {
	r.expirePID(k, pid, now)
	if e := r.byKey[k]; e != nil {
		if i := slices.Index(e.pids, pid); i >= 0 {
			e.pids = slices.Delete(e.pids, i, i+1)
		}
	}
}

// expirePID starts the grace time of pid, if it is still k's; with r.mu
// held.
func (r *Resolver) expirePID(k key, pid uint32, now time.Time) {
	if pe, ok := r.byPID[pid]; ok && pe.k == k && pe.expires.IsZero() {
		r.byPID[pid] = pidEntry{k: k, expires: now.Add(r.opts.Grace)}
	}
}

// ResolverStats are the sizes of what a Resolver keeps: each is bounded
// (Options.MaxContainers, maxPIDsPerContainer, the grace time).
type ResolverStats struct {
	Containers int // live, recently deleted and "not found" entries
	PIDs       int // processes tied to a container by containerd's events
	// MaxContainerPIDs is the most processes any one container lists.
	MaxContainerPIDs int
}

// Stats returns the sizes of the resolver's caches now.
func (r *Resolver) Stats() ResolverStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.statsLocked()
}

func (r *Resolver) statsLocked() ResolverStats {
	st := ResolverStats{Containers: len(r.byKey), PIDs: len(r.byPID)}
	for _, e := range r.byKey {
		st.MaxContainerPIDs = max(st.MaxContainerPIDs, len(e.pids))
	}
	return st
}

// markDeleted starts a container's grace time; with r.mu held.
func (r *Resolver) markDeleted(k key, now time.Time) {
	e := r.byKey[k]
	if e == nil || !e.deleted.IsZero() {
		return
	}
	e.deleted = now
	e.c.Deleted = now
	r.watch(e)
	for _, pid := range e.pids {
		r.expirePID(k, pid, now)
	}
	e.pids = nil
}

// prune forgets deleted containers whose grace time is over and answers
// of "not found" old enough to ask again; with r.mu held.
func (r *Resolver) prune(now time.Time) {
	for k, e := range r.byKey {
		if (!e.deleted.IsZero() && now.Sub(e.deleted) > r.opts.Grace) ||
			(e.missing && now.Sub(e.checked) > r.opts.Grace) {
			delete(r.byKey, k)
		}
	}
	for pid, pe := range r.byPID {
		if !pe.expires.IsZero() && now.After(pe.expires) {
			delete(r.byPID, pid)
		}
	}
	r.proc.prune(now)
}

// bound keeps the cache within MaxContainers: "not found" answers go
// first, then deleted containers, then the live ones used least recently
// (a live container evicted is fetched again when an event needs it).
func (r *Resolver) bound() {
	over := len(r.byKey) - r.opts.MaxContainers
	if over <= 0 {
		return
	}
	// Evict a tenth at once so that a full cache does not scan on every
	// insertion.
	n := over + r.opts.MaxContainers/10
	for rank := 0; rank < 3 && n > 0; rank++ {
		var victims []key
		var ages []time.Time
		for k, e := range r.byKey {
			switch {
			case rank == 0 && e.missing, rank == 1 && !e.deleted.IsZero():
				victims, ages = append(victims, k), append(ages, e.lastUsed)
			case rank == 2:
				victims, ages = append(victims, k), append(ages, e.lastUsed)
			}
		}
		sortByAge(victims, ages)
		for i := 0; i < len(victims) && n > 0; i++ {
			r.forget(victims[i])
			n--
		}
	}
}

func (r *Resolver) forget(k key) {
	if e := r.byKey[k]; e != nil {
		for _, pid := range e.pids {
			if pe, ok := r.byPID[pid]; ok && pe.k == k {
				delete(r.byPID, pid)
			}
		}
	}
	delete(r.byKey, k)
}

func sortByAge(ks []key, ts []time.Time) {
	idx := make([]int, len(ks))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return ts[idx[a]].Before(ts[idx[b]]) })
	k2 := make([]key, len(ks))
	for i, j := range idx {
		k2[i] = ks[j]
	}
	copy(ks, k2)
}

// shimPID returns the parent of a task's init process, which is the shim
// that runs it (runc's parent exits; the shim is the child subreaper).
func (r *Resolver) shimPID(pid uint32) uint32 {
	st, err := readStat(r.opts.ProcRoot, pid)
	if err != nil {
		return 0
	}
	pp, err := readStat(r.opts.ProcRoot, st.ppid)
	if err != nil || !strings.HasPrefix(pp.comm, "containerd-shim") {
		return 0
	}
	return st.ppid
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode()&os.ModeSocket != 0
}
