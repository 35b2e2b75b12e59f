package kubenodetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CRI labels the kubelet puts on sandboxes and containers.
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
)

// StaticName is the name the kubelet gives the static pod named name: the
// node's name appended.
func StaticName(name string) string { return name + "-" + NodeName }

// WritePod writes a static pod manifest as file (NAME.yaml) into the
// kubelet's manifest directory, atomically: the kubelet ignores files
// whose name starts with a dot, so it never reads half of one.
func (n *Node) WritePod(file string, manifest []byte) error {
	tmp := filepath.Join(n.Manifests, "."+file+".tmp")
	if err := os.WriteFile(tmp, manifest, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(n.Manifests, file))
}

// DeletePod removes a manifest that WritePod wrote, waits until the
// kubelet has stopped its pod's sandbox, and removes the stopped sandbox
// (the kubelet would only at its next garbage collection).
func (n *Node) DeletePod(ctx context.Context, file, namespace, name string) error {
	if err := os.Remove(filepath.Join(n.Manifests, file)); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var removeErr error
	for {
		l, err := n.sandboxes(ctx, namespace, name)
		ready := false
		for _, s := range l {
			ready = ready || s.State == runtimeapi.PodSandboxState_SANDBOX_READY
		}
		if err == nil && !ready {
			removeErr = nil
			for _, s := range l {
				if _, err := n.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: s.Id}); err != nil {
					// The kubelet may still be tearing the same sandbox
					// down (its CNI DEL racing the forced stop inside
					// RemovePodSandbox: "failed to delete eth0: no such
					// device"): list again and retry until the deadline.
					removeErr = fmt.Errorf("remove the sandbox of %s/%s: %w", namespace, name, err)
				}
			}
			if removeErr == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if removeErr != nil {
				return removeErr
			}
			return fmt.Errorf("pod %s/%s still has a ready sandbox: %v", namespace, name, l)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (n *Node) sandboxes(ctx context.Context, namespace, name string) ([]*runtimeapi.PodSandbox, error) {
	l, err := n.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		LabelSelector: map[string]string{LabelPodName: name, LabelPodNamespace: namespace}}})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Pod is a pod as CRI shows it.
type Pod struct {
	Sandbox    *runtimeapi.PodSandboxStatus
	Info       map[string]string // the runtime's verbose info (its spec, netns path)
	Containers []*runtimeapi.ContainerStatus
}

// Container is the status of the pod's container called name, or nil.
func (p *Pod) Container(name string) *runtimeapi.ContainerStatus {
	var last *runtimeapi.ContainerStatus
	for _, c := range p.Containers {
		// A restarted container has several attempts: the latest.
		if c.GetMetadata().GetName() == name && (last == nil || c.GetMetadata().GetAttempt() >= last.GetMetadata().GetAttempt()) {
			last = c
		}
	}
	return last
}

// WaitPod waits until the pod (its name as the kubelet has it: see
// StaticName) has a ready sandbox for which ok holds, and returns it.
func (n *Node) WaitPod(ctx context.Context, namespace, name string, timeout time.Duration, ok func(*Pod) bool) (*Pod, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last *Pod
	for {
		if p, err := n.pod(ctx, namespace, name); err == nil && p != nil {
			last = p
			if ok(p) {
				return p, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("pod %s/%s: not as wanted in %s; last seen %s; the kubelet's log:\n%s",
				namespace, name, timeout, describe(last), n.KubeletLog())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// pod is the pod's ready sandbox and its containers, nil when it has none.
func (n *Node) pod(ctx context.Context, namespace, name string) (*Pod, error) {
	l, err := n.sandboxes(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	for _, s := range l {
		if s.State != runtimeapi.PodSandboxState_SANDBOX_READY {
			continue
		}
		st, err := n.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: s.Id, Verbose: true})
		if err != nil {
			return nil, err
		}
		cl, err := n.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: s.Id}})
		if err != nil {
			return nil, err
		}
		p := &Pod{Sandbox: st.Status, Info: st.Info}
		for _, c := range cl.Containers {
			cs, err := n.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
			if err != nil {
				return nil, err
			}
			p.Containers = append(p.Containers, cs.Status)
		}
		return p, nil
	}
	return nil, nil
}

func describe(p *Pod) string {
	if p == nil {
		return "no ready sandbox"
	}
	s := "sandbox " + p.Sandbox.Id
	for _, c := range p.Containers {
		s += fmt.Sprintf("; container %s %s exit %d %s %s", c.Metadata.Name, c.State, c.ExitCode, c.Reason, c.Message)
	}
	return s
}

// ContainerLog is the log the kubelet keeps of the pod's container (its
// first attempt), in CRI's log format.
func (n *Node) ContainerLog(p *Pod, container string) string {
	m := p.Sandbox.Metadata
	b, _ := os.ReadFile(filepath.Join(n.PodLogs, m.Namespace+"_"+m.Name+"_"+m.Uid, container, "0.log"))
	return string(b)
}
