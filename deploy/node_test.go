package deploy

// Tests against a real Kubernetes node (internal/testing/kubenodetest): a kubelet
// runs the pods as static pods through containerd's CRI plugin with a CNI
// network, so that pod names, uids, cgroups and sandbox network
// namespaces are the ones a kubelet makes, not imitations. The node is a
// one-node cluster (kubenodetest.MainCluster): an API server, the
// controller manager and the scheduler, so that the manifests can also
// be applied as a user applies them (node_cluster_test.go). They live in
// this package, beside the manifests, so that one node serves them all.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/ctrace-dev/ctrace/internal/testing/kubenodetest"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

var node kubenodetest.Shared

func TestMain(m *testing.M) {
	os.Exit(kubenodetest.MainCluster(m, "deploy", &node))
}

// requireNode skips (outside CI) a test that needs the node.
func requireNode(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t, "a Kubernetes node")
	if node.Skip != "" {
		t.Skip(node.Skip)
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skip("no BTF: ctrace cannot run on this kernel")
	}
}

var (
	ctraceOnce sync.Once
	ctraceBin  string
	ctraceErr  error
)

// hostCtrace is the ctrace binary, built once for the package.
func hostCtrace(t *testing.T) string {
	t.Helper()
	ctraceOnce.Do(func() {
		ctraceBin = filepath.Join(node.Dir, "ctrace")
		cmd := exec.Command("go", "build", "-trimpath", "-o", ctraceBin, "../cmd/ctrace")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			ctraceErr = fmt.Errorf("go build ../cmd/ctrace: %v\n%s", err, out)
		}
	})
	if ctraceErr != nil {
		t.Fatal(ctraceErr)
	}
	return ctraceBin
}

// tracer is `ctrace run -o json` on the host, against the node's
// containerd.
type tracer struct {
	mu     sync.Mutex
	lines  []string
	stderr strings.Builder
}

func startTracer(t *testing.T, ctx context.Context, args ...string) *tracer {
	t.Helper()
	args = append([]string{"run", "-o", "json", "--containerd-address", node.Address}, args...)
	cmd := exec.CommandContext(ctx, hostCtrace(t), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tr := &tracer{}
	done := make(chan struct{})
	t.Cleanup(func() { _ = cmd.Process.Signal(unix.SIGINT); <-done; _ = cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			tr.mu.Lock()
			tr.lines = append(tr.lines, sc.Text())
			tr.mu.Unlock()
		}
	}()
	ready := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		seenReady, seenConn := false, false
		for sc.Scan() {
			tr.mu.Lock()
			tr.stderr.WriteString(sc.Text() + "\n")
			tr.mu.Unlock()
			seenReady = seenReady || strings.Contains(sc.Text(), "ready: tracing")
			// Pods' metadata comes from containerd: wait for it too.
			if !seenConn && strings.Contains(sc.Text(), ": connected") {
				seenConn = true
			}
			if seenReady && seenConn && ready != nil {
				close(ready)
				ready = nil
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		tr.mu.Lock()
		defer tr.mu.Unlock()
		t.Fatalf("ctrace run not ready in 60 s:\n%s", tr.stderr.String())
	}
	return tr
}

// event waits for the first event for which ok holds.
func (tr *tracer) event(t *testing.T, what string, timeout time.Duration, ok func(ev map[string]any) bool) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		tr.mu.Lock()
		ls := append([]string(nil), tr.lines...)
		tr.mu.Unlock()
		if ev := firstEvent(ls, ok); ev != nil {
			return ev
		}
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	t.Fatalf("no event of %s in %s; ctrace's stderr:\n%s\n%d events; the kubelet's log:\n%s", what, timeout, tr.stderr.String(), len(tr.lines), node.KubeletLog())
	return nil
}

func firstEvent(lines []string, ok func(map[string]any) bool) map[string]any {
	for _, l := range lines {
		var ev map[string]any
		if json.Unmarshal([]byte(l), &ev) == nil && ok(ev) {
			return ev
		}
	}
	return nil
}

// field is the string at a dotted path of a decoded event.
func field(ev map[string]any, path string) string {
	var v any = ev
	for _, k := range strings.Split(path, ".") {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	s, _ := v.(string)
	return s
}

// argsMention reports whether any of the event's arguments contains s.
func argsMention(ev map[string]any, s string) bool {
	b, _ := json.Marshal(ev["args"])
	return strings.Contains(string(b), s)
}

// runtimeSpec is the OCI spec the runtime reports for a container or
// sandbox in CRI's verbose info.
type runtimeSpec struct {
	RuntimeSpec struct {
		Linux struct {
			CgroupsPath string `json:"cgroupsPath"`
			Namespaces  []struct {
				Type, Path string
			} `json:"namespaces"`
		} `json:"linux"`
	} `json:"runtimeSpec"`
}

func specOf(t *testing.T, info map[string]string) runtimeSpec {
	t.Helper()
	var s runtimeSpec
	if err := json.Unmarshal([]byte(info["info"]), &s); err != nil {
		t.Fatalf("the runtime's verbose info: %v", err)
	}
	return s
}

// podManifest is a static pod of busybox containers in namespace shop.
func podManifest(name, restart, body string) []byte {
	return []byte(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: shop
spec:
  restartPolicy: %s
  terminationGracePeriodSeconds: 0
%s`, name, restart, body))
}

func writePod(t *testing.T, name string, manifest []byte) {
	t.Helper()
	writeStaticPod(t, "shop", name, manifest)
}

// writeStaticPod writes a static pod's manifest and removes it, and waits
// for the pod to go, when the test ends.
func writeStaticPod(t *testing.T, namespace, name string, manifest []byte) {
	t.Helper()
	file := namespace + "_" + name + ".yaml"
	if err := node.WritePod(file, manifest); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := node.DeletePod(ctx, file, namespace, kubenodetest.StaticName(name)); err != nil {
			t.Errorf("delete pod %s: %v", name, err)
		}
	})
}

// TestNodePodFailures: failures in real pods carry the pod's name,
// namespace and uid and the container's name from the kubelet's CRI
// labels, and the cgroup the kubelet made: a container's open and mount,
// runc init's mount of a bad volume, and a container that lives about
// 50 ms.
func TestNodePodFailures(t *testing.T) {
	requireNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tr := startTracer(t, ctx, "--containerd-namespace", kubenodetest.K8sNamespace)

	// The bad volume: a directory mounted onto /etc/passwd, a file in
	// the image; runc init's bind mount fails with ENOTDIR.
	vol := filepath.Join(node.Dir, "badvol-src")
	if err := os.MkdirAll(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	writePod(t, "app", podManifest("app", "Always", fmt.Sprintf(`  containers:
  - name: web
    image: %s
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", "cat /kn-open-missing; mount -t tmpfs none /kn-mount-missing; exec sleep 3600"]
`, kubenodetest.Image)))
	writePod(t, "badvol", podManifest("badvol", "Never", fmt.Sprintf(`  containers:
  - name: init-fails
    image: %s
    imagePullPolicy: Never
    command: ["/bin/true"]
    volumeMounts:
    - name: dir
      mountPath: /etc/passwd
  volumes:
  - name: dir
    hostPath:
      path: %s
      type: Directory
`, kubenodetest.Image, vol)))
	writePod(t, "quick", podManifest("quick", "Never", fmt.Sprintf(`  containers:
  - name: brief
    image: %s
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", "cat /kn-quick-missing; sleep 0.05"]
`, kubenodetest.Image)))

	app, err := node.WaitPod(ctx, "shop", kubenodetest.StaticName("app"), 2*time.Minute, func(p *kubenodetest.Pod) bool {
		c := p.Container("web")
		return c != nil && c.State == runtimeapi.ContainerState_CONTAINER_RUNNING
	})
	if err != nil {
		t.Fatal(err)
	}
	uid := app.Sandbox.Metadata.Uid
	cs := app.Container("web")
	// The pod's identity as the kubelet labelled it.
	wantPod := map[string]any{
		"namespace": kubenodetest.K8sNamespace, "known": true, "id": cs.Id,
		"pod": kubenodetest.StaticName("app"), "pod_namespace": "shop", "pod_uid": uid, "container_name": "web",
	}
	if cs.Labels[kubenodetest.LabelPodUID] != uid || cs.Labels[kubenodetest.LabelPodName] != kubenodetest.StaticName("app") {
		t.Fatalf("the kubelet's labels %v do not name pod %s uid %s", cs.Labels, kubenodetest.StaticName("app"), uid)
	}
	st, err := node.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: cs.Id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	cgroup := specOf(t, st.Info).RuntimeSpec.Linux.CgroupsPath
	// The cgroupfs driver: /kubepods/QOS/podUID/CONTAINER (no QOS level
	// for a Guaranteed pod); a BestEffort pod here.
	if want := "/kubepods/besteffort/pod" + uid + "/" + cs.Id; cgroup != want {
		t.Errorf("the kubelet asked for cgroup %q, want %q", cgroup, want)
	}
	for _, c := range []struct{ syscall, path string }{{"openat", "/kn-open-missing"}, {"mount", "/kn-mount-missing"}} {
		ev := tr.event(t, c.syscall+" "+c.path, 30*time.Second, func(ev map[string]any) bool {
			return ev["syscall"] == c.syscall && argsMention(ev, c.path)
		})
		checkContainer(t, ev, wantPod)
		if got := field(ev, "proc.cgroup"); got != cgroup {
			t.Errorf("%s: proc.cgroup %q, want the kubelet's %q", c.syscall, got, cgroup)
		}
		if ev["errno"] != "ENOENT" {
			t.Errorf("%s: errno %v, want ENOENT", c.syscall, ev["errno"])
		}
	}
	// The kubelet made the pod's cgroup in the v1 hierarchies too.
	if _, err := os.Stat("/sys/fs/cgroup/memory/kubepods/besteffort/pod" + uid); err != nil && cgroupV1() {
		t.Errorf("the pod's memory cgroup: %v", err)
	}

	bad, err := node.WaitPod(ctx, "shop", kubenodetest.StaticName("badvol"), 2*time.Minute, func(p *kubenodetest.Pod) bool {
		c := p.Container("init-fails")
		return c != nil && c.State == runtimeapi.ContainerState_CONTAINER_EXITED
	})
	if err != nil {
		t.Fatal(err)
	}
	bc := bad.Container("init-fails")
	if bc.ExitCode == 0 || !strings.Contains(bc.Message, "not a directory") {
		t.Errorf("the bad volume's container: exit %d %s %q; want runc's mount to fail with ENOTDIR", bc.ExitCode, bc.Reason, bc.Message)
	}
	ev := tr.event(t, "runc init's mount of "+vol, 30*time.Second, func(ev map[string]any) bool {
		return ev["syscall"] == "mount" && argsMention(ev, vol) && ev["errno"] == "ENOTDIR"
	})
	if c := field(ev, "proc.comm"); c != "runc:[2:INIT]" {
		t.Errorf("the bad volume's mount was made by %q, want runc:[2:INIT]", c)
	}
	checkContainer(t, ev, map[string]any{"namespace": kubenodetest.K8sNamespace, "id": bc.Id,
		"pod": kubenodetest.StaticName("badvol"), "pod_namespace": "shop", "pod_uid": bad.Sandbox.Metadata.Uid, "container_name": "init-fails"})

	quick, err := node.WaitPod(ctx, "shop", kubenodetest.StaticName("quick"), 2*time.Minute, func(p *kubenodetest.Pod) bool {
		c := p.Container("brief")
		return c != nil && c.State == runtimeapi.ContainerState_CONTAINER_EXITED
	})
	if err != nil {
		t.Fatal(err)
	}
	qc := quick.Container("brief")
	if life := time.Duration(qc.FinishedAt - qc.StartedAt); life > time.Second {
		t.Logf("the brief container lived %s", life)
	}
	ev = tr.event(t, "openat /kn-quick-missing", 30*time.Second, func(ev map[string]any) bool {
		return ev["syscall"] == "openat" && argsMention(ev, "/kn-quick-missing")
	})
	checkContainer(t, ev, map[string]any{"namespace": kubenodetest.K8sNamespace, "known": true, "id": qc.Id,
		"pod": kubenodetest.StaticName("quick"), "pod_namespace": "shop", "pod_uid": quick.Sandbox.Metadata.Uid, "container_name": "brief"})
}

// checkContainer fails the test unless the event's container has want's
// fields.
func checkContainer(t *testing.T, ev map[string]any, want map[string]any) {
	t.Helper()
	c, _ := ev["container"].(map[string]any)
	if c == nil {
		t.Errorf("%v %v: no container; want %v", ev["syscall"], ev["args"], want)
		return
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%v: container.%s = %v, want %v (container %v)", ev["syscall"], k, c[k], v, c)
		}
	}
}

func cgroupV1() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type != unix.CGROUP2_SUPER_MAGIC
}

// TestNodeStaleNetNS: a running pod's CNI network namespace file made
// stale (its nsfs bind mount gone) is named, with the pod's sandbox, by
// the failing setns and by ctrace doctor.
func TestNodeStaleNetNS(t *testing.T) {
	requireNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	writePod(t, "netns", podManifest("netns", "Always", fmt.Sprintf(`  containers:
  - name: idle
    image: %s
    imagePullPolicy: Never
    command: ["/bin/sleep", "3600"]
`, kubenodetest.Image)))
	p, err := node.WaitPod(ctx, "shop", kubenodetest.StaticName("netns"), 2*time.Minute, func(p *kubenodetest.Pod) bool {
		c := p.Container("idle")
		return c != nil && c.State == runtimeapi.ContainerState_CONTAINER_RUNNING
	})
	if err != nil {
		t.Fatal(err)
	}
	var path string
	for _, ns := range specOf(t, p.Info).RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" {
			path = ns.Path
		}
	}
	if !regexp.MustCompile(`^` + kubenodetest.NetNSDir + `/cni-[0-9a-f-]+$`).MatchString(path) {
		t.Fatalf("the sandbox's network namespace is %q, want a CNI file under %s", path, kubenodetest.NetNSDir)
	}
	sandbox, podName := p.Sandbox.Id, kubenodetest.StaticName("netns")
	tr := startTracer(t, ctx, "-e", "setns")
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	c := exec.Command("ip", "netns", "exec", filepath.Base(path), "true")
	if out, err := c.CombinedOutput(); err == nil {
		t.Fatalf("ip netns exec succeeded on a stale file: %s", out)
	}
	pid := float64(c.Process.Pid)
	ev := tr.event(t, "setns of ip netns exec", 15*time.Second, func(ev map[string]any) bool {
		pr, _ := ev["proc"].(map[string]any)
		return ev["syscall"] == "setns" && pr["pid"] == pid
	})
	var r map[string]any
	rs, _ := ev["reasons"].([]any)
	for _, x := range rs {
		if m, _ := x.(map[string]any); m["kind"] == "netns" {
			r = m
		}
	}
	line, _ := json.Marshal(ev)
	// /var/run is a link to /run: ip names the file as /run/netns/cni-...
	samePath := func(p any) bool {
		s, _ := p.(string)
		a, _ := filepath.EvalSymlinks(filepath.Dir(s))
		b, _ := filepath.EvalSymlinks(filepath.Dir(path))
		return s != "" && a == b && filepath.Base(s) == filepath.Base(path)
	}
	if ev["errno"] != "EINVAL" || r == nil || !samePath(r["path"]) || r["state"] != "stale" || r["container_state"] != "running" {
		t.Fatalf("setns event %s\nwant EINVAL with a netns reason: %s stale, sandbox running", line, path)
	}
	rc, _ := r["container"].(map[string]any)
	if rc["id"] != sandbox || rc["namespace"] != kubenodetest.K8sNamespace || rc["pod"] != podName || rc["pod_namespace"] != "shop" {
		t.Errorf("the netns reason names container %v, want sandbox %s of pod shop/%s", rc, sandbox, podName)
	}

	out, err := exec.CommandContext(ctx, hostCtrace(t), "doctor", "-o", "json", "--containerd-address", node.Address,
		"--containerd-namespace", kubenodetest.K8sNamespace).Output()
	var ee *exec.ExitError
	if err != nil && (!errors.As(err, &ee) || ee.ExitCode() != 3) {
		t.Fatalf("ctrace doctor: %v, want exit status 3; output:\n%s", err, out)
	}
	var doc struct {
		Findings []struct {
			Kind, Path string
			Container  *struct {
				ID, Namespace, Pod string
				PodNamespace       string `json:"pod_namespace"`
				Task               string
			}
		}
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("doctor -o json: %v\n%s", err, out)
	}
	found := false
	for _, f := range doc.Findings {
		if f.Kind == "netns-stale" && samePath(f.Path) && f.Container != nil && f.Container.ID == sandbox &&
			f.Container.Pod == podName && f.Container.PodNamespace == "shop" && f.Container.Task == "running" {
			found = true
		}
	}
	if !found {
		t.Errorf("ctrace doctor does not report %s stale for sandbox %s of pod shop/%s:\n%s", path, sandbox, podName, out)
	}
}
