// Package correlate says which containerd container a traced event came
// from: the "who" stage of ctrace's pipeline, between the tracer and the
// output.
//
// What the kernel captured with the event comes first, because it still
// holds when the process, and the container, are gone by the time the
// event is read (a container that fails a mount may live 5 ms):
//
//   - the cgroup v2 path: containerd puts a container at /NS/ID without
//     Kubernetes; the kubelet's systemd driver at
//     /kubepods.slice/.../cri-containerd-ID.scope, its cgroupfs driver at
//     /kubepods/QOS/podUID/ID. Every `runc init` stage runs there too.
//   - the command line of runc and of the containerd shims, which sit
//     outside the container's cgroup: the shim's -namespace and -id,
//     runc's --bundle .../NS/ID (or --root .../runc/NS and the trailing id).
//
// Then the pids containerd reported for tasks and execs, and last /proc of
// the process (and, for runtime processes, of its parents) while it lives.
//
// containerd's metadata (image, runtime, labels, the shim's pid, the CRI
// labels that name the pod) comes from a cache that the containerd event
// stream keeps fresh: it is listed whole on every (re)connect, updated from
// /containers/* and /tasks/* events, and pruned a grace time after a
// container is deleted, so that events read late still find it. The cache
// is bounded. Resolve never waits for containerd; a Queue holds events
// briefly, in order, while a container the event named is fetched.
//
// Data flows one way: correlate reads tracer.Events; tracer knows nothing
// of it.
package correlate
