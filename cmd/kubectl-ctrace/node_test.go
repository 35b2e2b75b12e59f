package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/ctrace-dev/ctrace/internal/testing/kubenodetest"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// node is a one-node cluster: the kubelet registered with an API server.
var node kubenodetest.Shared

func TestMain(m *testing.M) {
	os.Exit(kubenodetest.MainWith(m, "kubectl-ctrace", &node, true))
}

// testImage is the ctrace image the tests import into the node's
// containerd and name with --image: no registry.
const testImage = "ctrace.test/ctrace:kubectl"

var (
	setupOnce sync.Once
	plugin    string
	setupErr  error
)

// setup builds the plugin and the ctrace image (as make image does) and
// imports the image into the node, once for the package.
func setup(t *testing.T) (string, kubernetes.Interface) {
	t.Helper()
	testenv.RequireRoot(t, "a Kubernetes node")
	if node.Skip != "" {
		t.Skip(node.Skip)
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skip("no BTF: ctrace cannot run on this kernel")
	}
	if _, err := exec.LookPath("ctr"); err != nil {
		t.Skip("no ctr (Debian package containerd) to import the ctrace image")
	}
	setupOnce.Do(func() {
		work := filepath.Join(node.Dir, "kubectl-ctrace")
		plugin = filepath.Join(work, "kubectl-ctrace")
		bin, tarPath := filepath.Join(work, "ctrace"), filepath.Join(work, "image.tar")
		goarch, err := exec.Command("go", "env", "GOARCH").Output()
		if err != nil {
			setupErr = fmt.Errorf("go env GOARCH: %w", err)
			return
		}
		i := strings.LastIndex(testImage, ":")
		for _, args := range [][]string{
			{"go", "build", "-trimpath", "-o", plugin, "."},
			{"go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "../ctrace"},
			{"go", "run", "../../build/image", "-binary", bin, "-arch", strings.TrimSpace(string(goarch)),
				"-name", testImage[:i], "-version", testImage[i+1:], "-o", tarPath},
			{"ctr", "--address", node.Address, "--namespace", kubenodetest.K8sNamespace, "image", "import", tarPath},
		} {
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				setupErr = fmt.Errorf("%v: %w\n%s", args, err, out)
				return
			}
		}
	})
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	c, err := node.API.Client()
	if err != nil {
		t.Fatal(err)
	}
	return plugin, c
}

// failingPod creates, through the API, a pod on the node whose container
// opens a missing file every 200 ms, and waits until it runs.
func failingPod(t *testing.T, ctx context.Context, c kubernetes.Interface, name, path string) *corev1.Pod {
	t.Helper()
	zero := int64(0)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:                      kubenodetest.NodeName,
			TerminationGracePeriodSeconds: &zero,
			Containers: []corev1.Container{{
				Name: "app", Image: kubenodetest.Image, ImagePullPolicy: corev1.PullNever,
				Command: []string{"/bin/sh", "-c", "while :; do cat " + path + " 2>/dev/null; sleep 0.2; done"},
			}},
		},
	}
	if _, err := c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.CoreV1().Pods("default").Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		got, err := c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err == nil && got.Status.Phase == corev1.PodRunning {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s not running in 2 minutes (%v); the kubelet's log:\n%s", name, err, node.KubeletLog())
		}
	}
}

// pluginRun is a running kubectl-ctrace whose output lines are collected.
type pluginRun struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []string
	stderr strings.Builder
	done   chan error
}

func startPlugin(t *testing.T, ctx context.Context, plugin string, args ...string) *pluginRun {
	t.Helper()
	s := &pluginRun{cmd: exec.CommandContext(ctx, plugin, args...), done: make(chan error, 1)}
	s.cmd.Stderr = &lockedWriter{mu: &s.mu, b: &s.stderr}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
		}
		s.done <- s.cmd.Wait()
	}()
	return s
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// events are the JSON events printed so far.
func (s *pluginRun) events() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range s.lines {
		var ev map[string]any
		if json.Unmarshal([]byte(l), &ev) == nil && ev["syscall"] != nil {
			out = append(out, ev)
		}
	}
	return out
}

func (s *pluginRun) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n") + "\nstderr:\n" + s.stderr.String()
}

// opened reports whether an event is a failing open of path.
func opened(ev map[string]any, path string) bool {
	b, _ := json.Marshal(ev["args"])
	return strings.Contains(string(b), path)
}

// noDebugPods fails unless no debug pod is left, in the API and on the
// node (CRI's sandboxes).
func noDebugPods(t *testing.T, ctx context.Context, c kubernetes.Interface) {
	t.Helper()
	l, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=kubectl-ctrace"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range l.Items {
		t.Errorf("debug pod %s/%s left behind (phase %s)", p.Namespace, p.Name, p.Status.Phase)
	}
	// The kubelet stops a deleted pod's sandbox before the API server
	// lets it go; it removes it later (garbage collection).
	sl, err := node.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sb := range sl.Items {
		if strings.HasPrefix(sb.Metadata.Name, "ctrace-debug-") && sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			t.Errorf("debug pod %s still has a ready sandbox on the node", sb.Metadata.Name)
		}
	}
}

// TestRunPod: kubectl ctrace run POD on the registered node shows that
// pod's failures, and only that pod's (another pod fails the same way
// beside it), then ends (--count) and leaves no pod behind.
func TestRunPod(t *testing.T) {
	plugin, c := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	failingPod(t, ctx, c, "victim", "/kc-victim-missing")
	failingPod(t, ctx, c, "bystander", "/kc-victim-missing")
	s := startPlugin(t, ctx, plugin, "--kubeconfig", node.API.Kubeconfig, "run", "victim", "--image", testImage,
		// The node's containerd is the test's, not the machine's.
		"-o", "json", "--count", "3", "-e", "%open", "--containerd-address", "/host"+node.Address)
	var err error
	select {
	case err = <-s.done:
	case <-time.After(3 * time.Minute):
		_ = s.cmd.Process.Kill()
		t.Fatalf("kubectl-ctrace did not end in 3 minutes; its output:\n%s", s.output())
	}
	if err != nil {
		t.Fatalf("kubectl-ctrace: %v; its output:\n%s", err, s.output())
	}
	evs := s.events()
	if len(evs) != 3 {
		t.Errorf("%d events, want 3 (--count 3); the output:\n%s", len(evs), s.output())
	}
	for _, ev := range evs {
		ct, _ := ev["container"].(map[string]any)
		if ct["pod"] != "victim" || ct["pod_namespace"] != "default" || ct["container_name"] != "app" || !opened(ev, "/kc-victim-missing") {
			t.Errorf("event not the victim's failing open: %v", ev)
		}
	}
	if !strings.Contains(s.output(), "debug pod default/ctrace-debug-") {
		t.Errorf("no word of the debug pod in the output:\n%s", s.output())
	}
	noDebugPods(t, ctx, c)
}

// TestRunInterrupted: kubectl ctrace run node/NODE, interrupted (SIGINT,
// as Ctrl-C) while ctrace streams, deletes its pod before it exits.
func TestRunInterrupted(t *testing.T) {
	plugin, c := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	failingPod(t, ctx, c, "looper", "/kc-looper-missing")
	s := startPlugin(t, ctx, plugin, "--kubeconfig", node.API.Kubeconfig, "run", "node/"+kubenodetest.NodeName,
		"--image", testImage, "-o", "json", "-e", "%open", "--containerd-address", "/host"+node.Address)
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		seen := false
		for _, ev := range s.events() {
			seen = seen || opened(ev, "/kc-looper-missing")
		}
		if seen {
			break
		}
		if time.Now().After(deadline) {
			_ = s.cmd.Process.Kill()
			t.Fatalf("no failing open of the looper's in 3 minutes; the output:\n%s", s.output())
		}
	}
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err == nil {
			t.Errorf("kubectl-ctrace exited 0 when interrupted")
		}
	case <-time.After(2 * time.Minute):
		_ = s.cmd.Process.Kill()
		t.Fatalf("kubectl-ctrace did not exit in 2 minutes after SIGINT; its output:\n%s", s.output())
	}
	if !strings.Contains(s.output(), "interrupted; the debug pod is deleted") {
		t.Errorf("no word of the deletion:\n%s", s.output())
	}
	noDebugPods(t, ctx, c)
}

// TestDoctorNode: kubectl ctrace doctor node/NODE runs ctrace doctor in
// the debug pod on the node's containerd and CNI configuration, gives its
// report and exit status as ctrace doctor on the node itself does, and
// leaves no pod behind.
func TestDoctorNode(t *testing.T) {
	plugin, c := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// libcni's cache under /var/lib/cni is the machine's, shared with any
	// other node on it: an empty directory of the test's instead; --min-age
	// keeps younger files of the machine out of the report.
	state := filepath.Join(node.Dir, "kubectl-ctrace", "cni-state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	// The socket is where this ctrace connects (below /host in the pod);
	// the CNI directories are the node's paths, which doctor looks up
	// below the host root itself.
	args := func(root string) []string {
		return []string{"--containerd-address", root + node.Address,
			"--cni-conf-dir", filepath.Join(node.Dir, "cni", "net.d"), "--cni-bin-dir", kubenodetest.CNIBinDir,
			"--cni-state-dir", state, "--min-age", "30m", "-o", "json"}
	}
	host := exec.CommandContext(ctx, filepath.Join(node.Dir, "kubectl-ctrace", "ctrace"), append([]string{"doctor"}, args("")...)...)
	hostOut, err := host.Output()
	hostCode := host.ProcessState.ExitCode()
	if err != nil && hostCode != 3 {
		t.Fatalf("ctrace doctor on the node: %v\n%s", err, hostOut)
	}
	s := startPlugin(t, ctx, plugin, append([]string{"--kubeconfig", node.API.Kubeconfig, "doctor", "node/" + kubenodetest.NodeName,
		"--image", testImage}, args("/host")...)...)
	select {
	case <-s.done:
	case <-time.After(3 * time.Minute):
		_ = s.cmd.Process.Kill()
		t.Fatalf("kubectl-ctrace doctor did not end in 3 minutes; its output:\n%s", s.output())
	}
	if code := s.cmd.ProcessState.ExitCode(); code != hostCode {
		t.Errorf("exit %d, ctrace doctor on the node %d; the output:\n%s\nthe node's:\n%s", code, hostCode, s.output(), hostOut)
	}
	// Both reports, decoded: the same findings (none: the debug pod's own
	// sandbox, which only the pod's report sees, is a healthy one) and
	// the same networks configured.
	var podReport, hostReport map[string]any
	s.mu.Lock()
	out := strings.Join(s.lines, "\n")
	s.mu.Unlock()
	if err := json.Unmarshal([]byte(out), &podReport); err != nil {
		t.Fatalf("the debug pod's report is no JSON: %v\n%s", err, s.output())
	}
	if err := json.Unmarshal(hostOut, &hostReport); err != nil {
		t.Fatalf("the node's report is no JSON: %v\n%s", err, hostOut)
	}
	for _, k := range []string{"findings", "cni"} {
		if !reflect.DeepEqual(podReport[k], hostReport[k]) {
			t.Errorf("%s: the debug pod's %v, the node's %v", k, podReport[k], hostReport[k])
		}
	}
	if checked, _ := podReport["checked"].(map[string]any); checked["containers"] == 0.0 {
		t.Errorf("the debug pod's doctor checked no container (its own sandbox at least): %v", podReport)
	}
	noDebugPods(t, ctx, c)
}

// proxy forwards TCP connections to the API server and can break those
// open: a network that drops the plugin's connections mid-stream.
type proxy struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, to string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l}
	t.Cleanup(func() { l.Close(); p.breakAll() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return // closed at cleanup
			}
			u, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			// Each copy ends when either side is closed.
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) breakAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestRunStreamBroken: when the log stream breaks under kubectl ctrace
// run (its connections to the API server cut while ctrace runs), the
// plugin deletes its pod over a new connection and exits non-zero.
func TestRunStreamBroken(t *testing.T) {
	plugin, c := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	failingPod(t, ctx, c, "breaker", "/kc-breaker-missing")
	u, err := url.Parse(node.API.URL)
	if err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, u.Host)
	cfg, err := clientcmd.LoadFromFile(node.API.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range cfg.Clusters {
		cl.Server = "https://" + px.l.Addr().String()
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kc); err != nil {
		t.Fatal(err)
	}
	s := startPlugin(t, ctx, plugin, "--kubeconfig", kc, "run", "breaker", "--image", testImage,
		"-o", "json", "-e", "%open", "--containerd-address", "/host"+node.Address)
	for deadline := time.Now().Add(3 * time.Minute); len(s.events()) == 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = s.cmd.Process.Kill()
			t.Fatalf("no event of the breaker's in 3 minutes; the output:\n%s", s.output())
		}
	}
	px.breakAll()
	select {
	case err := <-s.done:
		if err == nil {
			t.Errorf("kubectl-ctrace exited 0 when its stream broke")
		}
	case <-time.After(2 * time.Minute):
		_ = s.cmd.Process.Kill()
		t.Fatalf("kubectl-ctrace did not exit in 2 minutes after its stream broke; its output:\n%s", s.output())
	}
	if out := s.output(); !strings.Contains(out, "log stream broke") && !strings.Contains(out, "log stream ended while ctrace still ran") {
		t.Errorf("no word of the broken stream:\n%s", out)
	}
	noDebugPods(t, ctx, c)
}
