package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/ctrace-dev/ctrace/internal/testing/ctrdtest"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// TestImageInContainer is the DaemonSet without a kubelet: make image's
// image, imported with ctr into a private containerd, runs ctrace in a
// container with exactly the DaemonSet's grants (capabilities, host PID
// namespace, host mounts, no_new_privs, read-only root) and arguments, and
// ctrace attributes a failure in another container of that containerd to
// it, answers /healthz, and still does after containerd restarted (a new
// socket in the mounted directory).
func TestImageInContainer(t *testing.T) {
	if missing := ctrdtest.Missing(); len(missing) > 0 {
		msg := "missing " + strings.Join(missing, ", ")
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := exec.LookPath("ctr"); err != nil {
		t.Skip("no ctr (Debian package containerd)")
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skip("no BTF: ctrace cannot run on this kernel")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()

	// The image, as make image builds it.
	work := t.TempDir()
	bin, tarPath := filepath.Join(work, "ctrace"), filepath.Join(work, "image.tar")
	run(t, exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=v0.0.0-incontainer", "-o", bin, "../cmd/ctrace"), "CGO_ENABLED=0")
	run(t, exec.Command("go", "run", "../build/image", "-binary", bin, "-arch", goarch(t), "-version", "incontainer", "-o", tarPath))

	d := ctrdtest.StartFor(t)

	const ns = "ctrace-it"
	out := run(t, exec.Command("ctr", "--address", d.Address, "--namespace", ns, "image", "import", tarPath))
	t.Logf("ctr image import: %s", strings.TrimSpace(out))
	cctx := namespaces.WithNamespace(ctx, ns)
	img, err := d.Client.GetImage(cctx, "ghcr.io/ctrace-dev/ctrace:incontainer")
	if err != nil {
		t.Fatalf("the imported image: %v", err)
	}
	if ok, err := img.IsUnpacked(cctx, "overlayfs"); err != nil || !ok {
		if err := img.Unpack(cctx, "overlayfs"); err != nil {
			t.Fatalf("unpack: %v", err)
		}
	}

	// ctrace's container, configured as the DaemonSet configures it.
	ds := daemonSet(t)
	dc := &ds.Spec.Template.Spec.Containers[0]
	// A capability this process lacks cannot be given to a container
	// (this development machine has no CAP_SYS_RESOURCE, which only
	// kernels before 5.11 need).
	var caps []string
	for _, c := range DaemonSetCapabilities(t) {
		n, known := capNumbers[c]
		if !known {
			t.Fatalf("capability %s: add its number to capNumbers", c)
		}
		if ok, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0); err == nil && ok == 0 {
			t.Logf("CAP_%s is not in this process's bounding set: the container runs without it", c)
			continue
		}
		caps = append(caps, "CAP_"+c)
	}
	// The manifest's host paths, each where this test has it.
	hostPath := map[string]string{}
	for _, v := range ds.Spec.Template.Spec.Volumes {
		hostPath[v.Name] = v.HostPath.Path
	}
	var mounts []specs.Mount
	for _, vm := range dc.VolumeMounts {
		var m specs.Mount
		switch p := hostPath[vm.Name]; p {
		case "/proc":
			m = specs.Mount{Type: "bind", Source: "/proc", Options: []string{"rbind"}}
		case "/run/containerd":
			// The private containerd's socket directory, as the
			// node's /run/containerd.
			m = specs.Mount{Type: "bind", Source: filepath.Dir(d.Address), Options: []string{"rbind"}}
		case "/sys/kernel/tracing":
			// The node's tracefs: the per-syscall tracepoints'
			// names. Mounted by runc in the container's mount
			// namespace (the kernel's one tracefs, as a bind of the
			// node's would be), so that this works where the machine
			// has none mounted, and without "ro": on mount(2) that
			// would reach the superblock the node's tracefs mounts
			// share.
			m = specs.Mount{Type: "tracefs", Source: "tracefs", Options: []string{"nosuid", "nodev", "noexec"}}
			vm.ReadOnly = false
		default:
			t.Fatalf("volume %s (hostPath %s): say where this test has it", vm.Name, p)
		}
		m.Destination = vm.MountPath
		if vm.ReadOnly {
			m.Options = append(m.Options, "ro")
		}
		mounts = append(mounts, m)
	}
	// The pod's network namespace comes from a network plugin, which
	// this test has not: ctrace shares the test's, and its pod IP is the
	// loopback address.
	// The events go to stdout as JSON rather than to a collector, which
	// this test has not either (the OTLP path has its own tests): where
	// they go is not a grant.
	args := append([]string{}, dc.Command...)
	// Nor has it an API server to post Events to (--k8s-events has its
	// own tests against one).
	for i, a := range dc.Args {
		if a == "--k8s-events" {
			continue
		}
		if a == "none" && i > 0 && dc.Args[i-1] == "-o" {
			a = "json"
		}
		args = append(args, strings.ReplaceAll(a, "$(POD_IP)", "127.0.0.1"))
	}
	// Only the target namespace's failures: the test's own containers'
	// set-up would crowd the output.
	args = append(args, "--containerd-namespace", "target")
	specOpts := []oci.SpecOpts{oci.WithImageConfig(img), oci.WithProcessArgs(args...), oci.WithCapabilities(caps),
		oci.WithMounts(mounts), oci.WithHostNamespace(specs.NetworkNamespace)}
	sc := dc.SecurityContext
	if ds.Spec.Template.Spec.HostPID {
		specOpts = append(specOpts, oci.WithHostNamespace(specs.PIDNamespace))
	}
	if sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		specOpts = append(specOpts, oci.WithRootFSReadonly())
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		specOpts = append(specOpts, oci.WithNoNewPrivileges)
	}
	if sc.RunAsUser != nil {
		specOpts = append(specOpts, oci.WithUserID(uint32(*sc.RunAsUser)))
	}
	const tracerID = "ctrace"
	var logs testenv.Buffer
	c, err := d.Client.NewContainer(cctx, tracerID,
		client.WithRuntime("io.containerd.runc.v2", &options.Options{Root: filepath.Join(d.Dir, "runc")}),
		client.WithNewSnapshot(tracerID+"-snap", img),
		client.WithNewSpec(specOpts...),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Delete(cctx, client.WithSnapshotCleanup)
	task, err := c.NewTask(cctx, cio.NewCreator(cio.WithStreams(nil, &logs, &logs), cio.WithFIFODir(filepath.Join(d.Dir, "fifo"))))
	if err != nil {
		t.Fatal(err)
	}
	defer task.Delete(cctx, client.WithProcessKill)
	exitC, err := task.Wait(cctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(cctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, &logs, exitC, func(s string) bool { return strings.Contains(s, "ready: tracing") })
	if s := logs.String(); !strings.Contains(s, "host root /host") {
		t.Errorf("ctrace did not detect the host root at /host:\n%s", s)
	}
	if s := logs.String(); strings.Contains(s, "runs ctrace's dispatcher") {
		t.Errorf("ctrace fell back to the raw dispatcher with tracefs mounted:\n%s", s)
	}

	// A failing mount in another container of the same containerd.
	const targetID = "victim"
	res, err := d.Run(ctx, ctrdtest.RunOptions{Namespace: "target", ID: targetID,
		Args:   []string{"/bin/mount", "-t", "tmpfs", "none", "/nonexistent-incontainer"},
		Labels: map[string]string{"io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.namespace": "shop", "io.kubernetes.container.name": "app"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status == 0 {
		t.Fatalf("the target's mount succeeded: %s", res.Output)
	}
	var ev map[string]any
	waitFor(t, ctx, &logs, exitC, func(s string) bool {
		ev = findEvent(s, "mount", "/nonexistent-incontainer")
		return ev != nil
	})
	ctr, _ := ev["container"].(map[string]any)
	if ctr == nil {
		t.Fatalf("the failure carries no container: %v", ev)
	}
	want := map[string]any{"id": targetID, "namespace": "target", "known": true,
		"pod": "web-0", "pod_namespace": "shop", "container_name": "app"}
	for k, v := range want {
		if ctr[k] != v {
			t.Errorf("container.%s = %v, want %v (container %v)", k, ctr[k], v, ctr)
		}
	}
	if ev["errno"] != "ENOENT" {
		t.Errorf("errno %v, want ENOENT", ev["errno"])
	}
	t.Logf("attributed in the container: %v", ctr)
	healthz(t, ctx, "127.0.0.1:9464")

	// containerd restarts: a new socket in the directory ctrace has
	// mounted, which ctrace reconnects to. The task's exit is watched
	// anew: the old watch ended with the daemon.
	// The next container starts only once ctrace says it is connected
	// again: an event in between would carry the container id only, as
	// documented, and the test would race the reconnection.
	connected := func(s string) int { return strings.Count(s, ": connected") }
	before := connected(logs.String())
	if before == 0 {
		t.Fatalf("ctrace attributed a container without saying it connected to containerd:\n%s", logs.String())
	}
	d.Kill()
	if err := d.Restart(); err != nil {
		t.Fatal(err)
	}
	if exitC, err = task.Wait(cctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, &logs, exitC, func(s string) bool { return connected(s) > before })
	res, err = d.Run(ctx, ctrdtest.RunOptions{Namespace: "target", ID: targetID + "-after-restart",
		Args:   []string{"/bin/mount", "-t", "tmpfs", "none", "/nonexistent-after-restart"},
		Labels: map[string]string{"io.kubernetes.pod.name": "web-1", "io.kubernetes.pod.namespace": "shop", "io.kubernetes.container.name": "app"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status == 0 {
		t.Fatalf("the target's mount succeeded: %s", res.Output)
	}
	waitFor(t, ctx, &logs, exitC, func(s string) bool {
		ev = findEvent(s, "mount", "/nonexistent-after-restart")
		return ev != nil
	})
	if ctr, _ := ev["container"].(map[string]any); ctr == nil || ctr["id"] != targetID+"-after-restart" || ctr["pod"] != "web-1" {
		t.Errorf("after containerd restarted, the failure carries container %v, want %s in pod web-1", ev["container"], targetID+"-after-restart")
	}
	healthz(t, ctx, "127.0.0.1:9464")

	_ = task.Kill(cctx, unix.SIGTERM)
	select {
	case st := <-exitC:
		if st.ExitCode() != 0 {
			t.Errorf("ctrace in the container exited with %d:\n%s", st.ExitCode(), logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Errorf("ctrace did not stop on SIGTERM")
	}
}

// capNumbers are the numbers of the capabilities the DaemonSet adds
// (include/uapi/linux/capability.h).
var capNumbers = map[string]int{"SYS_PTRACE": 19, "SYS_RESOURCE": 24, "AUDIT_READ": 37, "PERFMON": 38, "BPF": 39}

// findEvent is the first JSON event of syscall whose args mention path.
func findEvent(out, syscall, path string) map[string]any {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") || !strings.Contains(line, path) {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["syscall"] == syscall {
			return m
		}
	}
	return nil
}

// waitFor waits until ok holds for the task's output.
func waitFor(t *testing.T, ctx context.Context, logs *testenv.Buffer, exitC <-chan client.ExitStatus, ok func(string) bool) {
	t.Helper()
	for !ok(logs.String()) {
		select {
		case st := <-exitC:
			t.Fatalf("ctrace exited with %d:\n%s", st.ExitCode(), logs.String())
		case <-ctx.Done():
			t.Fatalf("timed out; ctrace wrote:\n%s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func run(t *testing.T, cmd *exec.Cmd, env ...string) string {
	t.Helper()
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return string(out)
}

func goarch(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOARCH").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// daemonSet is deploy/daemonset.yaml.
func daemonSet(t *testing.T) *appsv1.DaemonSet {
	var ds appsv1.DaemonSet
	decode(t, "daemonset.yaml", &ds)
	return &ds
}

// healthz fails the test unless ctrace's /healthz at addr answers 200.
func healthz(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("/healthz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s %q", resp.Status, b)
	}
}
