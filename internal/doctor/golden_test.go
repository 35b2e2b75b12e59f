package doctor

import (
	"bytes"
	"flag"
	"fmt"
	"testing"

	"github.com/ctrace-dev/ctrace/internal/testing/golden"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the report writers")

// goldenReport is one report to render: a name and what Check would have
// found.
type goldenReport struct {
	name string
	rep  Report
}

// goldenReports is a fixed set of reports: none, one of each kind as
// Check words them, a container with and without a pod or a task, and
// names from the node that must not break a line.
func goldenReports() []goldenReport {
	sandbox := &Container{ID: "3f2a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8", Namespace: "k8s.io",
		Pod: "web-1", PodNamespace: "shop", Task: "running"}
	plain := &Container{ID: "db", Namespace: "default", Task: "created"}
	noTask := &Container{ID: "cache", Namespace: "default"}
	stale := Finding{Kind: NetNSStale, Path: "/run/netns/cni-8d1c0a4e", Container: sandbox,
		Detail: "sandbox k8s.io/3f2a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8 (pod shop/web-1) (running) names /run/netns/cni-8d1c0a4e as its network namespace, but no namespace is mounted on it (its bind mount is gone)",
		Action: "stop and remove the sandbox (crictl stopp 3f2a1b2c3d4e5; crictl rmp 3f2a1b2c3d4e5); the kubelet recreates it and the CNI plugin a new namespace"}
	unnamed := Finding{Kind: NetNSStale, Path: "/run/netns/old",
		Detail: "/run/netns/old is an empty file with no namespace mounted on it, and no container names it",
		Action: "remove the file (rm /run/netns/old); nothing can enter it"}
	missing := Finding{Kind: NetNSMissing, Path: "/var/run/netns/db", Container: plain,
		Detail: "container default/db (created) names /var/run/netns/db as its network namespace, but there is no such file",
		Action: "stop and remove the container (ctr -n default task kill db; ctr -n default container rm db) and create it again with a live namespace"}
	leaked := Finding{Kind: NetNSLeaked, Path: "/run/netns/cni-77aa",
		Detail: "/run/netns/cni-77aa holds network namespace net:[4026532301], which no container names and no process is in",
		Action: "if no CNI plugin or tool is about to use it, remove it: ip netns delete cni-77aa"}
	orphan := Finding{Kind: SandboxOrphaned, Container: noTask,
		Detail: "containerd lists no task for container default/cache, but its shim (pid 4242) runs and is stopped: containerd leaves out of its list the tasks whose shim does not answer",
		Action: "find why the shim hangs (cat /proc/4242/stack, its state T); kill it (kill -9 4242) so that containerd cleans the task up, then remove the container or, for a pod's sandbox, crictl stopp/rmp"}
	shim := Finding{Kind: SandboxOrphaned, Container: &Container{ID: "gone", Namespace: "default"},
		Detail: "shim pid 77 (-namespace default -id gone) serves a container that containerd does not have",
		Action: "kill the shim and what it runs (kill 77) once you are sure nothing needs it"}
	hostile := Finding{Kind: NetNSStale, Path: "/run/netns/x\x1b[2J\nFAKE",
		Container: &Container{ID: "id\n1", Namespace: "ns\t", Pod: "p\x9b", PodNamespace: "\x1b]0;t\x07"},
		Detail:    "/run/netns/x\x1b[2J\nFAKE is stale \"quoted\" \\ and \xff",
		Action:    "remove it (ip netns delete x\x1b[2J\nFAKE)"}
	address := Finding{Kind: IPAMLeaked, Path: "/var/lib/cni/networks/cbr0/10.213.77.9", Network: "cbr0", IP: "10.213.77.9",
		Detail: "host-local holds 10.213.77.9 of network cbr0 (/var/lib/cni/networks/cbr0/10.213.77.9) for container 9e1f, which no container or sandbox of containerd has",
		Action: "release the address: remove /var/lib/cni/networks/cbr0/10.213.77.9 (as host-local's DEL does) once no CNI ADD for 9e1f is in flight"}
	cacheEntry := Finding{Kind: IPAMLeaked, Path: "/var/lib/cni/results/cbr0-9e1f-eth0", Network: "cbr0",
		Detail: "the CNI result cache /var/lib/cni/results/cbr0-9e1f-eth0 records network cbr0 (eth0) of container 9e1f, which no container or sandbox of containerd has: its CNI DEL never ran to the end",
		Action: "remove /var/lib/cni/results/cbr0-9e1f-eth0; if its plugins hold more (an address of another IPAM, a veth), run their DEL for 9e1f"}
	busy := Finding{Kind: NetNSBusy, Path: "/run/netns/cni-77aa",
		Holders: []Holder{{MountNS: 4026532400, PIDs: []int{812, 813}, Comms: []string{"sleep", "sh"}, Container: sandbox}},
		Detail:  "/run/netns/cni-77aa holds the namespace mounted on it, and a copy of that mount lives on in 1 other mount namespace(s), which unmounting it here does not reach: mnt:[4026532400] of pid 812 (sleep), 813 (sh), container k8s.io/3f2a (pod shop/web-1)",
		Action:  "unmount the copy where it is held (nsenter -t 812 -m umount /run/netns/cni-77aa), or restart what holds it; until then the namespace stays alive with what is in it (its interfaces, their addresses and veth peers)"}
	withFix := func(f Finding, x FixResult) Finding { f.Fix = &x; return f }
	cni := &CNIReport{ConfDir: "/etc/cni/net.d", BinDirs: []string{"/opt/cni/bin", "/usr/lib/cni"}, Networks: []CNINetwork{
		{Name: "cbr0", File: "/etc/cni/net.d/10-cbr0.conflist", Versions: []string{"1.0.0"}, Plugins: []string{"bridge", "host-local", "portmap"}},
		{Name: "gc", File: "/etc/cni/net.d/20-gc.conflist", Versions: []string{"1.1.0", "1.0.0"}, GC: true, Plugins: []string{"ptp", "host-local", "tuning"}, Missing: []string{"tuning"}},
		{Name: "old", File: "/etc/cni/net.d/99-old.conf", Plugins: []string{"macvlan"}},
	}}
	return append([]goldenReport{
		{name: "empty", rep: Report{}},
		{name: "healthy", rep: Report{Containers: 12, NetNSFiles: 4}},
		{name: "every-kind", rep: Report{Findings: []Finding{stale, unnamed, missing, leaked, orphan, shim}, Containers: 12, NetNSFiles: 4}},
		{name: "one-leaked", rep: Report{Findings: []Finding{leaked}, NetNSFiles: 1}},
		{name: "hostile", rep: Report{Findings: []Finding{hostile}, Containers: 1, NetNSFiles: 1}},
	}, []goldenReport{
		{name: "cni-report", rep: Report{Findings: []Finding{address, cacheEntry, busy}, Containers: 3, NetNSFiles: 2, CNI: cni}},
		{name: "cni-empty", rep: Report{Containers: 3, CNI: &CNIReport{ConfDir: "/etc/cni/net.d", BinDirs: []string{"/opt/cni/bin"}}}},
		{name: "fix", rep: Report{Fixed: true, Containers: 12, NetNSFiles: 4, Findings: []Finding{
			withFix(stale, FixResult{Error: "the container that names it is its runtime's to remove, which removes the file too (see what to do)"}),
			withFix(unnamed, FixResult{Fixed: true, Did: "removed /run/netns/old"}),
			withFix(leaked, FixResult{Error: "left alone: pid 4711 is in its namespace now"}),
			withFix(busy, FixResult{Error: "its copies belong to the mount namespaces of live processes, which doctor does not enter"}),
			withFix(address, FixResult{Fixed: true, Did: "released 10.213.77.9 (removed /var/lib/cni/networks/cbr0/10.213.77.9)"}),
			withFix(cacheEntry, FixResult{Resolved: true, Did: "nothing: /var/lib/cni/results/cbr0-9e1f-eth0 is gone already"}),
			withFix(orphan, FixResult{Error: "containerd's to clean up (see what to do)"}),
			withFix(hostile, FixResult{Failed: true, Error: "remove /run/netns/x\x1b[2J\nFAKE: device or resource busy"}),
		}}},
		{name: "fix-all", rep: Report{Fixed: true, NetNSFiles: 1, Findings: []Finding{
			withFix(unnamed, FixResult{Fixed: true, Did: "removed /run/netns/old"})}}},
		{name: "dry-run", rep: Report{Fixed: true, DryRun: true, Containers: 1, NetNSFiles: 1, Findings: []Finding{
			withFix(unnamed, FixResult{Did: "would remove /run/netns/old"}),
			withFix(address, FixResult{Error: "left alone: container 9e1f exists now"})}}},
	}...)
}

// TestReportGolden writes the fixed reports as text and as JSON and
// compares them with testdata/{text,json}.golden byte for byte. Rewrite
// them with go test -run ReportGolden -update, and read the diff: a
// change there is a change of ctrace doctor's output.
func TestReportGolden(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var out bytes.Buffer
		for _, g := range goldenReports() {
			fmt.Fprintf(&out, "# %s\n", g.name)
			var err error
			if format == "json" {
				err = g.rep.WriteJSON(&out)
			} else {
				err = g.rep.WriteText(&out)
			}
			if err != nil {
				t.Fatalf("%s %s: %v", format, g.name, err)
			}
		}
		compareGolden(t, "testdata/"+format+".golden", out.Bytes())
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	golden.Compare(t, path, got, *update)
}
