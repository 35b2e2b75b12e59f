package deploy

import (
	"github.com/ctrace-dev/ctrace/internal/testenv"

	"bufio"
	"context"
	"encoding/json"
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

	"github.com/ctrace-dev/ctrace/internal/ctrdtest"
)

// TestImageInContainer is the debug pod without a kubelet: make image's
// image, imported with ctr into a private containerd, runs ctrace in a
// container with the DaemonSet's capabilities, host PID namespace and host
// mounts, and ctrace attributes a failure in another container of that
// containerd to it.
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
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// The image, as make image builds it.
	work := t.TempDir()
	bin, tarPath := filepath.Join(work, "ctrace"), filepath.Join(work, "image.tar")
	run(t, exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=v0.0.0-incontainer", "-o", bin, "../cmd/ctrace"), "CGO_ENABLED=0")
	run(t, exec.Command("go", "run", "../build/image", "-binary", bin, "-arch", goarch(t), "-version", "incontainer", "-o", tarPath))

	dir, err := os.MkdirTemp("/tmp", "cti")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	d, err := ctrdtest.Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()

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
	mounts := []specs.Mount{
		{Destination: "/host/proc", Type: "bind", Source: "/proc", Options: []string{"rbind", "ro"}},
		// The private containerd's socket, where a node has its own.
		{Destination: "/host/run/containerd/containerd.sock", Type: "bind", Source: d.Address, Options: []string{"bind", "ro"}},
		// As the DaemonSet, the node's tracefs: the per-syscall
		// tracepoints' names. Mounted by runc in the container's mount
		// namespace (the kernel's one tracefs, as a bind of the node's
		// would be), so that this works where the machine has none
		// mounted, and without "ro": on mount(2) that would reach the
		// superblock the node's tracefs mounts share.
		{Destination: "/sys/kernel/tracing", Type: "tracefs", Source: "tracefs", Options: []string{"nosuid", "nodev", "noexec"}},
	}
	const tracerID = "ctrace"
	var logs testenv.Buffer
	c, err := d.Client.NewContainer(cctx, tracerID,
		client.WithRuntime("io.containerd.runc.v2", &options.Options{Root: filepath.Join(d.Dir, "runc")}),
		client.WithNewSnapshot(tracerID+"-snap", img),
		client.WithNewSpec(oci.WithImageConfig(img),
			oci.WithProcessArgs("/ctrace", "run", "-o", "json", "--containerd-namespace", "target"),
			oci.WithHostNamespace(specs.PIDNamespace),
			oci.WithCapabilities(caps),
			oci.WithRootFSReadonly(),
			oci.WithMounts(mounts)),
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
