package correlate

import (
	"strings"
	"time"

	"github.com/ctrace-dev/ctrace/tracer"
)

// TaskState is the state of a container's task as containerd reports it.
type TaskState string

// Task states; TaskNone is a container without a task (never started, or
// its task deleted).
const (
	TaskNone    TaskState = ""
	TaskCreated TaskState = "created"
	TaskRunning TaskState = "running"
	TaskPaused  TaskState = "paused"
	TaskStopped TaskState = "stopped"
)

// Container is the containerd container an event belongs to, as far as
// it is known. A nil *Container means a host process.
type Container struct {
	// ID is containerd's container id; Namespace its containerd
	// namespace ("default", "k8s.io", "moby", ...).
	ID        string
	Namespace string
	// Known is set when containerd's metadata (Image, Runtime, Labels)
	// is filled in; without it only ID, Namespace and PodUID are, as the
	// event itself named them (containerd unreachable, or the container
	// already gone from containerd when it was asked).
	Known bool
	// Source says how the event was tied to the container.
	Source Source

	Image   string // image reference; "" for containers made from a rootfs
	Runtime string // "io.containerd.runc.v2"
	// ShimPID is the pid of the containerd shim that runs the container's
	// task; 0 when unknown (no task yet, or containerd unreachable).
	ShimPID uint32
	// Labels are all of the container's labels. Output shows only the
	// Kubernetes ones by default: see KubeLabels.
	Labels map[string]string

	// NetNS is the network namespace file the container's OCI spec names
	// (linux.namespaces[type=network].path, as a host path): a pod
	// sandbox's /var/run/netns/cni-..., a `ctr run --with-ns` file. ""
	// when the spec gives none (a namespace of its own, or the host's).
	NetNS string
	// Task is the state of the container's task as containerd last
	// said: TaskNone, TaskCreated, TaskRunning, TaskPaused, TaskStopped.
	Task TaskState
	// TaskPID is the pid of the task's init process; 0 without a task.
	TaskPID uint32
	// Deleted is when containerd deleted the container: Containers
	// returns deleted ones during their grace time. Zero while it exists.
	Deleted time.Time

	// From the CRI labels (and PodUID also from a kubepods cgroup path).
	Pod           string // io.kubernetes.pod.name
	PodNamespace  string // io.kubernetes.pod.namespace
	PodUID        string // io.kubernetes.pod.uid
	ContainerName string // io.kubernetes.container.name

	// UIDMap and GIDMap are the user namespace maps of the container's
	// OCI spec (linux.uidMappings, gidMappings); nil when the container
	// has no user namespace of its own or it is not known.
	UIDMap, GIDMap tracer.IDMap
	// Snapshot is the snapshot of the container's rootfs (its
	// snapshotter, key, kind and labels), when containerd told it.
	Snapshot *tracer.Snapshot
	// SnapshotDirs are the host directories of the snapshots the rootfs
	// is made of, as the snapshotter mounts them (its own, the upperdir,
	// and its parents', the lowerdirs), each with its snapshot: what
	// names the snapshot behind a host path (Resolver.SnapshotAt).
	SnapshotDirs []SnapshotDir
	// Rootfs is the task bundle's rootfs directory on the host, where the
	// shim mounts the container's snapshot from the task's creation to its
	// deletion; "" when not seen.
	Rootfs string
	// RootfsLayers are the layers of the overlay the snapshotter gives
	// for the container's rootfs (its Mounts: the upperdir, then the
	// lowerdirs, nearest first), host paths; nil when its rootfs is not
	// one overlay. The shim mounts exactly these; they outlive the
	// mount as long as the snapshots do.
	RootfsLayers []string
}

// The CRI plugin's labels that name a container's pod.
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
	// nerdctl's name for a container, which --container also matches.
	labelNerdctlName = "nerdctl/name"
)

// fillCRI sets the pod fields from the CRI labels.
func (c *Container) fillCRI() {
	if v := c.Labels[LabelPodName]; v != "" {
		c.Pod = v
	}
	if v := c.Labels[LabelPodNamespace]; v != "" {
		c.PodNamespace = v
	}
	if v := c.Labels[LabelPodUID]; v != "" {
		c.PodUID = v
	}
	if v := c.Labels[LabelContainerName]; v != "" {
		c.ContainerName = v
	}
}

// KubeLabels returns the labels that Kubernetes and the CRI plugin set
// (io.kubernetes.*, io.cri-containerd.*): what identifies a container on a
// node without repeating a user's own labels, which may be large or
// private.
func (c *Container) KubeLabels() map[string]string {
	var out map[string]string
	for k, v := range c.Labels {
		if strings.HasPrefix(k, "io.kubernetes.") || strings.HasPrefix(k, "io.cri-containerd.") {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// String names the container for a text line: pod_namespace/pod/name when
// the CRI labels say, else namespace/id, with a 64-hex id shortened to its
// first 12 characters as docker and crictl print them.
func (c *Container) String() string {
	if c == nil {
		return ""
	}
	if c.Pod != "" && c.ContainerName != "" {
		return c.PodNamespace + "/" + c.Pod + "/" + c.ContainerName
	}
	id := c.ID
	if len(id) == 64 && hex64.MatchString(id) {
		id = id[:12]
	}
	if c.Namespace == "" {
		return id
	}
	return c.Namespace + "/" + id
}

// Name returns the container's human name, if it has one: the Kubernetes
// container name or nerdctl's name.
func (c *Container) Name() string {
	if c.ContainerName != "" {
		return c.ContainerName
	}
	return c.Labels[labelNerdctlName]
}

func (c *Container) clone() *Container {
	d := *c
	return &d // Labels are never changed in place: shared on purpose
}
