// Package kubenodetest runs a single-node Kubernetes node for tests: a
// private containerd with its CRI plugin (internal/testing/ctrdtest), CNI from
// Debian's containernetworking-plugins (bridge, host-local, loopback) on a
// bridge and subnet of its own, and a kubelet built from the Kubernetes Go
// modules (test/kubenode). Standalone (Start), it has no API server: pods
// are static pods the tests write into its manifest directory. Registered
// (StartWith and an API server of internal/testing/kubeapitest), it is the
// cluster's node as well: pods created through the API with its name in
// spec.nodeName run on it, and the API server reaches its port for logs.
// Static pods work in both. Tests see the pods through CRI, as the kubelet
// does.
//
// Everything the node writes is under one directory (config, containerd's
// root and state, the kubelet's root, pod logs, IPAM state), except what
// the kubelet and the CRI plugin write on the host by design: the pods'
// network namespace files under /var/run/netns, the kubepods cgroups, the
// bridge, the links in /var/log/containers and the kernel tunables the
// kubelet sets. Stop removes all of them, restores the tunables, and
// leaves a containerd already on the machine alone.
package kubenodetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/ctrace-dev/ctrace/internal/testing/ctrdtest"
	"github.com/ctrace-dev/ctrace/internal/testing/kubeapitest"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

const (
	// NodeName is the kubelet's node name; static pods are named
	// NAME-NodeName.
	NodeName = "kubenode"
	// Bridge and Subnet are the pod network's: names and addresses no
	// other network on a test machine uses.
	Bridge = "ctkn0"
	Subnet = "10.213.77.0/24"
	// Gateway is the bridge's address, the pods' default route.
	Gateway = "10.213.77.1"
	// PauseImage is the sandbox image: the busybox rootfs running a shell
	// that waits for a signal, built and imported at start.
	PauseImage = "ctrace.test/pause:1"
	// Image is the busybox image the tests' pods run (imagePullPolicy:
	// Never: no registry is reachable).
	Image = ctrdtest.ImageRef
	// K8sNamespace is the containerd namespace of the CRI plugin.
	K8sNamespace = "k8s.io"
	// NetNSDir is where containerd 1.6's CRI plugin puts the pods'
	// network namespace files (cni-UUID).
	NetNSDir = "/var/run/netns"
	// CNIBinDir is where Debian's containernetworking-plugins installs.
	CNIBinDir = "/usr/lib/cni"
	// ContainerLogsDir is the kubelet's fixed directory of links to the
	// containers' logs.
	ContainerLogsDir = "/var/log/containers"
	// kubeletPort and healthzPort are on 127.0.0.1, away from the
	// kubelet's defaults (10250, 10248) that a real node would use.
	kubeletPort = 10850
	healthzPort = 10848
)

// kernelTunables are the sysctls the kubelet sets at start
// (setupKernelTunables in pkg/kubelet/cm), and net.ipv4.ip_forward, which
// the bridge plugin turns on for a gateway; Stop puts back their values.
var kernelTunables = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward",
}

// Missing names what this machine lacks to run the node: containerd's
// needs, the CNI plugins, Go (to build the kubelet once).
func Missing() []string {
	out := ctrdtest.Missing()
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(CNIBinDir, p)); err != nil {
			out = append(out, "CNI plugin "+p+" (containernetworking-plugins)")
		}
	}
	if _, err := exec.LookPath("ip"); err != nil {
		out = append(out, "ip (iproute2)")
	}
	return out
}

// Node is a running node.
type Node struct {
	Dir       string // everything the node keeps lives below it
	Address   string // containerd's socket (CRI and containerd's API)
	SocketDir string // the socket's directory, as a node's /run/containerd
	Manifests string // the kubelet's static pod directory
	PodLogs   string // the kubelet's pod log directory
	Ctrd      *ctrdtest.Daemon
	Runtime   runtimeapi.RuntimeServiceClient

	// API is the API server the kubelet is registered with, nil when it
	// runs standalone.
	API *kubeapitest.Server

	conn    *grpc.ClientConn
	kubelet *exec.Cmd
	exited  chan struct{}
	klog    *os.File
	// What was there before the node: Stop removes only what it made.
	tunables map[string]string
	netns    map[string]bool
	cgroups  map[string]bool // hierarchy -> kubepods existed
	logsDir  bool
	cniDir   bool
}

// KubeletBinary builds the kubelet with test/kubenode/build.sh, or finds
// it in that script's cache, and returns its path.
func KubeletBinary() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the kubenodetest source file")
	}
	script := filepath.Join(filepath.Dir(file), "..", "..", "..", "test", "kubenode", "build.sh")
	cmd := exec.Command(script)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w\n%s", script, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// Options are how the node starts.
type Options struct {
	// API, when set, is the API server the kubelet registers with as
	// NodeName, with the node credentials the server's CA issues.
	API *kubeapitest.Server
}

// Start brings the node up in dir (short: socket paths are limited to 107
// bytes), standalone, and waits until the kubelet is healthy and the
// runtime and its network are ready. On error the node is torn down again.
func Start(ctx context.Context, dir string) (n *Node, err error) {
	return StartWith(ctx, dir, Options{})
}

// StartWith is Start with options. Registered with an API server, it
// also waits until the Node object reports Ready.
func StartWith(ctx context.Context, dir string, opts Options) (n *Node, err error) {
	kubelet, err := KubeletBinary()
	if err != nil {
		return nil, err
	}
	n = &Node{
		Dir:       dir,
		SocketDir: filepath.Join(dir, "run"),
		Manifests: filepath.Join(dir, "manifests"),
		PodLogs:   filepath.Join(dir, "pods"),
		tunables:  map[string]string{},
		netns:     map[string]bool{},
		cgroups:   map[string]bool{},
		API:       opts.API,
	}
	n.Address = filepath.Join(n.SocketDir, "containerd.sock")
	n.note()
	defer func() {
		if err != nil {
			n.Stop()
			n = nil
		}
	}()
	// Before the first pod's namespace file: see ShareNetNSDir.
	if err = testenv.ShareNetNSDir(); err != nil {
		return n, err
	}
	for _, d := range []string{n.Manifests, n.PodLogs, filepath.Join(dir, "cni", "net.d")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return n, err
		}
	}
	if err := n.writeCNI(); err != nil {
		return n, err
	}
	if n.API != nil {
		// The kubelet serves the API server at the node's address, which
		// may be no loopback one (the kubelet refuses it as a node IP):
		// the bridge's gateway address, on a bridge made here before the
		// first pod rather than by the bridge plugin (which takes one
		// that exists). It is this machine's own address, on no outside
		// network. Stop removes the bridge as before.
		for _, args := range [][]string{
			{"link", "add", Bridge, "type", "bridge"},
			{"addr", "add", Gateway + "/" + strings.SplitN(Subnet, "/", 2)[1], "dev", Bridge},
			{"link", "set", Bridge, "up"},
		} {
			if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
				return n, fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
			}
		}
	}
	cri := fmt.Sprintf(`  sandbox_image = %q
  disable_apparmor = true
  # The kubelet gives sandboxes and critical pods a negative OOM score
  # adjustment, which needs CAP_SYS_RESOURCE; a machine without it in
  # its bounding set (this development machine) would fail every
  # sandbox in runc init. Never lower than containerd's own instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # The kubelet's driver here: this machine runs no systemd.
        SystemdCgroup = false
        Root = %q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
    max_conf_num = 1`, PauseImage, filepath.Join(dir, "runc"), CNIBinDir, filepath.Join(dir, "cni", "net.d"))
	if n.Ctrd, err = ctrdtest.StartWith(dir, ctrdtest.Options{Address: n.Address, CRI: cri}); err != nil {
		return n, fmt.Errorf("containerd: %w", err)
	}
	// The sandbox's process waits for a signal and exits on it, as
	// Kubernetes' pause does (SIGKILL is what containerd sends it).
	if err := n.Ctrd.ImportImageAs(ctx, K8sNamespace, PauseImage,
		[]string{"/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait; done"}); err != nil {
		return n, err
	}
	if err := n.Ctrd.ImportImageAs(ctx, K8sNamespace, Image, []string{"/bin/sh"}); err != nil {
		return n, err
	}
	n.conn, err = grpc.NewClient("unix://"+n.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return n, err
	}
	n.Runtime = runtimeapi.NewRuntimeServiceClient(n.conn)
	if err := n.startKubelet(kubelet); err != nil {
		return n, err
	}
	return n, n.waitReady(ctx)
}

// note records what is on the host before the node changes it.
func (n *Node) note() {
	for _, k := range kernelTunables {
		if b, err := os.ReadFile("/proc/sys/" + k); err == nil {
			n.tunables[k] = strings.TrimSpace(string(b))
		}
	}
	ents, _ := os.ReadDir(NetNSDir)
	for _, e := range ents {
		n.netns[e.Name()] = true
	}
	for _, h := range cgroupHierarchies() {
		_, err := os.Stat(filepath.Join(h, "kubepods"))
		n.cgroups[h] = err == nil
	}
	_, err := os.Stat(ContainerLogsDir)
	n.logsDir = err == nil
	_, err = os.Stat("/var/lib/cni")
	n.cniDir = err == nil
}

// writeCNI writes the pod network: a bridge of its own with the gateway
// address, host-local addresses from Subnet (state under dir), no
// masquerading (no iptables rules: the pods talk to the host only). The
// CRI plugin adds the loopback plugin itself.
func (n *Node) writeCNI() error {
	conf := fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "ctrace-kubenode",
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isGateway": true,
    "ipMasq": false,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": %q, "gateway": %q}]],
      "dataDir": %q
    }
  }]
}
`, Bridge, Subnet, Gateway, filepath.Join(n.Dir, "cni", "ipam"))
	return os.WriteFile(filepath.Join(n.Dir, "cni", "net.d", "10-ctrace-kubenode.conflist"), []byte(conf), 0o644)
}

// startKubelet writes the kubelet's configuration and starts it.
func (n *Node) startKubelet(bin string) error {
	root := filepath.Join(n.Dir, "kubelet")
	// Standalone: no kubeconfig, so no API server, no node object, no
	// authentication to one; the ports answer on loopback only.
	address, auth := "127.0.0.1", `authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
`
	args := []string{"--root-dir", root, "--cert-dir", filepath.Join(root, "pki"), "--hostname-override", NodeName, "--v", "2"}
	if n.API != nil {
		// Registered: the port answers the API server (logs, exec) on the
		// node's address, with a serving certificate of the cluster's CA;
		// callers authenticate with certificates of that CA, and the API
		// server decides what they may do (SubjectAccessReview), as on a
		// kubeadm node.
		cred, err := n.API.NodeCredentials(NodeName, net.ParseIP(Gateway))
		if err != nil {
			return fmt.Errorf("node credentials: %w", err)
		}
		address = Gateway
		auth = fmt.Sprintf(`tlsCertFile: %q
tlsPrivateKeyFile: %q
authentication:
  anonymous:
    enabled: false
  x509:
    clientCAFile: %q
  webhook:
    enabled: true
authorization:
  mode: Webhook
`, cred.ServingCert, cred.ServingKey, cred.ClientCAFile)
		args = append(args, "--kubeconfig", cred.Kubeconfig, "--node-ip", Gateway)
	}
	cfg := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: %q
fileCheckFrequency: 1s
syncFrequency: 5s
containerRuntimeEndpoint: unix://%s
podLogsDir: %q
# This machine has no systemd; cgroup v1 controllers with a cgroup v2
# mount beside them (hybrid), which v1.34 still accepts (v1.35 refuses
# cgroup v1 unless told not to).
cgroupDriver: cgroupfs
failCgroupV1: false
cgroupsPerQOS: true
failSwapOn: false
address: %s
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
%s# A test machine's disks may be full enough to evict: never evict here.
evictionHard:
  memory.available: "0%%"
  nodefs.available: "0%%"
  imagefs.available: "0%%"
  nodefs.inodesFree: "0%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
localStorageCapacityIsolation: false
`, n.Manifests, n.Address, n.PodLogs, address, kubeletPort, healthzPort, auth)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	cfgPath := filepath.Join(n.Dir, "kubelet.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(n.Dir, "kubelet.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, append([]string{"--config", cfgPath}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start kubelet: %w", err)
	}
	n.kubelet, n.klog, n.exited = cmd, logf, make(chan struct{})
	go func() { _ = cmd.Wait(); close(n.exited) }()
	return nil
}

// waitReady waits until the kubelet answers /healthz and the runtime
// reports itself and its network ready.
func (n *Node) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", healthzPort)
	for {
		select {
		case <-n.exited:
			return fmt.Errorf("the kubelet exited at start; its log:\n%s", n.KubeletLog())
		case <-ctx.Done():
			return fmt.Errorf("the node was not ready in 90 s; the kubelet's log:\n%s", n.KubeletLog())
		case <-time.After(200 * time.Millisecond):
		}
		resp, err := http.Get(url)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			continue
		}
		st, err := n.Runtime.Status(ctx, &runtimeapi.StatusRequest{})
		if err != nil {
			continue
		}
		ready := 0
		for _, c := range st.GetStatus().GetConditions() {
			if (c.Type == runtimeapi.RuntimeReady || c.Type == runtimeapi.NetworkReady) && c.Status {
				ready++
			}
		}
		if ready == 2 && (n.API == nil || n.nodeReady(ctx)) {
			return nil
		}
	}
}

// nodeReady says whether the API server has the Node object and the
// kubelet has reported it Ready.
func (n *Node) nodeReady(ctx context.Context) bool {
	c, err := n.API.Client()
	if err != nil {
		return false
	}
	node, err := c.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		return false
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// KubeletLog is the tail of the kubelet's log.
func (n *Node) KubeletLog() string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "kubelet.log"))
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// Stop stops the pods, the kubelet and containerd, and removes what the
// node made on the host. Safe to call on a node that did not start fully.
func (n *Node) Stop() {
	if n.kubelet != nil {
		_ = n.kubelet.Process.Signal(unix.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(10 * time.Second):
			_ = n.kubelet.Process.Kill()
			<-n.exited
		}
		n.klog.Close()
	}
	// The kubelet is gone: the pods go through CRI, which tears their
	// network down with CNI and removes their netns files.
	if n.Runtime != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		if l, err := n.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{}); err == nil {
			for _, s := range l.Items {
				_, _ = n.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: s.Id})
				_, _ = n.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: s.Id})
			}
		}
		cancel()
	}
	if n.conn != nil {
		n.conn.Close()
	}
	if n.Ctrd != nil {
		// Shims, mounts below Dir, containerd itself.
		n.Ctrd.Stop()
	}
	n.removeHostState()
}

// removeHostState removes what the node made outside Dir and puts back
// the kernel tunables.
func (n *Node) removeHostState() {
	// Network namespace files the CRI plugin did not get to remove.
	ents, _ := os.ReadDir(NetNSDir)
	for _, e := range ents {
		if n.netns[e.Name()] || !strings.HasPrefix(e.Name(), "cni-") {
			continue
		}
		p := filepath.Join(NetNSDir, e.Name())
		_ = unix.Unmount(p, unix.MNT_DETACH)
		_ = os.Remove(p)
	}
	if _, err := os.Stat("/sys/class/net/" + Bridge); err == nil {
		_ = exec.Command("ip", "link", "del", Bridge).Run()
	}
	for h, existed := range n.cgroups {
		if !existed {
			removeCgroupTree(filepath.Join(h, "kubepods"))
		}
	}
	for k, v := range n.tunables {
		_ = os.WriteFile("/proc/sys/"+k, []byte(v), 0o644)
	}
	// The kubelet's links to the containers' logs in this node.
	links, _ := os.ReadDir(ContainerLogsDir)
	for _, e := range links {
		p := filepath.Join(ContainerLogsDir, e.Name())
		if t, err := os.Readlink(p); err == nil && strings.HasPrefix(t, n.Dir+"/") {
			_ = os.Remove(p)
		}
	}
	if !n.logsDir {
		_ = os.Remove(ContainerLogsDir)
	}
	// libcni's result cache (/var/lib/cni/results): its entries go with
	// each pod's network teardown; the directories, if they are new.
	if !n.cniDir {
		for _, d := range []string{"/var/lib/cni/results", "/var/lib/cni"} {
			_ = os.Remove(d)
		}
	}
	_ = os.RemoveAll(n.Dir)
}

// cgroupHierarchies are the cgroup mounts: each v1 hierarchy and the v2
// one (/sys/fs/cgroup/unified on a hybrid machine, /sys/fs/cgroup alone
// on a unified one).
func cgroupHierarchies() []string {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return []string{"/sys/fs/cgroup"}
	}
	hs, _ := filepath.Glob("/sys/fs/cgroup/*")
	var out []string
	for _, h := range hs {
		if fi, err := os.Lstat(h); err == nil && fi.IsDir() {
			out = append(out, h)
		}
	}
	return out
}

// removeCgroupTree removes a cgroup and those below it, deepest first (a
// cgroup directory goes with rmdir once it has no children and no tasks).
func removeCgroupTree(top string) {
	var dirs []string
	_ = filepath.WalkDir(top, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		_ = os.Remove(d)
	}
}
