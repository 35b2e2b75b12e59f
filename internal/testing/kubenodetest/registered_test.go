package kubenodetest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

var shared Shared

func TestMain(m *testing.M) {
	os.Exit(MainWith(m, "kubenodetest", &shared, true))
}

// TestRegistered creates a pod through the API server with the node's
// name in spec.nodeName, as a scheduler would bind it: the registered
// kubelet runs it, reports its phase, and the API server reads its log
// from the kubelet's port (client-go's GetLogs, as kubectl logs does). A
// static pod runs beside it, with its mirror pod in the API.
func TestRegistered(t *testing.T) {
	testenv.RequireRoot(t, "a Kubernetes node")
	if shared.Skip != "" {
		t.Skip(shared.Skip)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := shared.API.Client()
	if err != nil {
		t.Fatal(err)
	}
	node, err := c.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the Node object: %v", err)
	}
	if node.Status.DaemonEndpoints.KubeletEndpoint.Port != kubeletPort {
		t.Errorf("kubelet port %d, want %d", node.Status.DaemonEndpoints.KubeletEndpoint.Port, kubeletPort)
	}
	if err := shared.WritePod("static.yaml", []byte(`apiVersion: v1
kind: Pod
metadata:
  name: static
  namespace: default
spec:
  containers:
  - name: app
    image: `+Image+`
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", "exec sleep 3600"]
`)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := shared.DeletePod(context.Background(), "static.yaml", "default", StaticName("static")); err != nil {
			t.Error(err)
		}
	}()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:      NodeName,
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "app", Image: Image, ImagePullPolicy: corev1.PullNever,
				Command: []string{"/bin/sh", "-c", "echo hello from the API; exec sleep 3600"},
			}},
		},
	}
	if _, err := c.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		zero := int64(0)
		_ = c.CoreV1().Pods("default").Delete(context.Background(), "hello", metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}()
	var log string
	var phase corev1.PodPhase
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(300 * time.Millisecond) {
		p, err := c.CoreV1().Pods("default").Get(ctx, "hello", metav1.GetOptions{})
		if err == nil {
			phase = p.Status.Phase
		}
		if phase == corev1.PodRunning {
			b, err := c.CoreV1().Pods("default").GetLogs("hello", &corev1.PodLogOptions{Container: "app"}).DoRaw(ctx)
			log = string(b)
			if err != nil {
				log = err.Error()
			}
			if strings.Contains(log, "hello from the API") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod hello: phase %q, log %q; the kubelet's log:\n%s", phase, log, shared.KubeletLog())
		}
	}
	// The static pod's mirror in the API.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(300 * time.Millisecond) {
		if _, err := c.CoreV1().Pods("default").Get(ctx, StaticName("static"), metav1.GetOptions{}); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no mirror pod of the static pod: %v", err)
		}
	}
}
