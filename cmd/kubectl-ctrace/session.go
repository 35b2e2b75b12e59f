package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// resolve names the node the debug pod goes to and ctrace's arguments:
// a pod's node, and the pod as ctrace's filter.
func (inv *invocation) resolve(ctx context.Context, c kubernetes.Interface) (string, []string, error) {
	args := []string{inv.sub}
	if inv.kind == "node" {
		if _, err := c.CoreV1().Nodes().Get(ctx, inv.name, metav1.GetOptions{}); err != nil {
			return "", nil, fmt.Errorf("node %s: %w", inv.name, err)
		}
		return inv.name, append(args, inv.ctraceArgs...), nil
	}
	p, err := c.CoreV1().Pods(inv.namespace).Get(ctx, inv.name, metav1.GetOptions{})
	if err != nil {
		return "", nil, fmt.Errorf("pod %s/%s: %w", inv.namespace, inv.name, err)
	}
	if p.Spec.NodeName == "" {
		return "", nil, fmt.Errorf("pod %s/%s is not on a node yet (not scheduled)", inv.namespace, inv.name)
	}
	// ctrace's filter matches the CRI labels the kubelet puts on the pod's
	// containers: its name and namespace.
	args = append(args, "--pod", p.Name, "--k8s-namespace", p.Namespace)
	return p.Spec.NodeName, append(args, inv.ctraceArgs...), nil
}

// debugPod is deploy/debug-pod.yaml for node, running ctrace with args:
// privileged, in the node's PID namespace, the node's root read-only at
// /host (ctrace detects it), tolerating every taint. What differs: the
// name is generated (several sessions may run at once); no stdin or TTY,
// since the plugin streams the log; no service-account token, since
// ctrace in it does not talk to the API server.
func debugPod(namespace, node, image string, args []string) *corev1.Pod {
	yes, no, root, grace := true, false, int64(0), int64(5)
	hostPathDir := corev1.HostPathDirectory
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "ctrace-debug-",
			Namespace:    namespace,
			Labels: map[string]string{
				"app.kubernetes.io/name":       "ctrace",
				"app.kubernetes.io/component":  "debug",
				"app.kubernetes.io/managed-by": "kubectl-ctrace",
			},
		},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			HostPID:                       true,
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			AutomountServiceAccountToken:  &no,
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name:            "ctrace",
				Image:           image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         []string{"/ctrace"},
				Args:            args,
				SecurityContext: &corev1.SecurityContext{Privileged: &yes, RunAsUser: &root},
				VolumeMounts:    []corev1.VolumeMount{{Name: "host-root", MountPath: "/host", ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{{
				Name:         "host-root",
				VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/", Type: &hostPathDir}},
			}},
		},
	}
}

// session is one debug pod's life.
type session struct {
	client         kubernetes.Interface
	namespace      string
	node, image    string
	args           []string
	start          time.Duration
	stdout, stderr io.Writer
	name           string // the created pod's
}

// deleteWait is how long the plugin waits for the pod to be gone: its
// grace period and the kubelet's reaction to the deletion.
const deleteWait = time.Minute

// run creates the pod, streams its log and deletes it, whatever ends the
// session. It returns ctrace's exit status when ctrace ended by itself.
func (s *session) run(ctx context.Context) (int, error) {
	p, err := s.client.CoreV1().Pods(s.namespace).Create(ctx, debugPod(s.namespace, s.node, s.image, s.args), metav1.CreateOptions{})
	if err != nil {
		return 1, fmt.Errorf("create the debug pod: %w", err)
	}
	s.name = p.Name
	fmt.Fprintf(s.stderr, "kubectl-ctrace: debug pod %s/%s on node %s\n", s.namespace, s.name, s.node)
	code, err := s.stream(ctx)
	// The session's context may be done (Ctrl-C): the deletion has its
	// own, so that it happens anyway.
	dctx, cancel := context.WithTimeout(context.Background(), deleteWait)
	defer cancel()
	if derr := s.delete(dctx); derr != nil {
		return 1, errors.Join(err, derr)
	}
	if ctx.Err() != nil {
		return 1, errors.New("interrupted; the debug pod is deleted")
	}
	return code, err
}

// stream waits for ctrace to start, copies its log until it ends, and
// returns its exit status. A log stream that ends while ctrace still runs
// (the API server or the kubelet went away) is an error.
func (s *session) stream(ctx context.Context) (int, error) {
	if err := s.waitStarted(ctx); err != nil || ctx.Err() != nil {
		return 1, err
	}
	rc, err := s.client.CoreV1().Pods(s.namespace).GetLogs(s.name, &corev1.PodLogOptions{Container: "ctrace", Follow: true}).Stream(ctx)
	if err != nil {
		return 1, fmt.Errorf("stream the debug pod's log: %w", err)
	}
	_, err = io.Copy(s.stdout, rc)
	rc.Close()
	if ctx.Err() != nil {
		return 1, nil
	}
	if err != nil {
		return 1, fmt.Errorf("the debug pod's log stream broke: %w", err)
	}
	// The log ends when the container does: its status says so within
	// moments, with ctrace's exit status.
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		p, err := s.client.CoreV1().Pods(s.namespace).Get(tctx, s.name, metav1.GetOptions{})
		if err == nil {
			if t := terminated(p); t != nil {
				return int(t.ExitCode), nil
			}
		}
		select {
		case <-tctx.Done():
			if ctx.Err() != nil {
				return 1, nil
			}
			return 1, errors.New("the debug pod's log stream ended while ctrace still ran")
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitStarted waits until ctrace's container runs or has ended, and fails
// early on what will not get better (an image that cannot be had).
func (s *session) waitStarted(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.start)
	defer cancel()
	last := "not seen yet"
	for {
		p, err := s.client.CoreV1().Pods(s.namespace).Get(ctx, s.name, metav1.GetOptions{})
		if err == nil {
			last = string(p.Status.Phase)
			for _, cs := range p.Status.ContainerStatuses {
				switch {
				case cs.State.Running != nil, cs.State.Terminated != nil:
					return nil
				case cs.State.Waiting != nil:
					w := cs.State.Waiting
					last = w.Reason + ": " + w.Message
					switch w.Reason {
					case "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName",
						"CreateContainerConfigError", "CreateContainerError", "RunContainerError":
						return fmt.Errorf("the debug pod cannot start: %s", last)
					}
				}
			}
			if p.Status.Phase == corev1.PodFailed {
				return fmt.Errorf("the debug pod failed: %s %s", p.Status.Reason, p.Status.Message)
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the debug pod did not start in %s (%s)", s.start, last)
			}
			return nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// terminated is the ctrace container's final state, nil while it runs.
func terminated(p *corev1.Pod) *corev1.ContainerStateTerminated {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == "ctrace" && cs.State.Terminated != nil {
			return cs.State.Terminated
		}
	}
	return nil
}

// delete deletes the pod and waits until it is gone from the API server:
// the kubelet has stopped ctrace (SIGTERM, then the grace period) and
// removed it.
func (s *session) delete(ctx context.Context) error {
	err := s.client.CoreV1().Pods(s.namespace).Delete(ctx, s.name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete the debug pod %s/%s: %w", s.namespace, s.name, err)
	}
	for {
		_, err := s.client.CoreV1().Pods(s.namespace).Get(ctx, s.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the debug pod %s/%s is not gone after %s: delete it with kubectl delete pod -n %s %s",
				s.namespace, s.name, deleteWait, s.namespace, s.name)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
