package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/testing/ctrdtest"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// cniPluginDir is where Debian's containernetworking-plugins installs the
// plugins (build/deps.sh installs it for the tests).
const cniPluginDir = "/usr/lib/cni"

// cniNode is a CNI configuration and state of the test's own, in a
// temporary directory: one bridge network whose addresses the real
// host-local plugin gives out into ipam/, libcni's cache in state/results,
// and a second network that chains a plugin that is not installed.
type cniNode struct {
	dir, conf, state, ipam, network string
	// confFile is the network's configuration list; pluginConf what
	// libcni passes the bridge plugin, which passes it on to host-local.
	confFile, pluginConf []byte
}

func newCNINode(t *testing.T, subnet string) *cniNode {
	t.Helper()
	if _, err := os.Stat(filepath.Join(cniPluginDir, "host-local")); err != nil {
		t.Fatalf("the CNI plugins are not installed (%v): make deps installs containernetworking-plugins", err)
	}
	d := t.TempDir()
	n := &cniNode{dir: d, conf: filepath.Join(d, "net.d"), state: filepath.Join(d, "state"), ipam: filepath.Join(d, "ipam"),
		network: prefix + "-net"}
	must(t, os.MkdirAll(n.conf, 0o755))
	ipamConf := fmt.Sprintf(`{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":%q}]]}`, n.ipam, subnet)
	n.confFile = []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"plugins":[{"type":"bridge","bridge":"ctdr0","ipam":%s},
{"type":"portmap","capabilities":{"portMappings":true}}]}`, n.network, ipamConf))
	n.pluginConf = []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"type":"bridge","bridge":"ctdr0","ipam":%s}`, n.network, ipamConf))
	must(t, os.WriteFile(filepath.Join(n.conf, "10-test.conflist"), n.confFile, 0o644))
	must(t, os.WriteFile(filepath.Join(n.conf, "20-gc.conflist"), []byte(fmt.Sprintf(
		`{"cniVersion":"1.1.0","name":%q,"plugins":[{"type":"ptp","ipam":{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.219.0.0/24"}]]}},{"type":"ctrace-test-no-such-plugin"}]}`,
		prefix+"-gc", n.ipam)), 0o644))
	return n
}

// input is the doctor's input on this CNI node.
func (n *cniNode) input(r *correlate.Resolver) Input {
	return Input{Containers: r.Containers, Address: ctrd.Address, CNIConfDir: n.conf, CNIBinDirs: []string{cniPluginDir},
		CNIStateDir: n.state, MinAge: time.Minute, Live: ContainerdLive(ctrd.Address, "")}
}

// hostLocal runs the real host-local plugin, as a runtime runs a network's
// IPAM: ADD gives id an address and returns it.
func (n *cniNode) hostLocal(t *testing.T, cmd, id string) string {
	t.Helper()
	out, err := n.hostLocalOut(cmd, id)
	if err != nil {
		t.Fatal(err)
	}
	if cmd != "ADD" {
		return ""
	}
	var res struct {
		IPs []struct {
			Address string `json:"address"`
		} `json:"ips"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.IPs) == 0 {
		t.Fatalf("host-local ADD %s: %v: %s", id, err, out)
	}
	ip, _, _ := strings.Cut(res.IPs[0].Address, "/")
	return ip
}

func (n *cniNode) runHostLocal(cmd, id string) error {
	_, err := n.hostLocalOut(cmd, id)
	return err
}

func (n *cniNode) hostLocalOut(cmd, id string) ([]byte, error) {
	c := exec.Command(filepath.Join(cniPluginDir, "host-local"))
	c.Env = []string{"CNI_COMMAND=" + cmd, "CNI_CONTAINERID=" + id, "CNI_NETNS=/proc/self/ns/net", "CNI_IFNAME=eth0",
		"CNI_PATH=" + cniPluginDir}
	c.Stdin = strings.NewReader(string(n.pluginConf))
	out, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("host-local %s %s: %w: %s", cmd, id, err, out)
	}
	return out, nil
}

// cache writes the result cache entry libcni writes after an ADD
// (STATEDIR/results/NETWORK-ID-IFNAME).
func (n *cniNode) cache(t *testing.T, id, ip string) string {
	t.Helper()
	must(t, os.MkdirAll(filepath.Join(n.state, "results"), 0o755))
	b, _ := json.Marshal(map[string]any{"kind": "cniCacheV1", "containerId": id, "config": n.confFile, "ifName": "eth0",
		"networkName": n.network, "result": map[string]any{"cniVersion": "1.0.0", "ips": []map[string]string{{"address": ip + "/24"}}}})
	p := filepath.Join(n.state, "results", n.network+"-"+id+"-eth0")
	must(t, os.WriteFile(p, b, 0o600))
	return p
}

// age makes a file look as old as a leak from before the fix's minimum
// age (the plugin wrote it moments ago).
func age(t *testing.T, paths ...string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	for _, p := range paths {
		must(t, os.Chtimes(p, old, old))
	}
}

func (n *cniNode) addressFile(ip string) string { return filepath.Join(n.ipam, n.network, ip) }

// tree lists every file below dir with its content and times: what a dry
// run must leave as it was.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	must(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %v ino=%d mtime=%d.%d ctime=%d.%d", p, fi.Mode(), st.Ino, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			line += " " + fmt.Sprintf("%q", b)
		}
		lines = append(lines, line)
		return nil
	}))
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func mineOf(rep Report) []Finding {
	var out []Finding
	for _, f := range rep.Findings {
		if strings.Contains(f.Path, prefix) || (f.Container != nil && strings.HasPrefix(f.Container.ID, prefix)) ||
			strings.Contains(f.Detail, prefix) {
			out = append(out, f)
		}
	}
	return out
}

func openResolver(t *testing.T, ctx context.Context) *correlate.Resolver {
	t.Helper()
	r, err := correlate.Open(ctx, correlate.Options{Address: ctrd.Address})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if !r.WaitConnected(ctx) {
		t.Fatal("resolver did not connect")
	}
	return r
}

// TestFixCNI leaks addresses and cache entries for real: the real
// host-local plugin gives addresses to a running container and to
// containers that are gone (their DEL never ran), and libcni's cache has
// an entry for each. doctor finds exactly the gone ones (not the one
// allocated a moment ago: an ADD in flight), reports the CNI networks,
// --fix --dry-run changes nothing, a container created between the check
// and the fix keeps its address, --fix releases exactly the leaked ones
// under host-local's lock while host-local allocates and releases other
// addresses, and a second check finds nothing. Then the same through
// `ctrace doctor`.
func TestFixCNI(t *testing.T) {
	testenv.RequireRoot(t, "containerd and the CNI plugins")
	if ctrd.Skip != "" {
		t.Skip(ctrd.Skip)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r := openResolver(t, ctx)
	n := newCNINode(t, "10.218.0.0/24")
	in := n.input(r)

	liveID := prefix + "-cnilive"
	res, err := ctrd.Run(ctx, ctrdtest.RunOptions{ID: liveID, Args: []string{"/bin/sleep", "300"}, Keep: true})
	if err == nil && res.StartErr != nil {
		err = res.StartErr
	}
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Cleanup(func() { _ = ctrd.Remove(context.Background(), "default", liveID) })
	waitTasks(t, r, liveID)
	liveIP := n.hostLocal(t, "ADD", liveID)
	liveCache := n.cache(t, liveID, liveIP)
	age(t, n.addressFile(liveIP), liveCache)

	// The CNI report.
	rep, err := Check(in)
	must(t, err)
	if rep.CNI == nil || len(rep.CNI.Networks) != 2 {
		t.Fatalf("CNI report %+v, want two networks", rep.CNI)
	}
	if nw := rep.CNI.Networks[0]; nw.Name != n.network || nw.GC || len(nw.Missing) != 0 ||
		strings.Join(nw.Plugins, ",") != "bridge,host-local,portmap" {
		t.Errorf("network 1: %+v", nw)
	}
	if nw := rep.CNI.Networks[1]; !nw.GC || strings.Join(nw.Missing, ",") != "ctrace-test-no-such-plugin" {
		t.Errorf("network 2: %+v, want CNI 1.1 and the missing plugin named", nw)
	}

	for round := 0; round < 20; round++ {
		gone := []string{fmt.Sprintf("%s-gone%d-a", prefix, round), fmt.Sprintf("%s-gone%d-b", prefix, round)}
		raced := fmt.Sprintf("%s-raced%d", prefix, round)
		inFlight := fmt.Sprintf("%s-inflight%d", prefix, round)
		leaked := map[string]bool{}
		for _, id := range append(gone, raced) {
			ip := n.hostLocal(t, "ADD", id)
			c := n.cache(t, id, ip)
			age(t, n.addressFile(ip), c)
			leaked[n.addressFile(ip)], leaked[c] = true, true
		}
		// An ADD a moment ago: its sandbox is not in containerd yet.
		flightIP := n.hostLocal(t, "ADD", inFlight)
		flightCache := n.cache(t, inFlight, flightIP)

		rep, err := Check(in)
		must(t, err)
		got := mineOf(rep)
		if len(got) != len(leaked) {
			t.Fatalf("round %d: findings\n%s\nwant the %d leaked files %v", round, describe(got), len(leaked), leaked)
		}
		for _, f := range got {
			if f.Kind != IPAMLeaked || !leaked[filepath.Join(f.Path)] || f.Network != n.network {
				t.Fatalf("round %d: finding %+v is not one of the leaks", round, f)
			}
		}
		rep.Findings = got

		before := tree(t, n.dir)
		dry := rep
		dry.Findings = append([]Finding(nil), got...)
		Fix(ctx, in, &dry, true)
		if after := tree(t, n.dir); after != before {
			t.Fatalf("round %d: the dry run changed the CNI state:\nbefore:\n%s\nafter:\n%s", round, before, after)
		}
		for _, f := range dry.Findings {
			if f.Fix == nil || f.Fix.Fixed || !strings.HasPrefix(f.Fix.Did, "would ") {
				t.Fatalf("round %d: dry run of %s: %+v", round, f.Path, f.Fix)
			}
		}

		// A container with the raced id appears between the check and
		// the fix (as a sandbox whose ADD was slow would), and host-local
		// allocates and releases for live containers during the fix.
		rres, err := ctrd.Run(ctx, ctrdtest.RunOptions{ID: raced, Args: []string{"/bin/sleep", "300"}, Keep: true})
		if err != nil || rres.StartErr != nil {
			t.Fatalf("run: %v %v", err, rres.StartErr)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("%s-churn%d", prefix, i)
				for _, cmd := range []string{"ADD", "DEL"} {
					if err := n.runHostLocal(cmd, id); err != nil {
						t.Errorf("round %d: %v", round, err)
						return
					}
				}
			}
		}()
		Fix(ctx, in, &rep, false)
		close(stop)
		wg.Wait()
		for _, f := range rep.Findings {
			id := f.ownerID
			switch {
			case id == raced && (f.Fix.Fixed || !strings.Contains(f.Fix.Error, "exists now")):
				t.Fatalf("round %d: %s of the container created before the fix: %+v", round, f.Path, f.Fix)
			case id != raced && !f.Fix.Fixed:
				t.Fatalf("round %d: %s not fixed: %+v", round, f.Path, f.Fix)
			}
			_, err := os.Stat(f.Path)
			if gone := os.IsNotExist(err); gone != (id != raced) {
				t.Fatalf("round %d: %s exists=%v after the fix (%+v)", round, f.Path, !gone, f.Fix)
			}
		}
		if rep.Remaining() != 2 {
			t.Errorf("round %d: remaining %d, want the raced container's two", round, rep.Remaining())
		}
		// What live containers hold is untouched; host-local's own files
		// stay.
		if id, _, ok := addressOwner(n.addressFile(liveIP)); !ok || id != liveID {
			t.Fatalf("round %d: the live container's address %s: owner %q %v", round, liveIP, id, ok)
		}
		for _, p := range []string{liveCache, flightCache, n.addressFile(flightIP), filepath.Join(n.ipam, n.network, "lock"),
			filepath.Join(n.ipam, n.network, "last_reserved_ip.0")} {
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		// Clean up as the runtime would: the raced container's network
		// is torn down with it, the in-flight one is abandoned.
		must(t, ctrd.Remove(ctx, "default", raced))
		n.hostLocal(t, "DEL", raced)
		n.hostLocal(t, "DEL", inFlight)
		for _, p := range []string{flightCache, filepath.Join(n.state, "results", n.network+"-"+raced+"-eth0")} {
			must(t, os.Remove(p))
		}
		rep, err = Check(in)
		must(t, err)
		if got := mineOf(rep); len(got) != 0 {
			t.Fatalf("round %d: after the fix:\n%s", round, describe(got))
		}
	}

	// The same through the command: a leak, the dry run, the fix.
	ip := n.hostLocal(t, "ADD", prefix+"-cli")
	c := n.cache(t, prefix+"-cli", ip)
	age(t, n.addressFile(ip), c)
	bin := testenv.CtraceBinary(t, ctrd.Dir)
	// --min-age 30m: the other tests' namespace files are all younger,
	// and so not this command's to fix.
	args := []string{"doctor", "--containerd-address", ctrd.Address, "--cni-conf-dir", n.conf, "--cni-bin-dir", cniPluginDir,
		"--cni-state-dir", n.state, "--min-age", "30m", "-o", "json"}
	before := tree(t, n.dir)
	out, code := ctrace(t, bin, append(args, "--fix", "--dry-run")...)
	if code != 3 || tree(t, n.dir) != before {
		t.Fatalf("doctor --fix --dry-run: status %d (want 3), changed the state: %v\n%s", code, tree(t, n.dir) != before, out)
	}
	var js struct {
		Findings []struct {
			Kind, Path, Network, IP, Fix, Error string
			Fixed                               *bool
		}
		CNI struct {
			Networks []struct {
				Name    string
				GC      bool
				Missing []string
			}
		}
		DryRun bool `json:"dry_run"`
	}
	must(t, json.Unmarshal([]byte(out), &js))
	mine := 0
	for _, f := range js.Findings {
		if strings.Contains(f.Path, prefix) {
			mine++
			if f.Kind != "ipam-leaked" || f.Fixed == nil || *f.Fixed || !strings.HasPrefix(f.Fix, "would ") || f.Network != n.network {
				t.Errorf("dry run finding %+v", f)
			}
		}
	}
	if mine != 2 || !js.DryRun || len(js.CNI.Networks) != 2 || !js.CNI.Networks[1].GC || len(js.CNI.Networks[1].Missing) != 1 {
		t.Errorf("doctor --fix --dry-run -o json: %d findings of the test, %+v\n%s", mine, js, out)
	}
	out, code = ctrace(t, bin, append(args, "--fix")...)
	if _, err := os.Stat(n.addressFile(ip)); !os.IsNotExist(err) || !strings.Contains(out, `"fixed":true`) {
		t.Errorf("doctor --fix: status %d, %s still there (%v):\n%s", code, n.addressFile(ip), err, out)
	}
	out, _ = ctrace(t, bin, append(args[:len(args)-2], "-o", "text")...)
	if strings.Contains(out, prefix+"-cli") || !strings.Contains(out, "ctrace-test-no-such-plugin") {
		t.Errorf("doctor after --fix:\n%s", out)
	}
	for _, bad := range [][]string{{"--dry-run"}, {"--min-age", "-1s", "--fix"}, {"--cni-conf-dir", "net.d"}} {
		out, code := ctrace(t, bin, append([]string{"doctor", "--containerd-address", ctrd.Address}, bad...)...)
		if code != 2 || !strings.Contains(out, strings.TrimLeft(bad[0], "-")) {
			t.Errorf("ctrace doctor %v: status %d, want 2 and the flag named:\n%s", bad, code, out)
		}
	}
}

// holdMounts starts a process in a mount namespace of its own, made with
// the given propagation (unshare -m --propagation private|slave), which
// keeps a copy of every mount it saw. It is killed at the test's end.
func holdMounts(t *testing.T, propagation string) int {
	t.Helper()
	cmd := exec.Command("unshare", "-m", "--propagation", propagation, "sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	self, _ := inode("/proc/self/ns/mnt")
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		// unshare has made the namespace once the process is in another
		// one and runs sleep.
		ns, _ := inode(fmt.Sprintf("/proc/%d/ns/mnt", cmd.Process.Pid))
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
		if ns != self && strings.TrimSpace(string(comm)) == "sleep" {
			return cmd.Process.Pid
		}
	}
	t.Fatalf("unshare -m --propagation %s did not start", propagation)
	return 0
}

// TestFixNetNS makes each netns problem for real beside a running
// container with its namespace: a leaked namespace file, a stale one, one
// whose mount a private mount namespace holds (netns-busy, with the
// process named; a slave mount namespace that also sees it is not), one
// that a process enters and one that a container comes to name between
// the check and the fix. The dry run changes nothing; the fix removes
// exactly the leaked and stale files, leaves the rest, and a second check
// finds only what it left. Ten rounds.
func TestFixNetNS(t *testing.T) {
	testenv.RequireRoot(t, "containerd, ip netns and unshare")
	if ctrd.Skip != "" {
		t.Skip(ctrd.Skip)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r := openResolver(t, ctx)
	in := Input{Containers: r.Containers, Address: ctrd.Address, Live: ContainerdLive(ctrd.Address, "")}

	liveNS := testenv.AddNetNS(t, prefix+"-fxlive")
	liveID := prefix + "-fxlive"
	res, err := ctrd.Run(ctx, ctrdtest.RunOptions{ID: liveID, NetNS: liveNS, Args: []string{"/bin/sleep", "300"}, Keep: true})
	if err == nil && res.StartErr != nil {
		err = res.StartErr
	}
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Cleanup(func() { _ = ctrd.Remove(context.Background(), "default", liveID) })
	waitTasks(t, r, liveID)

	for round := 0; round < 10; round++ {
		name := func(s string) string { return fmt.Sprintf("%s-fx%d%s", prefix, round, s) }
		// The holders copy the mounts there are: busy's (and the live
		// one's), not those made after them.
		busy := testenv.AddNetNS(t, name("busy"))
		holder := holdMounts(t, "private")
		slave := holdMounts(t, "slave")
		leaked := testenv.AddNetNS(t, name("leaked"))
		stale := testenv.AddNetNS(t, name("stale"))
		must(t, unix.Unmount(stale, unix.MNT_DETACH))
		entered := testenv.AddNetNS(t, name("entered"))
		named := testenv.AddNetNS(t, name("named"))
		ours := name("")

		rep, err := Check(in)
		must(t, err)
		var got []Finding
		for _, f := range rep.Findings {
			if f.Path == liveNS && f.Kind == NetNSBusy {
				t.Fatalf("round %d: the running container's %s reported busy: %s", round, liveNS, f.Detail)
			}
			if strings.Contains(f.Path, ours) {
				got = append(got, f)
			}
		}
		want := map[string]Kind{leaked: NetNSLeaked, stale: NetNSStale, entered: NetNSLeaked, named: NetNSLeaked,
			busy + " leaked": NetNSLeaked, busy: NetNSBusy}
		seen := map[string]bool{}
		for _, f := range got {
			k := f.Path
			if f.Kind == NetNSLeaked && f.Path == busy {
				k = busy + " leaked"
			}
			if f.Kind == NetNSBusy && (!holds(f.Holders, holder) || holds(f.Holders, slave) ||
				!strings.Contains(f.Detail, fmt.Sprintf("pid %d (sleep)", holder))) {
				// Other processes of the machine may hold copies too.
				t.Fatalf("round %d: %s busy: holders %+v, want pid %d (sleep), not the slave %d", round, f.Path, f.Holders, holder, slave)
			}
			if want[k] != f.Kind {
				t.Fatalf("round %d: unexpected finding %s %s\n%s", round, f.Kind, f.Path, describe(got))
			}
			seen[k] = true
		}
		if len(seen) != len(want) {
			t.Fatalf("round %d: findings\n%s\nwant %v", round, describe(got), want)
		}
		// Only this round's files: the live one, which the holders have
		// too, is the live container's.
		fs := got
		rep.Findings = got

		before := nodeState(t)
		dry := rep
		dry.Findings = append([]Finding(nil), fs...)
		Fix(ctx, in, &dry, true)
		if after := nodeState(t); after != before {
			t.Fatalf("round %d: the dry run changed the node:\nbefore:\n%s\nafter:\n%s", round, before, after)
		}

		// Between the check and the fix: a process enters one namespace,
		// a container comes to name another.
		enter := exec.Command("ip", "netns", "exec", filepath.Base(entered), "sleep", "300")
		enter.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		must(t, enter.Start())
		namedID := name("named")
		nres, err := ctrd.Run(ctx, ctrdtest.RunOptions{ID: namedID, NetNS: named, Args: []string{"/bin/sleep", "300"}, Keep: true})
		if err != nil || nres.StartErr != nil {
			t.Fatalf("run: %v %v", err, nres.StartErr)
		}
		for deadline := time.Now().Add(5 * time.Second); processIn("/proc", mustInode(t, entered)) == 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("ip netns exec did not enter")
			}
		}

		Fix(ctx, in, &rep, false)
		for _, f := range rep.Findings {
			fixed := f.Fix != nil && f.Fix.Fixed
			wantFixed := (f.Path == leaked || f.Path == stale)
			if fixed != wantFixed {
				t.Fatalf("round %d: %s %s: fixed %v, want %v: %+v", round, f.Kind, f.Path, fixed, wantFixed, f.Fix)
			}
		}
		for _, p := range []string{leaked, stale} {
			if _, err := os.Lstat(p); !os.IsNotExist(err) {
				t.Fatalf("round %d: %s still there after the fix (%v)", round, p, err)
			}
		}
		for _, p := range []string{entered, named, busy, liveNS} {
			if st, _ := classify(p); st != "ok" {
				t.Fatalf("round %d: %s is %s after the fix, want it left alone", round, p, st)
			}
		}

		// What was left is still found: the entered one is in use now,
		// the named one named; the busy one stays busy and leaked.
		_ = enter.Process.Kill()
		_ = enter.Wait()
		must(t, ctrd.Remove(ctx, "default", namedID))
		rep, err = Check(in)
		must(t, err)
		for _, f := range mineOf(rep) {
			if f.Path == leaked || f.Path == stale {
				t.Fatalf("round %d: after the fix: %s %s", round, f.Kind, f.Path)
			}
		}
	}
}

// holds reports whether pid is among the holders' processes.
func holds(hs []Holder, pid int) bool {
	for _, h := range hs {
		for _, p := range h.PIDs {
			if p == pid {
				return true
			}
		}
	}
	return false
}

func mustInode(t *testing.T, p string) uint64 {
	t.Helper()
	ino, ok := inode(p)
	if !ok {
		t.Fatalf("stat %s", p)
	}
	return ino
}

func classify(p string) (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return "missing", err
	}
	if int64(st.Type) == unix.NSFS_MAGIC {
		return "ok", nil
	}
	return "stale", nil
}

// TestRunDoctorFix runs `ctrace run --doctor-fix` as the DaemonSet would
// with it on: an address the real host-local plugin gave a container that
// is gone, in host-local's default data directory, and its cache entry are
// released by the loop and counted as fixed; the running container's
// address stays, and no fix fails.
func TestRunDoctorFix(t *testing.T) {
	testenv.RequireRoot(t, "containerd, eBPF and the CNI plugins")
	if ctrd.Skip != "" {
		t.Skip(ctrd.Skip)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n := newCNINode(t, "10.217.0.0/24")
	// The loop reads CNI's default places: this network's directory and
	// cache entries there are the test's own, removed at its end.
	n.ipam, n.state = filepath.Join(DefaultCNIStateDir, "networks"), DefaultCNIStateDir
	n.pluginConf = []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"type":"bridge","ipam":{"type":"host-local","ranges":[[{"subnet":"10.217.0.0/24"}]]}}`, n.network))
	t.Cleanup(func() {
		_ = os.RemoveAll(filepath.Join(n.ipam, n.network))
		old, _ := filepath.Glob(filepath.Join(n.state, "results", n.network+"-*"))
		for _, p := range old {
			_ = os.Remove(p)
		}
	})
	liveID, goneID := prefix+"-looplive", prefix+"-loopgone"
	res, err := ctrd.Run(ctx, ctrdtest.RunOptions{ID: liveID, Args: []string{"/bin/sleep", "300"}, Keep: true})
	if err == nil && res.StartErr != nil {
		err = res.StartErr
	}
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Cleanup(func() { _ = ctrd.Remove(context.Background(), "default", liveID) })
	liveIP, goneIP := n.hostLocal(t, "ADD", liveID), n.hostLocal(t, "ADD", goneID)
	liveCache, goneCache := n.cache(t, liveID, liveIP), n.cache(t, goneID, goneIP)
	age(t, n.addressFile(liveIP), n.addressFile(goneIP), liveCache, goneCache)

	bin := testenv.CtraceBinary(t, ctrd.Dir)
	cmd := exec.CommandContext(ctx, bin, "run", "-o", "none", "-e", "setns", "--containerd-address", ctrd.Address,
		"--metrics-addr", "127.0.0.1:0", "--doctor-interval", "1s", "--doctor-fix")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr testenv.Buffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	defer func() { _ = cmd.Process.Signal(unix.SIGINT); _ = cmd.Wait() }()

	re := regexp.MustCompile(`http://([0-9.:]+)/metrics`)
	var body string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the loop did not fix the leak (%s, %s):\n%s\n%s", n.addressFile(goneIP), goneCache,
				grep(body, "ctrace_doctor"), stderr.String())
		}
		m := re.FindStringSubmatch(stderr.String())
		if m == nil {
			continue
		}
		resp, err := http.Get("http://" + m[1] + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		_, err1 := os.Stat(n.addressFile(goneIP))
		_, err2 := os.Stat(goneCache)
		if os.IsNotExist(err1) && os.IsNotExist(err2) && metricAtLeast(body, `ctrace_doctor_fixed_total{kind="ipam-leaked"}`, 2) {
			break
		}
	}
	if !strings.Contains(body, `ctrace_doctor_fix_errors_total{kind="ipam-leaked"} 0`) {
		t.Errorf("fix errors counted:\n%s\n%s", grep(body, "ctrace_doctor"), stderr.String())
	}
	if id, _, ok := addressOwner(n.addressFile(liveIP)); !ok || id != liveID {
		t.Errorf("the running container's address %s: owner %q %v", liveIP, id, ok)
	}
	if _, err := os.Stat(liveCache); err != nil {
		t.Error(err)
	}
}

// metricAtLeast reports whether the metric line named (with its labels)
// has a value of at least min.
func metricAtLeast(body, name string, min float64) bool {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return err == nil && f >= min
		}
	}
	return false
}
