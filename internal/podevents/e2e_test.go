package podevents_test

// End to end, through a real API server (internal/testing/kubeapitest):
// ctrace run --k8s-events traces containers of a private containerd that
// carry a pod's CRI labels, and posts their diagnoses as Events, with the
// token of deploy/rbac.yaml's service account. The pods are API objects
// created through the server (their names and UIDs are what the
// containers' labels carry); no kubelet runs them: the containers are
// started through containerd, as the CRI plugin would, so that every
// failure is a real one, traced by the real tracer.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/pkg/oci"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/testing/ctrdtest"
	"github.com/ctrace-dev/ctrace/internal/testing/kubeapitest"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

var shared ctrdtest.Shared

var (
	apiOnce sync.Once
	api     *kubeapitest.Server
	apiErr  error
	apiDir  string
)

func TestMain(m *testing.M) {
	os.Exit(ctrdtest.Main(m, "podevents", &shared, func() {
		if api != nil {
			api.Stop()
			os.RemoveAll(apiDir)
		}
	}))
}

const node = "kubenode"

// server starts the API server once for the package's tests, and applies
// deploy/rbac.yaml through it as an operator would.
func server(t *testing.T) (*kubeapitest.Server, *kubernetes.Clientset) {
	t.Helper()
	apiOnce.Do(func() {
		if apiDir, apiErr = os.MkdirTemp("/tmp", "kubeapi"); apiErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if api, apiErr = kubeapitest.Start(ctx, apiDir); apiErr != nil {
			return
		}
		var c *kubernetes.Clientset
		if c, apiErr = api.Client(); apiErr == nil {
			apiErr = applyRBAC(ctx, c)
		}
	})
	if apiErr != nil {
		t.Fatal(apiErr)
	}
	c, err := api.Client()
	if err != nil {
		t.Fatal(err)
	}
	return api, c
}

// applyRBAC creates deploy/rbac.yaml's objects.
func applyRBAC(ctx context.Context, c kubernetes.Interface) error {
	b, err := os.ReadFile("../../deploy/rbac.yaml")
	if err != nil {
		return err
	}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			return err
		}
		switch meta.Kind {
		case "ServiceAccount":
			var v corev1.ServiceAccount
			if err := yaml.UnmarshalStrict([]byte(doc), &v); err != nil {
				return err
			}
			_, err = c.CoreV1().ServiceAccounts(v.Namespace).Create(ctx, &v, metav1.CreateOptions{})
		case "ClusterRole":
			var v rbacv1.ClusterRole
			if err := yaml.UnmarshalStrict([]byte(doc), &v); err != nil {
				return err
			}
			_, err = c.RbacV1().ClusterRoles().Create(ctx, &v, metav1.CreateOptions{})
		case "ClusterRoleBinding":
			var v rbacv1.ClusterRoleBinding
			if err := yaml.UnmarshalStrict([]byte(doc), &v); err != nil {
				return err
			}
			_, err = c.RbacV1().ClusterRoleBindings().Create(ctx, &v, metav1.CreateOptions{})
		default:
			return fmt.Errorf("rbac.yaml: unexpected kind %s", meta.Kind)
		}
		if err != nil {
			return fmt.Errorf("apply %s: %w", meta.Kind, err)
		}
	}
	return nil
}

// tokenKubeconfig writes a kubeconfig with a token of service account
// ns/name, the credential a pod of it is given.
func tokenKubeconfig(t *testing.T, s *kubeapitest.Server, c kubernetes.Interface, ns, name string) string {
	t.Helper()
	exp := int64(3600)
	tr, err := c.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := s.TokenKubeconfig(p, tr.Status.Token); err != nil {
		t.Fatal(err)
	}
	return p
}

// namespace creates a namespace with its default service account (which
// the controller manager would create, and pods need).
func namespace(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// pod creates a pod object bound to the node and returns it (with the UID
// the server gave it).
func pod(t *testing.T, c kubernetes.Interface, ns, name string) *corev1.Pod {
	t.Helper()
	p, err := c.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{
			Name: "app", Image: ctrdtest.ImageRef, ImagePullPolicy: corev1.PullNever,
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runIn runs args in a container labelled as container name of pod p, as
// the CRI plugin labels it, under the runtime's default seccomp profile
// when confined.
func runIn(t *testing.T, p *corev1.Pod, name string, confined bool, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := ctrdtest.RunOptions{
		Namespace: "k8s.io",
		ID:        fmt.Sprintf("%s-%s-%d", p.Name, name, time.Now().UnixNano()),
		Args:      args,
		Labels: map[string]string{
			correlate.LabelPodName: p.Name, correlate.LabelPodNamespace: p.Namespace,
			correlate.LabelPodUID: string(p.UID), correlate.LabelContainerName: name,
		},
	}
	if confined {
		o.Spec = []oci.SpecOpts{seccomp.WithDefaultProfile()}
	}
	if _, err := shared.Run(ctx, o); err != nil {
		t.Fatal(err)
	}
}

// ctraceRun is a running ctrace run.
type ctraceRun struct {
	cmd    *exec.Cmd
	done   chan struct{}
	mu     sync.Mutex
	stderr strings.Builder
	stdout []string
}

func startCtrace(t *testing.T, args ...string) *ctraceRun {
	t.Helper()
	bin := testenv.CtraceBinary(t, shared.Dir)
	args = append([]string{"run", "-o", "json", "--containerd-address", shared.Address, "--k8s-events", "--k8s-node-name", node}, args...)
	r := &ctraceRun{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errp, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			r.mu.Lock()
			r.stdout = append(r.stdout, sc.Text())
			r.mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		b := make([]byte, 4096)
		for {
			n, err := errp.Read(b)
			r.mu.Lock()
			r.stderr.Write(b[:n])
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { wg.Wait(); _ = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(r.stop)
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(r.errText(), "ready: tracing") {
		select {
		case <-r.done:
			t.Fatalf("ctrace exited before tracing:\n%s", r.errText())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("ctrace not ready:\n%s", r.errText())
		}
	}
	return r
}

func (r *ctraceRun) errText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.String()
}

func (r *ctraceRun) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.stdout...)
}

// stop ends ctrace with SIGINT, as a user would, and waits for its exit.
func (r *ctraceRun) stop() {
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// waitLine waits until ctrace printed a JSON event containing every
// string of want.
func (r *ctraceRun) waitLine(t *testing.T, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
	lines:
		for _, l := range r.lines() {
			for _, w := range want {
				if !strings.Contains(l, w) {
					continue lines
				}
			}
			return l
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no event with %q; ctrace's stderr:\n%s", want, r.errText())
	return ""
}

// ctraceEvents lists the Events ctrace posted in namespace ns.
func ctraceEvents(t *testing.T, c kubernetes.Interface, ns string) []eventsv1.Event {
	t.Helper()
	l, err := c.EventsV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range l.Items {
		if e.ReportingController == "ctrace" {
			out = append(out, e)
		}
	}
	return out
}

// waitEvents waits until ok holds for ctrace's Events in ns, and returns
// them.
func waitEvents(t *testing.T, c kubernetes.Interface, ns string, what string, ok func([]eventsv1.Event) bool) []eventsv1.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs := ctraceEvents(t, c, ns)
		if ok(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: ctrace's Events in %s: %s", what, ns, describe(evs))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func describe(evs []eventsv1.Event) string {
	var b strings.Builder
	for _, e := range evs {
		count := int32(1)
		if e.Series != nil {
			count = e.Series.Count
		}
		fmt.Fprintf(&b, "\n  %s %s regarding %s/%s(%s) reason=%s action=%q count=%d instance=%s note=%q",
			e.Name, e.Type, e.Regarding.Namespace, e.Regarding.Name, e.Regarding.UID, e.Reason, e.Action, count, e.ReportingInstance, e.Note)
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

func count(e eventsv1.Event) int32 {
	if e.Series == nil {
		return 1
	}
	return e.Series.Count
}

// TestPodEvents: a pod's container whose mount the seccomp profile
// refuses gets one Event with the hint; a repeat raises its count; a
// second diagnosis gets an Event of its own; a healthy pod and a host
// process get none.
func TestPodEvents(t *testing.T) {
	testenv.RequireRoot(t, "tracing")
	if shared.Skip != "" {
		t.Skip(shared.Skip)
	}
	s, c := server(t)
	const ns = "shop"
	namespace(t, c, ns)
	web, healthy := pod(t, c, ns, "web"), pod(t, c, ns, "healthy")
	r := startCtrace(t, "--kubeconfig", tokenKubeconfig(t, s, c, "kube-system", "ctrace"))
	if strings.Contains(r.errText(), "may not") {
		t.Errorf("ctrace says deploy/rbac.yaml's grants are not enough:\n%s", r.errText())
	}

	// A host process with a hint: root of its own user namespace mounting
	// in the host's mount namespace (mount-needs-init-userns).
	host := exec.Command("unshare", "-Ur", "mount", "-t", "tmpfs", "none", "/mnt")
	host.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := host.CombinedOutput(); err == nil {
		t.Fatalf("the host's mount succeeded: %s", out)
	}
	r.waitLine(t, `"syscall":"mount"`, `"hints"`, `"/mnt"`)

	runIn(t, healthy, "app", false, "/bin/true")
	runIn(t, web, "app", true, "/bin/mount", "-t", "tmpfs", "none", "/mnt")
	r.waitLine(t, `"syscall":"mount"`, `"seccomp-profile"`, string(web.UID))

	waitEvents(t, c, ns, "one Event for web's mount", func(evs []eventsv1.Event) bool { return len(evs) >= 1 })
	time.Sleep(time.Second) // anything more would come now
	evs := ctraceEvents(t, c, ns)
	if len(evs) != 1 {
		t.Fatalf("want exactly one Event: %s", describe(evs))
	}
	e := evs[0]
	if e.Regarding.Kind != "Pod" || e.Regarding.Name != "web" || e.Regarding.Namespace != ns || e.Regarding.UID != web.UID ||
		e.Type != corev1.EventTypeWarning || e.Reason != "SeccompProfile" || e.Action != "mount EPERM in app" ||
		e.ReportingInstance != "ctrace-"+node || count(e) != 1 {
		t.Errorf("Event: %s", describe(evs))
	}
	if !strings.Contains(e.Note, "seccomp profile refuses mount") || !strings.Contains(e.Note, `mount("none", "/mnt", "tmpfs", MS_SILENT, NULL) = -1 EPERM (Operation not permitted)`) || len(e.Note) > 1024 {
		t.Errorf("note %q: want the hint and the call", e.Note)
	}
	// kubectl describe pod reads the core API's view: the same object.
	core, err := c.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(web.UID)})
	if err != nil || len(core.Items) != 1 || core.Items[0].Message != e.Note {
		t.Errorf("core events of web: %v %+v", err, core)
	}

	// The same failure again, in a new container of the same pod: one
	// series.
	runIn(t, web, "app", true, "/bin/mount", "-t", "tmpfs", "none", "/mnt")
	waitEvents(t, c, ns, "the series count of web's mount", func(evs []eventsv1.Event) bool {
		return len(evs) == 1 && count(evs[0]) == 2
	})

	// Another diagnosis: unshare of a mount namespace, refused by the same
	// profile, is an Event of its own.
	runIn(t, web, "app", true, "/bin/unshare", "-m", "/bin/true")
	evs = waitEvents(t, c, ns, "an Event for web's unshare", func(evs []eventsv1.Event) bool { return len(evs) == 2 })
	for _, e := range evs {
		if e.Regarding.UID != web.UID {
			t.Errorf("an Event regards another pod than web: %s", describe(evs))
		}
	}
	r.stop()
	if !strings.Contains(r.errText(), "Kubernetes events: 3 posted (2 created, 1 series counts), 0 writes failed, 0 dropped") {
		t.Errorf("ctrace's exit report:\n%s", r.errText())
	}
	// Nothing for the healthy pod or the host, in any namespace.
	all, err := c.EventsV1().Events("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all.Items {
		if e.ReportingController == "ctrace" && (e.Regarding.UID == healthy.UID || e.Regarding.UID != web.UID) {
			t.Errorf("an Event for something else than web: %s", describe([]eventsv1.Event{e}))
		}
	}
}

// TestPodEventsRateLimit: past --k8s-events-pod-rate a pod's diagnoses
// are dropped, and the metrics count them.
func TestPodEventsRateLimit(t *testing.T) {
	testenv.RequireRoot(t, "tracing")
	if shared.Skip != "" {
		t.Skip(shared.Skip)
	}
	s, c := server(t)
	const ns = "noisy"
	namespace(t, c, ns)
	p := pod(t, c, ns, "storm")
	addr := freeAddr(t)
	r := startCtrace(t, "--kubeconfig", tokenKubeconfig(t, s, c, "kube-system", "ctrace"),
		"--k8s-events-pod-rate", "2/m", "--metrics-addr", addr)
	// Three diagnoses (three containers), each an Event of its own.
	for _, name := range []string{"a", "b", "c"} {
		runIn(t, p, name, true, "/bin/mount", "-t", "tmpfs", "none", "/mnt")
		r.waitLine(t, `"seccomp-profile"`, `"io.kubernetes.container.name":"`+name+`"`)
	}
	waitEvents(t, c, ns, "two Events", func(evs []eventsv1.Event) bool { return len(evs) >= 2 })
	deadline := time.Now().Add(10 * time.Second)
	var m string
	for time.Now().Before(deadline) {
		m = scrape(t, addr)
		if strings.Contains(m, `ctrace_k8s_events_dropped_total{cause="pod_limit"} 1`) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range []string{
		`ctrace_k8s_events_dropped_total{cause="pod_limit"} 1`,
		`ctrace_k8s_events_dropped_total{cause="node_limit"} 0`,
		`ctrace_k8s_events_posted_total 2`,
		`ctrace_k8s_events_sent_total{write="create"} 2`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grep(m, "ctrace_k8s_events"))
		}
	}
	time.Sleep(time.Second)
	if evs := ctraceEvents(t, c, ns); len(evs) != 2 {
		t.Errorf("want two Events: %s", describe(evs))
	}
}

// TestEventsRBAC: with deploy/rbac.yaml's service account ctrace may
// create Events (TestPodEvents) and nothing more: other verbs are
// refused by the API server. A service account without the grant has its
// Events refused, and ctrace says so and counts them: it does not skip
// them silently.
func TestEventsRBAC(t *testing.T) {
	testenv.RequireRoot(t, "tracing")
	if shared.Skip != "" {
		t.Skip(shared.Skip)
	}
	s, c := server(t)
	ctx := context.Background()
	cfg, err := clientcmd.BuildConfigFromFlags("", tokenKubeconfig(t, s, c, "kube-system", "ctrace"))
	if err != nil {
		t.Fatal(err)
	}
	sa, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const ns = "rbac"
	namespace(t, c, ns)
	p := pod(t, c, ns, "target")
	if _, err := sa.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("get pods: %v", err)
	}
	refused := map[string]func() error{
		"list pods":   func() error { _, err := sa.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); return err },
		"delete pods": func() error { return sa.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{}) },
		"list events": func() error { _, err := sa.EventsV1().Events(ns).List(ctx, metav1.ListOptions{}); return err },
		"delete events": func() error {
			return sa.EventsV1().Events(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		},
		"get secrets": func() error {
			_, err := sa.CoreV1().Secrets("kube-system").Get(ctx, "x", metav1.GetOptions{})
			return err
		},
		"list nodes": func() error { _, err := sa.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); return err },
	}
	for what, do := range refused {
		if err := do(); !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v; want Forbidden", what, err)
		}
	}

	// A service account with no grant at all.
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := startCtrace(t, "--kubeconfig", tokenKubeconfig(t, s, c, ns, "nobody"))
	if !strings.Contains(r.errText(), "may not create or patch events.k8s.io events") {
		t.Errorf("ctrace did not say at start that it may not write events:\n%s", r.errText())
	}
	runIn(t, p, "app", true, "/bin/mount", "-t", "tmpfs", "none", "/mnt")
	r.waitLine(t, `"seccomp-profile"`, string(p.UID))
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(r.errText(), "refused or unanswered") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	r.stop()
	text := r.errText()
	if !strings.Contains(text, "Kubernetes events: 1 write refused or unanswered, the last a create:") || !strings.Contains(text, "forbidden") {
		t.Errorf("ctrace did not report the refused write:\n%s", text)
	}
	if !strings.Contains(text, "1 posted (0 created, 0 series counts), 1 writes failed") {
		t.Errorf("ctrace's exit report does not count the refused write:\n%s", text)
	}
	if evs := ctraceEvents(t, c, ns); len(evs) != 0 {
		t.Errorf("Events written without a grant: %s", describe(evs))
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func grep(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
