package correlate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"

	"github.com/ctrace-dev/ctrace/tracer"
)

// Reconnection backoff: quick at first (a restarted containerd is back in
// a second or two), at most every few seconds after.
const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 5 * time.Second
	// rpcTimeout bounds every call to containerd.
	rpcTimeout = 5 * time.Second
	// pruneEvery is how often deleted containers past their grace time
	// are forgotten.
	pruneEvery = 5 * time.Second
)

// connectLoop connects to containerd, and again after every loss, until
// ctx is done. It warns once while containerd cannot be reached at all,
// and once per loss of a live connection.
func (r *Resolver) connectLoop(ctx context.Context) {
	wait := backoffMin
	warned := false
	prune := time.NewTicker(pruneEvery)
	defer prune.Stop()
	for ctx.Err() == nil {
		addr := r.pickAddress()
		var err error
		start := time.Now()
		live := false
		if addr == "" {
			err = errors.New("no containerd socket at " + strings.Join(r.candidates(), ", "))
		} else {
			live, err = r.session(ctx, addr, prune.C)
		}
		if ctx.Err() != nil {
			return
		}
		if live {
			r.opts.Log(LevelWarn, fmt.Sprintf("containerd at %s: connection lost (%v); reconnecting, events meanwhile carry the container id only", addr, err))
			warned = true
		} else if !warned {
			r.opts.Log(LevelWarn, fmt.Sprintf("containerd not reachable: %v; tracing host and container processes anyway, containers named by id only until it is", err))
			warned = true
		}
		// A lost live connection starts the backoff over: a restarted
		// containerd is back within a second or two and starts
		// containers at once, which ctrace should see described.
		if live || time.Since(start) > 10*backoffMax {
			wait = backoffMin
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		case <-prune.C:
			r.mu.Lock()
			r.prune(time.Now())
			r.mu.Unlock()
		}
		wait = min(2*wait, backoffMax)
	}
}

func (r *Resolver) candidates() []string {
	if r.opts.Address != "" {
		return []string{r.opts.Address}
	}
	return KnownAddresses
}

// pickAddress returns the first candidate socket that exists.
func (r *Resolver) pickAddress() string {
	for _, a := range r.candidates() {
		if fileExists(a) {
			return a
		}
	}
	return ""
}

// session runs one connection: subscribe, resync, then apply events until
// the stream fails or ctx is done. live reports whether it got as far as
// resyncing.
func (r *Resolver) session(ctx context.Context, addr string, prune <-chan time.Time) (live bool, err error) {
	cl, err := client.New(addr, client.WithTimeout(rpcTimeout))
	if err != nil {
		return false, err
	}
	defer cl.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	vctx, vcancel := context.WithTimeout(sctx, rpcTimeout)
	_, err = cl.Version(vctx)
	vcancel()
	if err != nil {
		return false, err
	}
	// Subscribe first, so that nothing happens unseen between the list
	// and the stream.
	evs, errs := cl.Subscribe(sctx, `topic~="^/(tasks|containers|namespaces)/"`)
	if err := r.resync(sctx, cl); err != nil {
		return false, fmt.Errorf("list containers: %w", err)
	}
	r.mu.Lock()
	r.connected, r.address = true, addr
	r.notify()
	r.mu.Unlock()
	r.opts.Log(LevelInfo, "containerd at "+addr+": connected")
	defer func() {
		r.mu.Lock()
		r.connected, r.address = false, ""
		for k := range r.inflight {
			delete(r.inflight, k)
		}
		r.notify()
		r.mu.Unlock()
	}()
	for {
		select {
		case <-sctx.Done():
			return true, sctx.Err()
		case err := <-errs:
			if err == nil {
				err = errors.New("event stream closed")
			}
			return true, err
		case env := <-evs:
			if env == nil {
				continue
			}
			r.apply(sctx, cl, env.Namespace, env.Topic, env.Event)
		case k := <-r.fetches:
			r.fetch(sctx, cl, k)
		case <-prune:
			r.mu.Lock()
			r.prune(time.Now())
			r.mu.Unlock()
		}
	}
}

// resync replaces the cache's view of containerd with a fresh listing:
// containers gone while ctrace was not connected start their grace time.
func (r *Resolver) resync(ctx context.Context, cl *client.Client) error {
	lctx, cancel := context.WithTimeout(ctx, 4*rpcTimeout)
	defer cancel()
	nss, err := cl.NamespaceService().List(lctx)
	if err != nil {
		return err
	}
	type listed struct {
		c      containers.Container
		ns     string
		pids   []uint32
		status TaskState
	}
	var all []listed
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(lctx, ns)
		cs, err := cl.ContainerService().List(nctx)
		if err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
		ts, err := cl.TaskService().List(nctx, &tasksapi.ListTasksRequest{})
		if err != nil {
			return fmt.Errorf("namespace %s tasks: %w", ns, err)
		}
		pids := map[string]uint32{}
		states := map[string]TaskState{}
		for _, t := range ts.Tasks {
			pids[t.ID] = t.Pid
			states[t.ID] = taskState(t.Status)
		}
		for _, c := range cs {
			l := listed{c: c, ns: ns, status: states[c.ID]}
			if p := pids[c.ID]; p != 0 {
				l.pids = []uint32{p}
			}
			all = append(all, l)
		}
	}
	snaps := make([]containerSnapshot, len(all))
	layers := map[[2]string]snapshots.Info{}
	for i, l := range all {
		snaps[i] = snapshotOf(namespaces.WithNamespace(lctx, l.ns), cl, l.c, layers)
	}
	shims := make([]uint32, len(all))
	rootfs := make([]string, len(all))
	for i, l := range all {
		if len(l.pids) > 0 {
			shims[i] = r.shimPID(l.pids[0])
			rootfs[i] = r.bundleRootfs(shims[i], l.pids[0], l.ns, l.c.ID)
		}
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[key]bool{}
	r.nsKnown = map[string]bool{}
	for _, ns := range nss {
		r.nsKnown[ns] = true
	}
	for i, l := range all {
		c := fromContainerd(l.c, l.ns)
		c.ShimPID = shims[i]
		c.Snapshot, c.SnapshotDirs, c.RootfsLayers = snaps[i].root, snaps[i].dirs, snaps[i].layers
		c.Rootfs = rootfs[i]
		k := key{c.Namespace, c.ID}
		seen[k] = true
		r.put(c)
		var pid uint32
		for _, p := range l.pids {
			r.addPID(k, p)
			pid = p
		}
		r.setTask(k, l.status, pid)
	}
	for k, e := range r.byKey {
		if !seen[k] && !e.missing {
			r.markDeleted(k, now)
		}
	}
	return nil
}

// fromContainerd converts containerd's record of a container.
func fromContainerd(c containers.Container, ns string) Container {
	out := Container{
		ID:        c.ID,
		Namespace: ns,
		Known:     true,
		Image:     c.Image,
		Runtime:   c.Runtime.Name,
		Labels:    c.Labels,
	}
	out.fillCRI()
	out.NetNS = specNetNS(c.Spec)
	out.UIDMap, out.GIDMap = specIDMaps(c.Spec)
	return out
}

// specIDMaps reads the user namespace maps of a container's OCI spec,
// which containerd keeps as JSON.
func specIDMaps(spec typeurl.Any) (tracer.IDMap, tracer.IDMap) {
	if spec == nil {
		return nil, nil
	}
	var s struct {
		Linux *struct {
			UIDMappings []idMapping `json:"uidMappings"`
			GIDMappings []idMapping `json:"gidMappings"`
		} `json:"linux"`
	}
	if json.Unmarshal(spec.GetValue(), &s) != nil || s.Linux == nil {
		return nil, nil
	}
	return idMapOf(s.Linux.UIDMappings), idMapOf(s.Linux.GIDMappings)
}

type idMapping struct {
	ContainerID uint32 `json:"containerID"`
	HostID      uint32 `json:"hostID"`
	Size        uint32 `json:"size"`
}

func idMapOf(m []idMapping) tracer.IDMap {
	var out tracer.IDMap
	for _, e := range m {
		out = append(out, tracer.IDExtent{Inside: e.ContainerID, Outside: e.HostID, Count: e.Size})
	}
	return out
}

// specNetNS returns the network namespace path of an OCI spec, "" when
// it names none or cannot be read. Only the namespaces are decoded.
func specNetNS(spec typeurl.Any) string {
	if spec == nil {
		return ""
	}
	var s struct {
		Linux *struct {
			Namespaces []struct {
				Type string `json:"type"`
				Path string `json:"path"`
			} `json:"namespaces"`
		} `json:"linux"`
	}
	if err := json.Unmarshal(spec.GetValue(), &s); err != nil || s.Linux == nil {
		return ""
	}
	for _, n := range s.Linux.Namespaces {
		if n.Type == "network" {
			return n.Path
		}
	}
	return ""
}

// taskState converts containerd's task status.
func taskState(s tasktypes.Status) TaskState {
	switch s {
	case tasktypes.Status_CREATED:
		return TaskCreated
	case tasktypes.Status_RUNNING:
		return TaskRunning
	case tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
		return TaskPaused
	case tasktypes.Status_STOPPED:
		return TaskStopped
	}
	return TaskNone
}

// fetch asks containerd for one container an event named before the event
// stream did.
func (r *Resolver) fetch(ctx context.Context, cl *client.Client, k key) {
	c, err := r.get(ctx, cl, k)
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.inflight, k)
	switch {
	case err == nil:
		r.put(c)
	case errdefs.IsNotFound(err):
		if e := r.byKey[k]; e == nil {
			r.byKey[k] = &entry{c: Container{ID: k.id, Namespace: k.ns}, missing: true, checked: time.Now(), lastUsed: time.Now()}
			r.bound()
		}
	default:
		// Leave it: a later event asks again.
	}
	r.notify()
}

func (r *Resolver) get(ctx context.Context, cl *client.Client, k key) (Container, error) {
	gctx, cancel := context.WithTimeout(namespaces.WithNamespace(ctx, k.ns), rpcTimeout)
	defer cancel()
	cc, err := cl.ContainerService().Get(gctx, k.id)
	if err != nil {
		return Container{}, err
	}
	c := fromContainerd(cc, k.ns)
	sn := snapshotOf(gctx, cl, cc, nil)
	c.Snapshot, c.SnapshotDirs, c.RootfsLayers = sn.root, sn.dirs, sn.layers
	return c, nil
}

// apply updates the cache from one containerd event.
func (r *Resolver) apply(ctx context.Context, cl *client.Client, ns, topic string, any typeurl.Any) {
	if any == nil {
		return
	}
	v, err := typeurl.UnmarshalAny(any)
	if err != nil {
		return
	}
	now := time.Now()
	switch e := v.(type) {
	case *apievents.NamespaceCreate:
		r.mu.Lock()
		r.nsKnown[e.Name] = true
		r.notify()
		r.mu.Unlock()
	case *apievents.NamespaceDelete:
		r.mu.Lock()
		delete(r.nsKnown, e.Name)
		r.mu.Unlock()
	case *apievents.ContainerCreate, *apievents.ContainerUpdate:
		var id string
		if cc, ok := e.(*apievents.ContainerCreate); ok {
			id = cc.ID
		} else {
			id = e.(*apievents.ContainerUpdate).ID
		}
		// The event lacks the labels: get the whole record now. A
		// container deleted before this runs keeps what the event said.
		k := key{ns, id}
		c, err := r.get(ctx, cl, k)
		if err != nil {
			cc, ok := e.(*apievents.ContainerCreate)
			if !ok {
				return
			}
			c = Container{ID: cc.ID, Namespace: ns, Known: true, Image: cc.Image}
			if cc.Runtime != nil {
				c.Runtime = cc.Runtime.Name
			}
		}
		r.mu.Lock()
		deleted := false
		if old := r.byKey[k]; old != nil && !old.deleted.IsZero() {
			deleted = true
		}
		r.put(c)
		if deleted {
			r.markDeleted(k, now)
		}
		r.notify()
		r.mu.Unlock()
	case *apievents.ContainerDelete:
		r.mu.Lock()
		k := key{ns, e.ID}
		if r.byKey[k] == nil {
			// Created and deleted between two looks: remember that it
			// existed, for the events still to be read.
			r.put(Container{ID: e.ID, Namespace: ns})
		}
		r.markDeleted(k, now)
		r.notify()
		r.mu.Unlock()
	case *apievents.TaskCreate:
		shim := r.shimPID(e.Pid)
		r.mu.Lock()
		k := key{ns, e.ContainerID}
		r.addPID(k, e.Pid)
		if ent := r.byKey[k]; ent != nil {
			if shim != 0 {
				ent.c.ShimPID = shim
			}
			if e.Bundle != "" {
				ent.c.Rootfs = filepath.Join(e.Bundle, "rootfs")
			}
		}
		r.setTask(k, TaskCreated, e.Pid)
		r.notify()
		r.mu.Unlock()
	case *apievents.TaskExecStarted:
		r.mu.Lock()
		r.addPID(key{ns, e.ContainerID}, e.Pid)
		r.mu.Unlock()
	case *apievents.TaskExit:
		r.mu.Lock()
		k := key{ns, e.ContainerID}
		r.exitPID(k, e.Pid, now)
		// An exec's exit leaves the task running.
		if ent := r.byKey[k]; ent != nil && (e.ID == e.ContainerID || e.Pid == ent.c.TaskPID) {
			r.setTask(k, TaskStopped, 0)
		}
		r.mu.Unlock()
	case *apievents.TaskStart:
		r.mu.Lock()
		r.setTask(key{ns, e.ContainerID}, TaskRunning, e.Pid)
		r.mu.Unlock()
	case *apievents.TaskPaused:
		r.mu.Lock()
		r.setTask(key{ns, e.ContainerID}, TaskPaused, 0)
		r.mu.Unlock()
	case *apievents.TaskResumed:
		r.mu.Lock()
		r.setTask(key{ns, e.ContainerID}, TaskRunning, 0)
		r.mu.Unlock()
	case *apievents.TaskDelete:
		r.mu.Lock()
		if e.ID == "" || e.ID == e.ContainerID {
			r.setTask(key{ns, e.ContainerID}, TaskNone, 0)
		}
		r.mu.Unlock()
	}
}
