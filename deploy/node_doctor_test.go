package deploy

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/ctrace-dev/ctrace/internal/testing/kubenodetest"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// kubenodeNetwork is the node's CNI network (kubenodetest's writeCNI).
const kubenodeNetwork = "ctrace-kubenode"

// ipamDir is host-local's directory of the node's network.
func ipamDir() string { return filepath.Join(node.Dir, "cni", "ipam", kubenodeNetwork) }

// podAddress returns the host-local address file of a sandbox, "" when
// host-local holds none for it.
func podAddress(t *testing.T, sandbox string) string {
	t.Helper()
	ents, _ := os.ReadDir(ipamDir())
	for _, e := range ents {
		f, err := os.Open(filepath.Join(ipamDir(), e.Name()))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		first := ""
		if sc.Scan() {
			first = strings.TrimSpace(sc.Text())
		}
		f.Close()
		if first == sandbox {
			return filepath.Join(ipamDir(), e.Name())
		}
	}
	return ""
}

// nodeDoctor runs ctrace doctor on the node's containerd and CNI
// configuration. The cache directory is an empty one of the test's:
// libcni's cache under /var/lib/cni is the machine's, shared with any
// other node on it. --min-age 30m keeps --fix off every other namespace
// file of the machine (all younger); the test ages its own files.
func nodeDoctor(t *testing.T, ctx context.Context, state string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, hostCtrace(t), append([]string{"doctor", "--containerd-address", node.Address,
		"--cni-conf-dir", filepath.Join(node.Dir, "cni", "net.d"), "--cni-bin-dir", kubenodetest.CNIBinDir,
		"--cni-state-dir", state, "--min-age", "30m"}, args...)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("ctrace doctor: %v\n%s", err, out)
	return "", 0
}

// leakSandbox does what a sandbox killed before its CNI DEL leaves: a
// network namespace where CRI puts them, attached by the node's own
// bridge plugin (a veth on the node's bridge, an address from host-local),
// and no sandbox in containerd. It returns the sandbox id and the address
// file, aged past --min-age.
func leakSandbox(t *testing.T) (string, string) {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	name := "cni-ctrace-leak-" + id[:12]
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", name).Run() })
	conflist, err := os.ReadFile(filepath.Join(node.Dir, "cni", "net.d", "10-ctrace-kubenode.conflist"))
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		CNIVersion string           `json:"cniVersion"`
		Name       string           `json:"name"`
		Plugins    []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(conflist, &l); err != nil || len(l.Plugins) == 0 {
		t.Fatalf("the node's conflist: %v", err)
	}
	// What libcni gives the first plugin of the list.
	conf := l.Plugins[0]
	conf["cniVersion"], conf["name"] = l.CNIVersion, l.Name
	stdin, _ := json.Marshal(conf)
	cmd := exec.Command(filepath.Join(kubenodetest.CNIBinDir, "bridge"))
	cmd.Env = []string{"CNI_COMMAND=ADD", "CNI_CONTAINERID=" + id, "CNI_NETNS=" + filepath.Join(kubenodetest.NetNSDir, name),
		"CNI_IFNAME=eth0", "CNI_PATH=" + kubenodetest.CNIBinDir}
	cmd.Stdin = strings.NewReader(string(stdin))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bridge ADD: %v: %s", err, out)
	}
	p := podAddress(t, id)
	if p == "" {
		t.Fatalf("bridge ADD gave %s no address in %s", id, ipamDir())
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	return id, p
}

// podNetwork checks that a running pod still has its network: its netns
// file, its address in host-local, and that address on eth0 in its
// namespace.
func podNetwork(t *testing.T, p *kubenodetest.Pod, what string) {
	t.Helper()
	var netnsPath string
	for _, ns := range specOf(t, p.Info).RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" {
			netnsPath = ns.Path
		}
	}
	addr := podAddress(t, p.Sandbox.Id)
	if addr == "" {
		t.Fatalf("%s: pod %s lost its address in %s", what, p.Sandbox.Metadata.Name, ipamDir())
	}
	out, err := exec.Command("ip", "netns", "exec", filepath.Base(netnsPath), "ip", "-4", "-o", "addr", "show", "eth0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), filepath.Base(addr)+"/") {
		t.Fatalf("%s: pod %s's namespace %s: eth0 %v: %s, want %s", what, p.Sandbox.Metadata.Name, netnsPath, err, out, filepath.Base(addr))
	}
}

// TestNodeDoctorFix: on the Kubernetes node (CRI, bridge and host-local),
// the address of a sandbox that went before its DEL is found and released
// by ctrace doctor --fix, after a dry run that changes nothing; running
// pods keep their namespace, address and network throughout, also while
// pods start and stop as --fix runs in a loop.
func TestNodeDoctorFix(t *testing.T) {
	requireNode(t)
	testenv.HoldNetNSFor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	state := t.TempDir()
	writePod(t, "fixlive", podManifest("fixlive", "Always", fmt.Sprintf(`  containers:
  - name: idle
    image: %s
    imagePullPolicy: Never
    command: ["/bin/sleep", "3600"]
`, kubenodetest.Image)))
	running := func(p *kubenodetest.Pod) bool {
		c := p.Container("idle")
		return c != nil && c.State == runtimeapi.ContainerState_CONTAINER_RUNNING
	}
	live, err := node.WaitPod(ctx, "shop", kubenodetest.StaticName("fixlive"), 2*time.Minute, running)
	if err != nil {
		t.Fatal(err)
	}
	// Old enough for --fix: only its sandbox protects it.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(podAddress(t, live.Sandbox.Id), old, old); err != nil {
		t.Fatal(err)
	}
	podNetwork(t, live, "before")

	id, leaked := leakSandbox(t)
	out, code := nodeDoctor(t, ctx, state, "-o", "json")
	if code != 3 || !strings.Contains(out, `"path":"`+leaked+`"`) || strings.Contains(out, live.Sandbox.Id[:12]) {
		t.Fatalf("doctor: status %d, want 3 with %s leaked (sandbox %s) and nothing of the running pod:\n%s", code, leaked, id, out)
	}
	before := tree(t, ipamDir())
	out, code = nodeDoctor(t, ctx, state, "--fix", "--dry-run")
	if code != 3 || tree(t, ipamDir()) != before || !strings.Contains(out, "would release") {
		t.Fatalf("doctor --fix --dry-run: status %d, changed %v:\n%s", code, tree(t, ipamDir()) != before, out)
	}
	out, _ = nodeDoctor(t, ctx, state, "--fix")
	if _, err := os.Stat(leaked); !os.IsNotExist(err) || !strings.Contains(out, "released") {
		t.Fatalf("doctor --fix left %s (%v):\n%s", leaked, err, out)
	}
	podNetwork(t, live, "after --fix")
	if out, _ := nodeDoctor(t, ctx, state, "-o", "json"); strings.Contains(out, ipamDir()) {
		t.Fatalf("doctor after --fix still finds addresses:\n%s", out)
	}

	// Pods start and stop while --fix runs in a loop: every running pod
	// keeps its address, aged as soon as it exists so that only the
	// re-verification against containerd protects it.
	bin := hostCtrace(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var fixes int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			cmd := exec.CommandContext(ctx, bin, "doctor", "--fix", "--containerd-address", node.Address,
				"--cni-conf-dir", filepath.Join(node.Dir, "cni", "net.d"), "--cni-bin-dir", kubenodetest.CNIBinDir,
				"--cni-state-dir", state, "--min-age", "30m")
			_ = cmd.Run()
			fixes++
		}
	}()
	rounds := 20
	if testing.Short() {
		rounds = 10
	}
	for round := 0; round < rounds; round++ {
		name := fmt.Sprintf("fixrace%d", round)
		file := "shop_" + name + ".yaml"
		if err := node.WritePod(file, podManifest(name, "Always", fmt.Sprintf(`  containers:
  - name: idle
    image: %s
    imagePullPolicy: Never
    command: ["/bin/sleep", "3600"]
`, kubenodetest.Image))); err != nil {
			t.Fatal(err)
		}
		p, err := node.WaitPod(ctx, "shop", kubenodetest.StaticName(name), 2*time.Minute, running)
		if err != nil {
			t.Fatal(err)
		}
		if a := podAddress(t, p.Sandbox.Id); a != "" {
			_ = os.Chtimes(a, old, old)
		}
		time.Sleep(time.Second) // some --fix rounds see it
		podNetwork(t, p, fmt.Sprintf("round %d", round))
		podNetwork(t, live, fmt.Sprintf("round %d, the first pod", round))
		if err := node.DeletePod(ctx, file, "shop", kubenodetest.StaticName(name)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d rounds of pods, %d runs of doctor --fix meanwhile", rounds, fixes)
}

// tree lists the files of dir with their contents and times.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		c, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		fmt.Fprintf(&b, "%s %v %d %q\n", e.Name(), fi.Mode(), fi.ModTime().UnixNano(), c)
	}
	return b.String()
}
