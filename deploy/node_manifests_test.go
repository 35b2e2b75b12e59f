package deploy

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"sigs.k8s.io/yaml"

	"github.com/ctrace-dev/ctrace/internal/testing/kubenodetest"
)

// TestNodeManifests runs deploy/daemonset.yaml's pod template and
// deploy/debug-pod.yaml as static pods of the node, with the image make
// image builds: each ctrace starts, is ready (the DaemonSet's /healthz on
// its pod IP, as its probes ask) and attributes a failure in another pod
// to it. The pods are derived from the manifest files; what the test
// changes is listed in staticDaemonSet and staticDebugPod, and none of it
// is a grant.
func TestNodeManifests(t *testing.T) {
	requireNode(t)
	if _, err := exec.LookPath("ctr"); err != nil {
		t.Skip("no ctr (Debian package containerd)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	ds := staticDaemonSet(t)
	dbg := staticDebugPod(t)
	importCtraceImage(t, ctx, ds.Spec.Containers[0].Image)
	for _, p := range []*corev1.Pod{ds, dbg} {
		b, err := yaml.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		writeStaticPod(t, p.Namespace, p.Name, b)
	}
	agent := waitCtrace(t, ctx, ds)
	debug := waitCtrace(t, ctx, dbg)
	if !strings.Contains(node.ContainerLog(debug, "ctrace"), "host root /host") {
		t.Errorf("the debug pod's ctrace did not detect the host root at /host:\n%s", node.ContainerLog(debug, "ctrace"))
	}
	// The DaemonSet reads the node's tracefs through a read-only volume
	// (it has no CAP_SYS_ADMIN to make one): the per-syscall tracepoints
	// where the node mounts it, else the raw dispatchers, said in its log.
	_, err := os.Stat("/sys/kernel/tracing/events/syscalls")
	nodeTracefs := err == nil
	s := node.ContainerLog(agent, "ctrace")
	switch fellBack := strings.Contains(s, "runs ctrace's dispatcher"); {
	case nodeTracefs && fellBack:
		t.Errorf("the DaemonSet's ctrace fell back to the raw dispatcher with the node's tracefs mounted:\n%s", s)
	case !nodeTracefs && !fellBack:
		t.Errorf("the node mounts no tracefs, yet the DaemonSet's ctrace did not say it uses the raw dispatcher:\n%s", s)
	}
	// The readiness and liveness probes' request, on the pod IP.
	ip := agent.Sandbox.GetNetwork().GetIp()
	if ip == "" {
		t.Fatalf("the DaemonSet's pod has no IP")
	}
	healthz(t, ctx, ip+":9464")

	writePod(t, "victim", podManifest("victim", "Always", `  containers:
  - name: app
    image: `+kubenodetest.Image+`
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", "mount -t tmpfs none /kn-victim-missing; exec sleep 3600"]
`))
	victim, err := node.WaitPod(ctx, "shop", kubenodetest.StaticName("victim"), 2*time.Minute, func(p *kubenodetest.Pod) bool {
		c := p.Container("app")
		return c != nil && c.State == runtimeapi.ContainerState_CONTAINER_RUNNING
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"namespace": kubenodetest.K8sNamespace, "known": true, "id": victim.Container("app").Id,
		"pod": kubenodetest.StaticName("victim"), "pod_namespace": "shop", "pod_uid": victim.Sandbox.Metadata.Uid, "container_name": "app"}
	for name, p := range map[string]*kubenodetest.Pod{"DaemonSet": agent, "debug pod": debug} {
		var ev map[string]any
		for deadline := time.Now().Add(30 * time.Second); ev == nil && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			ev = firstEvent(logEvents(node.ContainerLog(p, "ctrace")), func(ev map[string]any) bool {
				return ev["syscall"] == "mount" && argsMention(ev, "/kn-victim-missing")
			})
		}
		if ev == nil {
			t.Errorf("the %s's ctrace did not report the victim's mount; its log:\n%s", name, node.ContainerLog(p, "ctrace"))
			continue
		}
		checkContainer(t, ev, want)
	}
	healthz(t, ctx, ip+":9464")
}

// staticDaemonSet is the DaemonSet's pod template as a static pod. What
// differs from the manifest, and why:
//   - the containerd volume is the node's socket directory: the node's
//     containerd is not the machine's (/run/containerd);
//   - -o none becomes -o json: the events go to the container's log,
//     which the test reads, rather than to a collector (where events go
//     is not a grant; the OTLP export has its own tests);
//   - --k8s-events goes, with the service account: a static pod may
//     name no service account (TestClusterDaemonSet applies the
//     DaemonSet with both through the API server);
//   - a capability this test process lacks is left out: runc cannot give
//     a container more than its own bounding set (this development
//     machine has no CAP_SYS_RESOURCE, which only kernels before 5.11
//     need); the test logs each one.
func staticDaemonSet(t *testing.T) *corev1.Pod {
	t.Helper()
	ds := daemonSet(t)
	p := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: ds.Name, Namespace: ds.Namespace,
			Labels: ds.Spec.Template.Labels, Annotations: ds.Spec.Template.Annotations},
		Spec: *ds.Spec.Template.Spec.DeepCopy(),
	}
	for i := range p.Spec.Volumes {
		if hp := p.Spec.Volumes[i].HostPath; hp != nil && hp.Path == "/run/containerd" {
			hp.Path = node.SocketDir
		}
	}
	c := &p.Spec.Containers[0]
	for i, a := range c.Args {
		if a == "none" && i > 0 && c.Args[i-1] == "-o" {
			c.Args[i] = "json"
		}
	}
	if !slices.Contains(c.Args, "json") {
		t.Fatalf("the DaemonSet's args %v: the test expected -o none to make json of", c.Args)
	}
	// A static pod has no service account to post Events with:
	// TestClusterDaemonSet runs the DaemonSet with one.
	c.Args = slices.DeleteFunc(c.Args, func(a string) bool { return a == "--k8s-events" })
	// A static pod may name no service account, and without Events the
	// agent needs no token.
	p.Spec.ServiceAccountName, p.Spec.AutomountServiceAccountToken = "", nil
	c.SecurityContext.Capabilities.Add = boundedCaps(t, c.SecurityContext.Capabilities.Add)
	return p
}

// staticDebugPod is debug-pod.yaml as a static pod. What differs, and
// why: NODE_NAME is the node's name; ctrace is told the node's containerd
// socket under /host (the machine's own is at /run/containerd) and writes
// JSON (its output format is not a grant).
func staticDebugPod(t *testing.T) *corev1.Pod {
	t.Helper()
	var p corev1.Pod
	decode(t, "debug-pod.yaml", &p)
	if p.Spec.NodeName != "NODE_NAME" {
		t.Fatalf("debug-pod.yaml: nodeName %q, want the NODE_NAME placeholder", p.Spec.NodeName)
	}
	p.Spec.NodeName = kubenodetest.NodeName
	c := &p.Spec.Containers[0]
	c.Args = append(c.Args, "-o", "json", "--containerd-address", "/host"+node.Address)
	return &p
}

// importCtraceImage builds the image as make image does, tagged as the
// manifests name it, and imports it into the node's k8s.io namespace.
func importCtraceImage(t *testing.T, ctx context.Context, ref string) {
	t.Helper()
	i := strings.LastIndex(ref, ":")
	if i < 0 {
		t.Fatalf("image %s has no tag", ref)
	}
	work := t.TempDir()
	bin, tarPath := filepath.Join(work, "ctrace"), filepath.Join(work, "image.tar")
	run(t, exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=v0.0.0-kubenode", "-o", bin, "../cmd/ctrace"), "CGO_ENABLED=0")
	run(t, exec.Command("go", "run", "../build/image", "-binary", bin, "-arch", goarch(t), "-name", ref[:i], "-version", ref[i+1:], "-o", tarPath))
	run(t, exec.CommandContext(ctx, "ctr", "--address", node.Address, "--namespace", kubenodetest.K8sNamespace, "image", "import", tarPath))
}

// waitCtrace waits until the pod's ctrace container runs and has said it
// is tracing.
func waitCtrace(t *testing.T, ctx context.Context, p *corev1.Pod) *kubenodetest.Pod {
	t.Helper()
	name := kubenodetest.StaticName(p.Name)
	kp, err := node.WaitPod(ctx, p.Namespace, name, 2*time.Minute, func(kp *kubenodetest.Pod) bool {
		c := kp.Container("ctrace")
		return c != nil && c.State == runtimeapi.ContainerState_CONTAINER_RUNNING &&
			strings.Contains(node.ContainerLog(kp, "ctrace"), "ready: tracing")
	})
	if err != nil {
		if kp2, _ := node.WaitPod(ctx, p.Namespace, name, time.Second, func(*kubenodetest.Pod) bool { return true }); kp2 != nil {
			t.Logf("%s's ctrace log:\n%s", name, node.ContainerLog(kp2, "ctrace"))
		}
		t.Fatal(err)
	}
	return kp
}

// logEvents are the JSON lines of a container's CRI log ("TIME STREAM
// TAG LINE" each).
func logEvents(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		f := strings.SplitN(strings.TrimRight(l, "\r"), " ", 4)
		if len(f) == 4 && strings.HasPrefix(f[3], "{") && json.Valid([]byte(strings.TrimRight(f[3], "\r"))) {
			out = append(out, strings.TrimRight(f[3], "\r"))
		}
	}
	return out
}

// boundedCaps are the capabilities of add that this process's bounding
// set has: runc cannot give a container more than its own bounding set
// (this development machine has no CAP_SYS_RESOURCE, which only kernels
// before 5.11 need); the test logs each one left out.
func boundedCaps(t *testing.T, add []corev1.Capability) []corev1.Capability {
	t.Helper()
	var caps []corev1.Capability
	for _, cp := range add {
		n, known := capNumbers[string(cp)]
		if !known {
			t.Fatalf("capability %s: add its number to capNumbers", cp)
		}
		if ok, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0); err == nil && ok == 0 {
			t.Logf("CAP_%s is not in this process's bounding set: the pod runs without it", cp)
			continue
		}
		caps = append(caps, cp)
	}
	return caps
}
