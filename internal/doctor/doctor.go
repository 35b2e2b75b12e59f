// Package doctor checks a node for the inconsistencies between containerd
// and the kernel that make calls fail later: network namespace files that
// containers name but that are stale or gone, namespace files that nothing
// uses any more or whose mount other mount namespaces hold, addresses and
// CNI cache entries of sandboxes that are gone, and containers whose task
// containerd lists as running while its process is gone (or shims serving
// no container).
//
// Check only reads: containerd's containers (through correlate's cache),
// the files under the netns directories (statfs and stat, never open),
// CNI's configuration and state files, and /proc. Each finding says what
// the operator can do. Fix, asked for with --fix, carries that out for the
// findings it can prove safe (fix.go); nothing else changes the node.
package doctor

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/netns"
)

// Kind is the kind of a finding.
type Kind string

// The kinds of findings, in the order a report lists them.
const (
	NetNSStale   Kind = "netns-stale"
	NetNSMissing Kind = "netns-missing"
	NetNSLeaked  Kind = "netns-leaked"
	NetNSBusy    Kind = "netns-busy"
	// IPAMLeaked covers both leaks of a CNI DEL that never ran: a
	// host-local address file and a libcni result cache entry (Path
	// tells them apart; IP is set for the first only). They have one
	// cause and one cure, and a gauge per file kind would split a count
	// that operators read as one.
	IPAMLeaked      Kind = "ipam-leaked"
	SandboxOrphaned Kind = "sandbox-orphaned"
)

// Kinds lists every kind, for gauges that must show zero too.
var Kinds = []Kind{NetNSStale, NetNSMissing, NetNSLeaked, NetNSBusy, IPAMLeaked, SandboxOrphaned}

// Finding is one inconsistency.
type Finding struct {
	Kind Kind
	// Path is the network namespace file concerned, "" for a
	// sandbox-orphaned finding.
	Path string
	// Container is the container concerned, nil when none is (a leaked
	// namespace, a shim without its container).
	Container *Container
	// Detail says what was found and how.
	Detail string
	// Action says what to do about it.
	Action string
	// Network and IP are the CNI network and the address of an
	// ipam-leaked finding (IP only for an address file).
	Network, IP string
	// Holders are the other mount namespaces that hold a netns-busy
	// file's mount.
	Holders []Holder
	// Fix is what Fix did or would do about the finding; nil when it was
	// not asked to.
	Fix *FixResult

	// What Fix re-verifies: the container an address or cache entry was
	// for, the file's time, the network directory whose lock host-local
	// takes, the namespace's inode.
	ownerID string
	mtime   time.Time
	lockDir string
	cache   bool
	ino     uint64
}

// Container names a container in a finding.
type Container struct {
	ID           string
	Namespace    string
	Pod          string
	PodNamespace string
	// Task is the task state containerd reports ("running", "stopped",
	// ...; "" without a task).
	Task string
}

// Report is the result of Check.
type Report struct {
	Findings []Finding
	// Containers and NetNSFiles count what was checked.
	Containers, NetNSFiles int
	// CNI is the node's CNI configuration, nil when Check was not asked
	// to read it (Input.CNIConfDir empty).
	CNI *CNIReport
	// Fixed says that Fix ran, DryRun that it only said what it would do.
	Fixed, DryRun bool
}

// Input is what Check compares.
type Input struct {
	// Containers returns containerd's containers now (correlate's
	// Resolver.Containers). It is called again to confirm a finding
	// that a container created or a task exiting meanwhile would
	// explain.
	Containers func() []*correlate.Container
	// Namespace, when set, limits the container checks to one
	// containerd namespace. Namespace files are checked against the
	// containers of every namespace still: a file another namespace's
	// container uses is not leaked.
	Namespace string
	// Root is the host root ("" for this file system); Proc the node's
	// /proc ("" for /proc).
	Root, Proc string
	// Address is the socket of the containerd that Containers come from,
	// as shims name it (-address): shims of another containerd are not
	// this one's to judge. "" skips the check of shims.
	Address string
	// CNIConfDir, CNIBinDirs and CNIStateDir are where CNI's
	// configuration, plugins and state (host-local's default data
	// directory networks/, libcni's cache results/) are on the node.
	// CNIConfDir "" skips the CNI checks.
	CNIConfDir  string
	CNIBinDirs  []string
	CNIStateDir string
	// MinAge: address files and cache entries younger than this are not
	// reported, and Fix leaves every file younger than this alone (a
	// sandbox being created has them before containerd has it).
	MinAge time.Duration
	// Live lists containerd's containers straight from containerd, not
	// from a cache, for Fix to re-verify a finding just before acting.
	// nil: Containers is used.
	Live func(ctx context.Context) (Live, error)
}

// Live is what containerd has now: every container's id and the
// canonical netns files their specs name, in every namespace.
type Live struct {
	IDs   map[string]bool
	NetNS map[string]bool
}

// Check compares containerd's containers with the namespace files and the
// processes of the node.
func Check(in Input) (Report, error) {
	if in.Proc == "" {
		in.Proc = "/proc"
	}
	var rep Report
	live := existing(in.Containers())
	named := map[string]bool{} // canonical netns paths that containers name
	for _, c := range live {
		if c.NetNS != "" {
			named[netns.Canonical(in.Root, c.NetNS)] = true
		}
		if in.Namespace != "" && c.Namespace != in.Namespace {
			continue
		}
		rep.Containers++
		if f, ok := checkNetNS(in.Root, c); ok {
			rep.Findings = append(rep.Findings, f)
		}
	}
	files := netnsFiles(in.Root)
	rep.NetNSFiles = len(files)
	used := usedNetNS(in.Proc)
	for _, p := range files {
		if named[netns.Canonical(in.Root, p)] {
			continue
		}
		st, err := netns.Classify(in.Root, p)
		if err != nil {
			continue
		}
		switch st {
		case netns.StateStale:
			rep.Findings = append(rep.Findings, Finding{Kind: NetNSStale, Path: p,
				Detail: p + " is an empty file with no namespace mounted on it, and no container names it",
				Action: "remove the file (rm " + p + "); nothing can enter it"})
		case netns.StateOK:
			ino, ok := inode(netns.HostPath(in.Root, p))
			if !ok || used[ino] {
				continue
			}
			rep.Findings = append(rep.Findings, Finding{Kind: NetNSLeaked, Path: p, ino: ino,
				Detail: p + " holds network namespace net:[" + strconv.FormatUint(ino, 10) + "], which no container names and no process is in",
				Action: "if no CNI plugin or tool is about to use it, remove it: ip netns delete " + filepath.Base(p)})
		}
	}
	rep.Findings = append(rep.Findings, busyNetNS(in, files, live)...)
	if in.CNIConfDir != "" {
		if in.CNIStateDir == "" {
			in.CNIStateDir = DefaultCNIStateDir
		}
		rep.CNI = readCNI(in.Root, in.CNIConfDir, in.CNIBinDirs)
		ids := map[string]bool{}
		for _, c := range live {
			ids[c.ID] = true
		}
		now := time.Now()
		leaks := append(ipamLeaks(in, rep.CNI, ids, now), cacheLeaks(in, ids, now)...)
		if len(leaks) > 0 {
			// A second look, as for orphans: a sandbox created since the
			// first listing is not leaking.
			for _, c := range existing(in.Containers()) {
				ids[c.ID] = true
			}
			for _, f := range leaks {
				if !ids[f.ownerID] {
					rep.Findings = append(rep.Findings, f)
				}
			}
		}
	}
	rep.Findings = append(rep.Findings, orphans(in, live)...)
	sort.SliceStable(rep.Findings, func(i, j int) bool {
		a, b := rep.Findings[i], rep.Findings[j]
		if a.Kind != b.Kind {
			return kindRank(a.Kind) < kindRank(b.Kind)
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Container != nil && b.Container != nil && a.Container.ID < b.Container.ID
	})
	return rep, nil
}

func kindRank(k Kind) int {
	for i, x := range Kinds {
		if x == k {
			return i
		}
	}
	return len(Kinds)
}

// existing drops the containers containerd has deleted (the cache keeps
// them for a grace time).
func existing(cs []*correlate.Container) []*correlate.Container {
	out := cs[:0:0]
	for _, c := range cs {
		if c.Deleted.IsZero() && c.Known {
			out = append(out, c)
		}
	}
	return out
}

// taskAlive reports whether containerd says the container's task has a
// process: created, running or paused.
func taskAlive(c *correlate.Container) bool {
	return c.Task == correlate.TaskCreated || c.Task == correlate.TaskRunning || c.Task == correlate.TaskPaused
}

// checkNetNS checks the file a container's spec names. A stale file is a
// finding whatever the task's state. A missing one only while the task
// exists: the CRI plugin removes a sandbox's file when it stops the
// sandbox, before the record is removed, so a stopped sandbox without its
// file is the normal state between `crictl stopp` and `crictl rmp`.
func checkNetNS(rootDir string, c *correlate.Container) (Finding, bool) {
	if c.NetNS == "" || strings.HasPrefix(c.NetNS, "/proc/") {
		return Finding{}, false
	}
	st, err := netns.Classify(rootDir, c.NetNS)
	if err != nil {
		return Finding{}, false
	}
	ref := ref(c)
	what := "container " + c.Namespace + "/" + c.ID
	if c.Pod != "" {
		what = "sandbox " + c.Namespace + "/" + c.ID + " (pod " + c.PodNamespace + "/" + c.Pod + ")"
	}
	task := string(c.Task)
	if task == "" {
		task = "no task"
	}
	switch {
	case st == netns.StateStale:
		return Finding{Kind: NetNSStale, Path: c.NetNS, Container: ref,
			Detail: what + " (" + task + ") names " + c.NetNS + " as its network namespace, but no namespace is mounted on it (its bind mount is gone)",
			Action: stopRemove(c)}, true
	case st == netns.StateMissing && taskAlive(c):
		return Finding{Kind: NetNSMissing, Path: c.NetNS, Container: ref,
			Detail: what + " (" + task + ") names " + c.NetNS + " as its network namespace, but there is no such file",
			Action: stopRemove(c)}, true
	}
	return Finding{}, false
}

// stopRemove says how to get rid of a broken container or sandbox.
func stopRemove(c *correlate.Container) string {
	if c.Pod != "" {
		return "stop and remove the sandbox (crictl stopp " + short(c.ID) + "; crictl rmp " + short(c.ID) + "); the kubelet recreates it and the CNI plugin a new namespace"
	}
	return "stop and remove the container (ctr -n " + c.Namespace + " task kill " + c.ID + "; ctr -n " + c.Namespace + " container rm " + c.ID + ") and create it again with a live namespace"
}

func short(id string) string {
	if len(id) > 13 {
		return id[:13]
	}
	return id
}

func ref(c *correlate.Container) *Container {
	return &Container{ID: c.ID, Namespace: c.Namespace, Pod: c.Pod, PodNamespace: c.PodNamespace, Task: string(c.Task)}
}

// netnsFiles lists the files in netns.Dirs, each once (/var/run/netns is
// usually /run/netns through a link).
func netnsFiles(rootDir string) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range netns.Dirs {
		ents, err := os.ReadDir(netns.HostPath(rootDir, d))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.IsDir() {
				continue
			}
			p := filepath.Join(d, e.Name())
			if c := netns.Canonical(rootDir, p); !seen[c] {
				seen[c] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// usedNetNS returns the network namespaces that processes are in, by
// inode.
func usedNetNS(proc string) map[uint64]bool {
	used := map[uint64]bool{}
	ents, _ := os.ReadDir(proc)
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if ino, ok := inode(filepath.Join(proc, e.Name(), "ns", "net")); ok {
			used[ino] = true
		}
	}
	return used
}
