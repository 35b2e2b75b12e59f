package deploy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/ctrace-dev/ctrace/internal/testing/kubenodetest"
)

// TestClusterDaemonSet applies deploy/rbac.yaml and deploy/daemonset.yaml
// through the API server, as kubectl apply would, to the one-node
// cluster (the controller manager's DaemonSet controller makes the pod,
// the scheduler binds it, the kubelet runs it): the pod runs on the node
// as the DaemonSet's service account, ready by its own probes, its
// ctrace says it is tracing and serves /healthz and /metrics on the pod
// IP. The token the kubelet mounted in it is the service account's, and
// it may do what rbac.yaml grants and is refused the rest. What the test
// changes in the DaemonSet is in clusterDaemonSet; none of it is a grant.
func TestClusterDaemonSet(t *testing.T) {
	requireCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := clusterClient(t)

	sa := applyRBAC(t, ctx, c)

	ds := clusterDaemonSet(t)
	importCtraceImage(t, ctx, ds.Spec.Template.Spec.Containers[0].Image)
	t0 := time.Now()
	createDaemonSet(t, ctx, c, ds)
	pod := waitDaemonPod(t, ctx, c, ds, func(p *corev1.Pod) bool { return podReady(p) })
	t.Logf("the DaemonSet's pod %s ready %s after it was applied", pod.Name, time.Since(t0).Round(time.Millisecond))
	if pod.Spec.NodeName != kubenodetest.NodeName || pod.Spec.ServiceAccountName != sa.Name {
		t.Errorf("pod %s on node %q as service account %q; want %s as %s", pod.Name, pod.Spec.NodeName, pod.Spec.ServiceAccountName, kubenodetest.NodeName, sa.Name)
	}
	// As kubectl logs reads it: from the kubelet, through the API server.
	log := podLog(t, ctx, c, pod, "ctrace")
	if !strings.Contains(log, "ready: tracing") {
		t.Errorf("the DaemonSet's ctrace has not said it is tracing; its log:\n%s", log)
	}
	ip := pod.Status.PodIP
	if ip == "" {
		t.Fatal("the DaemonSet's pod has no IP")
	}
	healthz(t, ctx, ip+":9464")
	metrics := httpGet(t, ctx, "http://"+ip+":9464/metrics")
	if !strings.Contains(metrics, "ctrace_build_info") {
		t.Errorf("/metrics on the pod IP has no ctrace_build_info:\n%.2000s", metrics)
	}

	// The token the kubelet projected into the pod (TokenRequest, bound
	// to the pod): the API server says whose it is.
	token := podToken(t, pod)
	tr, err := c.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantUser := "system:serviceaccount:" + sa.Namespace + ":" + sa.Name
	if !tr.Status.Authenticated || tr.Status.User.Username != wantUser {
		t.Fatalf("the pod's token: authenticated %v as %q (%s); want %s", tr.Status.Authenticated, tr.Status.User.Username, tr.Status.Error, wantUser)
	}
	if got := tr.Status.User.Extra["authentication.kubernetes.io/pod-name"]; len(got) != 1 || got[0] != pod.Name {
		t.Errorf("the pod's token is bound to pod %v, want %s", got, pod.Name)
	}
	// With that token, as ctrace's --k8s-events would: an Event on a pod
	// is allowed, a pod by name too; listing pods, reading secrets and
	// deleting events are refused, by RBAC, not skipped.
	as := tokenClient(t, token)
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "ctrace-test-", Namespace: pod.Namespace},
		EventTime:  metav1.NowMicro(), Type: corev1.EventTypeWarning, Reason: "CtraceTest", Action: "Test",
		ReportingController: "ctrace.dev/ctrace", ReportingInstance: "ctrace-" + kubenodetest.NodeName,
		Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Note:      "the DaemonSet's service account may post Events",
	}
	if _, err := as.EventsV1().Events(pod.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Errorf("create an Event as %s: %v", wantUser, err)
	}
	if _, err := as.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("get pod %s as %s: %v", pod.Name, wantUser, err)
	}
	for what, call := range map[string]func() error{
		"list pods": func() error {
			_, err := as.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
			return err
		},
		"get secrets": func() error {
			_, err := as.CoreV1().Secrets(pod.Namespace).Get(ctx, "any", metav1.GetOptions{})
			return err
		},
		"delete events": func() error {
			return as.EventsV1().Events(pod.Namespace).Delete(ctx, "any", metav1.DeleteOptions{})
		},
	} {
		if err := call(); !apierrors.IsForbidden(err) {
			t.Errorf("%s as %s: %v; want forbidden", what, wantUser, err)
		}
	}
	// And the API server's own answer for a verb the role lacks.
	sar, err := c.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: wantUser, Groups: tr.Status.User.Groups,
		ResourceAttributes: &authzv1.ResourceAttributes{Verb: "watch", Resource: "pods", Namespace: "default"},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sar.Status.Allowed {
		t.Errorf("%s may watch pods: %+v", wantUser, sar.Status)
	}
}

// TestClusterManifests applies the other manifests through the API
// server: networkpolicy.yaml and otel-collector.yaml are accepted as
// they are (the collector's DaemonSet gets its pod bound to the node;
// its image is not on this machine, nor a registry to pull it from, so
// the pod is not expected to run), and debug-pod.yaml, with the node's
// name, runs and its ctrace traces.
func TestClusterManifests(t *testing.T) {
	requireCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := clusterClient(t)

	var np networkingv1.NetworkPolicy
	decode(t, "networkpolicy.yaml", &np)
	create(t, ctx, "NetworkPolicy "+np.Name, func() error {
		_, err := c.NetworkingV1().NetworkPolicies(np.Namespace).Create(ctx, &np, metav1.CreateOptions{})
		return err
	}, func(ctx context.Context) error {
		return c.NetworkingV1().NetworkPolicies(np.Namespace).Delete(ctx, np.Name, metav1.DeleteOptions{})
	})

	b, err := os.ReadFile("otel-collector.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var collector *appsv1.DaemonSet
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		strict := func(v any) {
			if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
				t.Fatalf("otel-collector.yaml: %s: %v", meta.Kind, err)
			}
		}
		switch meta.Kind {
		case "ConfigMap":
			var o corev1.ConfigMap
			strict(&o)
			create(t, ctx, "ConfigMap "+o.Name, func() error {
				_, err := c.CoreV1().ConfigMaps(o.Namespace).Create(ctx, &o, metav1.CreateOptions{})
				return err
			}, func(ctx context.Context) error {
				return c.CoreV1().ConfigMaps(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{})
			})
		case "ServiceAccount":
			var o corev1.ServiceAccount
			strict(&o)
			create(t, ctx, "ServiceAccount "+o.Name, func() error {
				_, err := c.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, &o, metav1.CreateOptions{})
				return err
			}, func(ctx context.Context) error {
				return c.CoreV1().ServiceAccounts(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{})
			})
		case "ClusterRole":
			var o rbacv1.ClusterRole
			strict(&o)
			create(t, ctx, "ClusterRole "+o.Name, func() error {
				_, err := c.RbacV1().ClusterRoles().Create(ctx, &o, metav1.CreateOptions{})
				return err
			}, func(ctx context.Context) error {
				return c.RbacV1().ClusterRoles().Delete(ctx, o.Name, metav1.DeleteOptions{})
			})
		case "ClusterRoleBinding":
			var o rbacv1.ClusterRoleBinding
			strict(&o)
			create(t, ctx, "ClusterRoleBinding "+o.Name, func() error {
				_, err := c.RbacV1().ClusterRoleBindings().Create(ctx, &o, metav1.CreateOptions{})
				return err
			}, func(ctx context.Context) error {
				return c.RbacV1().ClusterRoleBindings().Delete(ctx, o.Name, metav1.DeleteOptions{})
			})
		case "DaemonSet":
			collector = &appsv1.DaemonSet{}
			strict(collector)
		default:
			t.Fatalf("otel-collector.yaml: unexpected kind %q", meta.Kind)
		}
	}
	if collector == nil {
		t.Fatal("otel-collector.yaml has no DaemonSet")
	}
	createDaemonSet(t, ctx, c, collector)
	cp := waitDaemonPod(t, ctx, c, collector, func(p *corev1.Pod) bool { return p.Spec.NodeName != "" })
	if cp.Spec.NodeName != kubenodetest.NodeName || cp.Spec.ServiceAccountName != collector.Spec.Template.Spec.ServiceAccountName {
		t.Errorf("the collector's pod %s on node %q as %q; want %s as %s", cp.Name, cp.Spec.NodeName, cp.Spec.ServiceAccountName,
			kubenodetest.NodeName, collector.Spec.Template.Spec.ServiceAccountName)
	}

	dbg := clusterDebugPod(t)
	importCtraceImage(t, ctx, dbg.Spec.Containers[0].Image)
	create(t, ctx, "Pod "+dbg.Name, func() error {
		_, err := c.CoreV1().Pods(dbg.Namespace).Create(ctx, dbg, metav1.CreateOptions{})
		return err
	}, func(ctx context.Context) error {
		if err := c.CoreV1().Pods(dbg.Namespace).Delete(ctx, dbg.Name, metav1.DeleteOptions{}); err != nil {
			return err
		}
		return waitGone(ctx, func() error {
			_, err := c.CoreV1().Pods(dbg.Namespace).Get(ctx, dbg.Name, metav1.GetOptions{})
			return err
		})
	})
	var p *corev1.Pod
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		p, err = c.CoreV1().Pods(dbg.Namespace).Get(ctx, dbg.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Status.Phase == corev1.PodRunning && strings.Contains(podLog(t, ctx, c, p, "ctrace"), "ready: tracing") {
			break
		}
		if time.Now().After(deadline) || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			t.Fatalf("the debug pod is %s, its ctrace not tracing in 2 minutes: %+v\nits log:\n%s", p.Status.Phase, p.Status.ContainerStatuses, podLog(t, ctx, c, p, "ctrace"))
		}
	}
}

// applyRBAC creates deploy/rbac.yaml's service account, cluster role and
// binding, deleted when the test ends, and returns the service account.
func applyRBAC(t *testing.T, ctx context.Context, c *kubernetes.Clientset) *corev1.ServiceAccount {
	t.Helper()
	sa, role, binding := RBACManifests(t)
	create(t, ctx, "ServiceAccount "+sa.Name, func() error {
		_, err := c.CoreV1().ServiceAccounts(sa.Namespace).Create(ctx, sa, metav1.CreateOptions{})
		return err
	}, func(ctx context.Context) error {
		return c.CoreV1().ServiceAccounts(sa.Namespace).Delete(ctx, sa.Name, metav1.DeleteOptions{})
	})
	create(t, ctx, "ClusterRole "+role.Name, func() error {
		_, err := c.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{})
		return err
	}, func(ctx context.Context) error {
		return c.RbacV1().ClusterRoles().Delete(ctx, role.Name, metav1.DeleteOptions{})
	})
	create(t, ctx, "ClusterRoleBinding "+binding.Name, func() error {
		_, err := c.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})
		return err
	}, func(ctx context.Context) error {
		return c.RbacV1().ClusterRoleBindings().Delete(ctx, binding.Name, metav1.DeleteOptions{})
	})
	return sa
}

// requireCluster skips (outside CI) a test that needs the node, and
// fails one whose node has no control plane.
func requireCluster(t *testing.T) {
	t.Helper()
	requireNode(t)
	if node.API == nil {
		t.Fatal("the node is not registered with an API server (TestMain starts it with kubenodetest.MainCluster)")
	}
}

func clusterClient(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	c, err := node.API.Client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// create runs mk, failing the test on its error, and del (then waits for
// nothing: deletion is the API server's and its controllers' to finish)
// when the test ends.
func create(t *testing.T, ctx context.Context, what string, mk func() error, del func(context.Context) error) {
	t.Helper()
	if err := mk(); err != nil {
		t.Fatalf("create %s: %v", what, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		if err := del(ctx); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete %s: %v", what, err)
		}
	})
}

// createDaemonSet creates ds, and when the test ends deletes it and waits
// until its pods are gone from the API (the garbage collector deletes
// them, the kubelet stops them and confirms), so that the next test's
// node is as before.
func createDaemonSet(t *testing.T, ctx context.Context, c *kubernetes.Clientset, ds *appsv1.DaemonSet) {
	t.Helper()
	sel := metav1.FormatLabelSelector(ds.Spec.Selector)
	create(t, ctx, "DaemonSet "+ds.Name, func() error {
		_, err := c.AppsV1().DaemonSets(ds.Namespace).Create(ctx, ds, metav1.CreateOptions{})
		return err
	}, func(ctx context.Context) error {
		fg := metav1.DeletePropagationForeground
		if err := c.AppsV1().DaemonSets(ds.Namespace).Delete(ctx, ds.Name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
			return err
		}
		return waitGone(ctx, func() error {
			l, err := c.CoreV1().Pods(ds.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
			if err == nil && len(l.Items) > 0 {
				return fmt.Errorf("%d pods left", len(l.Items))
			}
			if err == nil {
				_, err = c.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
			}
			return err
		})
	})
}

// waitGone polls get until it says not found.
func waitGone(ctx context.Context, get func() error) error {
	for {
		err := get()
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still there: %v", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// waitDaemonPod waits for a pod of the DaemonSet ds, owned by it, for
// which ok holds.
func waitDaemonPod(t *testing.T, ctx context.Context, c *kubernetes.Clientset, ds *appsv1.DaemonSet, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	sel := metav1.FormatLabelSelector(ds.Spec.Selector)
	var last []corev1.Pod
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		l, err := c.CoreV1().Pods(ds.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			t.Fatal(err)
		}
		last = l.Items
		for i := range l.Items {
			p := &l.Items[i]
			if ref := metav1.GetControllerOf(p); ref != nil && ref.Kind == "DaemonSet" && ref.Name == ds.Name && ok(p) {
				return p
			}
		}
	}
	got, _ := c.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	var st any
	if got != nil {
		st = got.Status
	}
	var logs strings.Builder
	for i := range last {
		fmt.Fprintf(&logs, "pod %s: node %q phase %s %+v\n%s\n", last[i].Name, last[i].Spec.NodeName, last[i].Status.Phase,
			last[i].Status.ContainerStatuses, podLog(t, ctx, c, &last[i], last[i].Spec.Containers[0].Name))
	}
	t.Fatalf("DaemonSet %s: no pod as wanted in 2 minutes; status %+v\n%s\nthe controller manager's log:\n%s\nthe scheduler's log:\n%s\nthe kubelet's log:\n%s",
		ds.Name, st, logs.String(), tailString(node.API.ComponentLog("kube-controller-manager.log"), 3000),
		tailString(node.API.ComponentLog("kube-scheduler.log"), 2000), node.KubeletLog())
	return nil
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podLog is a container's log as the API server serves it, or why not.
func podLog(t *testing.T, ctx context.Context, c *kubernetes.Clientset, p *corev1.Pod, container string) string {
	t.Helper()
	b, err := c.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

func httpGet(t *testing.T, ctx context.Context, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}

// podToken is the service-account token the kubelet wrote into the pod's
// projected volume (kube-api-access-*), read where the kubelet keeps it.
func podToken(t *testing.T, p *corev1.Pod) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(node.Dir, "kubelet", "pods", string(p.UID), "volumes", "kubernetes.io~projected", "kube-api-access-*", "token"))
	if len(files) != 1 {
		t.Fatalf("pod %s: %d projected service-account tokens (%v), want 1", p.Name, len(files), files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// tokenClient is a client of the API server with a bearer token alone.
func tokenClient(t *testing.T, token string) *kubernetes.Clientset {
	t.Helper()
	cfg := &rest.Config{Host: node.API.URL, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: node.API.CACert}}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// clusterDaemonSet is deploy/daemonset.yaml as the cluster gets it. What
// differs from the manifest, and why:
//   - the containerd volume is the node's socket directory: the node's
//     containerd is not the machine's (/run/containerd);
//   - a capability this test process lacks is left out: runc cannot give
//     a container more than its own bounding set (the kubelet runs here
//     with this process's); the test logs each one.
//
// The service account, its token, --k8s-events, -o none and the probes
// stay. ctrace's Events cannot reach the API server from this pod (no
// kube-proxy routes the kubernetes service's address), so
// TestClusterDaemonSet posts one with the pod's token itself;
// TestClusterEvents runs eventsDaemonSet, whose pod is pointed at the API
// server, and reads ctrace's own.
func clusterDaemonSet(t *testing.T) *appsv1.DaemonSet {
	t.Helper()
	ds := daemonSet(t)
	spec := &ds.Spec.Template.Spec
	for i := range spec.Volumes {
		if hp := spec.Volumes[i].HostPath; hp != nil && hp.Path == "/run/containerd" {
			hp.Path = node.SocketDir
		}
	}
	c := &spec.Containers[0]
	c.SecurityContext.Capabilities.Add = boundedCaps(t, c.SecurityContext.Capabilities.Add)
	return ds
}

// clusterDebugPod is debug-pod.yaml as the cluster gets it: NODE_NAME is
// the node's name, and ctrace is told the node's containerd socket under
// /host (the machine's own is at /run/containerd).
func clusterDebugPod(t *testing.T) *corev1.Pod {
	t.Helper()
	var p corev1.Pod
	decode(t, "debug-pod.yaml", &p)
	if p.Spec.NodeName != "NODE_NAME" {
		t.Fatalf("debug-pod.yaml: nodeName %q, want the NODE_NAME placeholder", p.Spec.NodeName)
	}
	p.Spec.NodeName = kubenodetest.NodeName
	c := &p.Spec.Containers[0]
	c.Args = append(c.Args, "--containerd-address", "/host"+node.Address)
	return &p
}
