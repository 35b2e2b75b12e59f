package deploy

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/ctrace-dev/ctrace/internal/testing/kubenodetest"
)

// failingPods is how many crash-looping pods TestClusterEvents makes: each
// is the whole diagnosis again (a new container, traced, attributed to its
// pod by the CRI labels, its hint posted as an Event by the DaemonSet's
// ctrace), so one run repeats it this many times at the cost of the
// pods' starts, which the kubelet runs side by side; more pods would
// mostly add load on a 2-core CI machine.
const failingPods = 5

// TestClusterEvents: the DaemonSet's ctrace, with its own service account
// token from the pod, puts its diagnosis on a failing pod where an
// operator reads it (kubectl describe pod: the core events whose
// involvedObject is the pod). Pods created through the API, whose
// container's mount the runtime's default seccomp profile refuses, crash
// loop; each gets exactly one Warning Event from ctrace, reason
// SeccompProfile, with the hint and the failing call in its note, whose
// count grows to 2 when the restarted container fails again. A healthy
// pod beside them gets none.
func TestClusterEvents(t *testing.T) {
	requireCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := clusterClient(t)

	applyRBAC(t, ctx, c)
	ds := eventsDaemonSet(t)
	importCtraceImage(t, ctx, ds.Spec.Template.Spec.Containers[0].Image)
	t0 := time.Now()
	createDaemonSet(t, ctx, c, ds)
	agent := waitDaemonPod(t, ctx, c, ds, func(p *corev1.Pod) bool { return podReady(p) })
	t.Logf("the DaemonSet's pod %s ready %s after it was applied", agent.Name, time.Since(t0).Round(time.Millisecond))
	// Its sink is made before tracing starts, so by now ctrace has asked
	// the API server what it may do; a warning would say it could not
	// reach it, or may not post.
	agentLog := func() string { return podLog(t, ctx, c, agent, "ctrace") }
	if l := agentLog(); !strings.Contains(l, "posting diagnoses as Kubernetes Events on their pods, as ctrace-"+kubenodetest.NodeName) ||
		strings.Contains(l, "Kubernetes events: ") {
		t.Fatalf("the DaemonSet's ctrace is not posting Events; its log:\n%s", l)
	}

	t1 := time.Now()
	const ns = "default"
	healthy := createPod(t, ctx, c, ns, "healthy", "/bin/sleep", "3600")
	var failing []*corev1.Pod
	for i := range failingPods {
		failing = append(failing, createPod(t, ctx, c, ns, fmt.Sprintf("seccomp-%d", i), "/bin/mount", "-t", "tmpfs", "none", "/mnt"))
	}

	// One Event each, then its count at 2 once the container has been
	// restarted and failed again (the kubelet's first back-off is 10 s).
	evs := make([]corev1.Event, len(failing))
	for i, p := range failing {
		evs[i] = waitCtraceEvent(t, ctx, c, p, agentLog, func(e *corev1.Event) bool { return true })
	}
	t.Logf("%d failing pods: an Event on each %s after they were created", len(failing), time.Since(t1).Round(time.Millisecond))
	for i, p := range failing {
		e := &evs[i]
		if e.Type != corev1.EventTypeWarning || e.Reason != "SeccompProfile" || e.Action != "mount EPERM in app" ||
			e.ReportingInstance != "ctrace-"+kubenodetest.NodeName || eventSource(e) != "ctrace" {
			t.Errorf("pod %s: Event %s", p.Name, describeEvent(e))
		}
		if want := "container " + ns + "/" + p.Name + "/app's seccomp profile refuses mount"; !strings.Contains(e.Message, want) ||
			!strings.Contains(e.Message, `mount("none", "/mnt", "tmpfs", MS_SILENT, NULL) = -1 EPERM (Operation not permitted)`) {
			t.Errorf("pod %s: the note %q has not %q and the failing call", p.Name, e.Message, want)
		}
	}
	for i, p := range failing {
		evs[i] = waitCtraceEvent(t, ctx, c, p, agentLog, func(e *corev1.Event) bool { return eventCount(e) >= 2 })
	}
	t.Logf("every Event's count at 2 %s after the pods were created", time.Since(t1).Round(time.Millisecond))
	// The count is the restart's: the API shows the container restarted
	// (the kubelet reports its status some seconds after the fact).
	for i, p := range failing {
		var st []corev1.ContainerStatus
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(500 * time.Millisecond) {
			got, err := c.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			st = got.Status.ContainerStatuses
			if len(st) == 1 && st[0].RestartCount >= 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pod %s's Event counts %d, and its container has not been restarted in a minute: %+v", p.Name, eventCount(&evs[i]), st)
			}
		}
	}
	// Still one Event each: the repeats went into its series.
	for _, p := range failing {
		if l := ctraceEvents(t, ctx, c, p); len(l) != 1 {
			t.Errorf("pod %s: %d Events from ctrace, want one", p.Name, len(l))
		}
	}
	// The healthy pod has been running as long as the failing ones
	// (created first): a diagnosis of it would have been posted by now,
	// as theirs were twice.
	if l := ctraceEvents(t, ctx, c, healthy); len(l) != 0 {
		t.Errorf("the healthy pod has Events from ctrace: %s", describeEvent(&l[0]))
	}

	// No write was refused or went unanswered (ctrace says so at once).
	if l := agentLog(); strings.Contains(l, "refused or unanswered") {
		t.Errorf("the DaemonSet's ctrace had writes refused:\n%s", tailString(l, 4000))
	}

	// What the operator sees, when the machine has kubectl.
	if kubectl, err := exec.LookPath("kubectl"); err != nil {
		t.Logf("no kubectl on this machine: kubectl describe pod is not run (the Events above are what it lists)")
	} else {
		out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", node.API.Kubeconfig, "describe", "pod", "-n", ns, failing[0].Name).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl describe pod %s: %v\n%s", failing[0].Name, err, out)
		}
		section := string(out)
		if i := strings.Index(section, "\nEvents:"); i >= 0 {
			section = section[i+1:]
		}
		t.Logf("kubectl describe pod %s, its Events:\n%s", failing[0].Name, section)
		if !strings.Contains(section, "Warning  SeccompProfile") || !strings.Contains(section, "ctrace") ||
			!strings.Contains(section, "seccomp profile refuses mount") {
			t.Errorf("kubectl describe pod %s does not show ctrace's SeccompProfile Event:\n%s", failing[0].Name, out)
		}
	}
}

// eventsDaemonSet is clusterDaemonSet with the API server reachable from
// the pod, as on a node without kube-proxy: nothing here routes the
// kubernetes service's address (what the kubelet puts in
// KUBERNETES_SERVICE_HOST) to the API server, so the container's env
// names the API server's own address instead, which overrides the
// kubelet's service variables and is what rest.InClusterConfig reads.
// That address is on loopback (the test's API server binds 127.0.0.1,
// and its serving certificate names 127.0.0.1), so the pod shares the
// node's network (hostNetwork), as control-plane pods that reach their
// API server at localhost do; status.podIP is then the node's address,
// where the metrics and probes go. The service account, its token and the
// CA bundle are still the ones the kubelet projects into the pod.
func eventsDaemonSet(t *testing.T) *appsv1.DaemonSet {
	t.Helper()
	ds := clusterDaemonSet(t)
	u, err := url.Parse(node.API.URL)
	if err != nil {
		t.Fatalf("the API server's URL %q: %v", node.API.URL, err)
	}
	spec := &ds.Spec.Template.Spec
	spec.HostNetwork = true
	c := &spec.Containers[0]
	c.Env = append(c.Env,
		corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: u.Hostname()},
		corev1.EnvVar{Name: "KUBERNETES_SERVICE_PORT", Value: u.Port()})
	return ds
}

// createPod creates a pod through the API, for the scheduler to bind to
// the node, of one busybox container "app" running command under the
// runtime's default seccomp profile, and deletes it when the test ends.
func createPod(t *testing.T, ctx context.Context, c *kubernetes.Clientset, ns, name string, command ...string) *corev1.Pod {
	t.Helper()
	zero := int64(0)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &zero,
			SecurityContext:               &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "app", Image: kubenodetest.Image, ImagePullPolicy: corev1.PullNever, Command: command,
			}},
		},
	}
	var out *corev1.Pod
	create(t, ctx, "Pod "+name, func() error {
		var err error
		out, err = c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		return err
	}, func(ctx context.Context) error {
		if err := c.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			return err
		}
		return waitGone(ctx, func() error {
			_, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			return err
		})
	})
	return out
}

// ctraceEvents lists the pod's Events as kubectl describe pod does (core
// v1, by involvedObject: kind, name, namespace and uid) and keeps ctrace's.
func ctraceEvents(t *testing.T, ctx context.Context, c *kubernetes.Clientset, p *corev1.Pod) []corev1.Event {
	t.Helper()
	l, err := c.CoreV1().Events(p.Namespace).SearchWithContext(ctx, scheme.Scheme, p)
	if err != nil {
		t.Fatalf("events of pod %s: %v", p.Name, err)
	}
	var out []corev1.Event
	for _, e := range l.Items {
		if e.ReportingController == "ctrace" || e.Source.Component == "ctrace" {
			out = append(out, e)
		}
	}
	return out
}

// waitCtraceEvent waits, for up to 2 minutes, until the pod has exactly
// one Event from ctrace and ok holds for it; more than one fails at once.
func waitCtraceEvent(t *testing.T, ctx context.Context, c *kubernetes.Clientset, p *corev1.Pod, agentLog func() string, ok func(*corev1.Event) bool) corev1.Event {
	t.Helper()
	var last []corev1.Event
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		last = ctraceEvents(t, ctx, c, p)
		if len(last) > 1 {
			var b strings.Builder
			for i := range last {
				b.WriteString(describeEvent(&last[i]) + "\n")
			}
			t.Fatalf("pod %s: %d Events from ctrace, want one:\n%s", p.Name, len(last), b.String())
		}
		if len(last) == 1 && ok(&last[0]) {
			return last[0]
		}
	}
	got, _ := c.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
	var st any
	if got != nil {
		st = got.Status.ContainerStatuses
	}
	all, _ := c.CoreV1().Events(p.Namespace).SearchWithContext(ctx, scheme.Scheme, p)
	var b strings.Builder
	if all != nil {
		for i := range all.Items {
			b.WriteString(describeEvent(&all.Items[i]) + "\n")
		}
	}
	t.Fatalf("pod %s: no Event from ctrace as wanted in 2 minutes (%d of ctrace's); its containers %+v; all its Events:\n%s\nthe DaemonSet's ctrace's log:\n%s",
		p.Name, len(last), st, b.String(), tailString(agentLog(), 4000))
	return corev1.Event{}
}

// eventCount is how many times the Event happened, as kubectl describe
// counts it: the series' count for an events.k8s.io series, else the
// core count, else once.
func eventCount(e *corev1.Event) int32 {
	switch {
	case e.Series != nil:
		return e.Series.Count
	case e.Count > 0:
		return e.Count
	}
	return 1
}

// eventSource is the From column of kubectl describe.
func eventSource(e *corev1.Event) string {
	if e.Source.Component != "" {
		return e.Source.Component
	}
	return e.ReportingController
}

func describeEvent(e *corev1.Event) string {
	return fmt.Sprintf("%s %s from %s (%s) action %q x%d: %q", e.Type, e.Reason, eventSource(e), e.ReportingInstance, e.Action, eventCount(e), e.Message)
}
