package doctor

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ctrace-dev/ctrace/internal/netns"
)

// Where CNI keeps its configuration, plugins and state by default: the
// paths containerd's CRI plugin and libcni use.
const (
	DefaultCNIConfDir  = "/etc/cni/net.d"
	DefaultCNIBinDir   = "/opt/cni/bin"
	DefaultCNIStateDir = "/var/lib/cni"
)

// DefaultMinAge is how old CNI state and namespace files must be before
// doctor calls them leaked (address files, cache entries) or --fix
// removes them (any file). A pod being created has its namespace file,
// its address and its cache entry before containerd has its sandbox: the
// CRI plugin of containerd 1.6 runs the CNI ADD first and creates the
// sandbox container afterwards, within seconds. Two minutes is well past
// that and short of the kubelet's retries.
const DefaultMinAge = 2 * time.Minute

// CNINetwork is one network of the node's CNI configuration.
type CNINetwork struct {
	// Name is the network's name; File the configuration file.
	Name, File string
	// Versions are the CNI versions it declares (cniVersion, and
	// cniVersions of CNI 1.1).
	Versions []string
	// GC reports whether it declares CNI 1.1.0 or later, and so may
	// support the STATUS and GC verbs.
	GC bool
	// Plugins are the plugin binaries it runs, IPAM plugins included, in
	// order; Missing those found in none of the plugin directories.
	Plugins, Missing []string
	// dataDirs are host-local's data directories of its plugins.
	dataDirs []string
}

// CNIReport is the node's CNI configuration, as doctor reads it. A
// missing plugin binary is reported here, not as a finding: it is the
// node's configuration rather than state left behind, --fix can do
// nothing about it, and the exit status says whether anything is left to
// clean.
type CNIReport struct {
	ConfDir  string
	BinDirs  []string
	Networks []CNINetwork
}

type cniPlugin struct {
	Type string `json:"type"`
	IPAM *struct {
		Type    string `json:"type"`
		DataDir string `json:"dataDir"`
	} `json:"ipam"`
}

type cniConf struct {
	Name        string      `json:"name"`
	CNIVersion  string      `json:"cniVersion"`
	CNIVersions []string    `json:"cniVersions"`
	Plugins     []cniPlugin `json:"plugins"`
	cniPlugin
}

// readCNI reads the configuration files of confDir (*.conf, *.conflist,
// *.json, as libcni does) below rootDir. Files it cannot parse are left
// out: libcni skips them too.
func readCNI(rootDir, confDir string, binDirs []string) *CNIReport {
	rep := &CNIReport{ConfDir: confDir, BinDirs: binDirs}
	ents, err := os.ReadDir(netns.HostPath(rootDir, confDir))
	if err != nil {
		return rep
	}
	for _, e := range ents {
		switch filepath.Ext(e.Name()) {
		case ".conf", ".conflist", ".json":
		default:
			continue
		}
		b, err := os.ReadFile(netns.HostPath(rootDir, filepath.Join(confDir, e.Name())))
		if err != nil {
			continue
		}
		var c cniConf
		if json.Unmarshal(b, &c) != nil || c.Name == "" {
			continue
		}
		plugins := c.Plugins
		if len(plugins) == 0 && c.Type != "" {
			plugins = []cniPlugin{c.cniPlugin}
		}
		n := CNINetwork{Name: c.Name, File: filepath.Join(confDir, e.Name())}
		if c.CNIVersion != "" {
			n.Versions = append(n.Versions, c.CNIVersion)
		}
		for _, v := range c.CNIVersions {
			if v != c.CNIVersion {
				n.Versions = append(n.Versions, v)
			}
		}
		for _, v := range n.Versions {
			if versionAtLeast(v, 1, 1) {
				n.GC = true
			}
		}
		seen := map[string]bool{}
		add := func(t string) {
			if t == "" || seen[t] {
				return
			}
			seen[t] = true
			n.Plugins = append(n.Plugins, t)
			if !pluginExists(rootDir, binDirs, t) {
				n.Missing = append(n.Missing, t)
			}
		}
		for _, p := range plugins {
			add(p.Type)
			if p.IPAM != nil {
				add(p.IPAM.Type)
				if p.IPAM.Type == "host-local" {
					d := p.IPAM.DataDir
					if d == "" {
						d = filepath.Join(DefaultCNIStateDir, "networks")
					}
					n.dataDirs = append(n.dataDirs, d)
				}
			}
		}
		rep.Networks = append(rep.Networks, n)
	}
	return rep
}

// versionAtLeast reports whether the version v ("1.1.0") is at least
// major.minor.
func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}

// pluginExists reports whether an executable named t is in one of dirs.
func pluginExists(rootDir string, dirs []string, t string) bool {
	if strings.Contains(t, "/") {
		return false
	}
	for _, d := range dirs {
		fi, err := os.Stat(netns.HostPath(rootDir, filepath.Join(d, t)))
		if err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}

// hostLocalDirs returns host-local's data directories: its default and
// those the networks name, each once.
func (r *CNIReport) hostLocalDirs() []string {
	dirs := []string{filepath.Join(DefaultCNIStateDir, "networks")}
	for _, n := range r.Networks {
		dirs = append(dirs, n.dataDirs...)
	}
	sort.Strings(dirs)
	out := dirs[:0]
	for i, d := range dirs {
		if i == 0 || d != dirs[i-1] {
			out = append(out, d)
		}
	}
	return out
}

// lastReservedPrefix names host-local's record of the last address it
// gave out in a range; it is not an address and stays.
const lastReservedPrefix = "last_reserved_ip"

// ipamLeaks finds host-local's address files whose container no sandbox
// has: /DATADIR/NETWORK/IP, whose first line is the container id the
// runtime gave the plugin (the sandbox's, under the CRI plugin).
//
// Every network directory of the data directories is checked, configured
// or not: a network removed from the configuration leaves its addresses
// behind just the same. The judge is this containerd: a node where
// another runtime (podman's CNI backend) shares host-local's data
// directory has addresses that look leaked to doctor, and must not use
// --fix.
func ipamLeaks(in Input, rep *CNIReport, ids map[string]bool, now time.Time) []Finding {
	var out []Finding
	for _, dataDir := range rep.hostLocalDirs() {
		nets, err := os.ReadDir(netns.HostPath(in.Root, dataDir))
		if err != nil {
			continue
		}
		for _, nd := range nets {
			if !nd.IsDir() {
				continue
			}
			netDir := filepath.Join(dataDir, nd.Name())
			files, err := os.ReadDir(netns.HostPath(in.Root, netDir))
			if err != nil {
				continue
			}
			for _, fe := range files {
				name := fe.Name()
				ip := net.ParseIP(name)
				if !fe.Type().IsRegular() || ip == nil || strings.HasPrefix(name, lastReservedPrefix) {
					continue
				}
				p := filepath.Join(netDir, name)
				id, mtime, ok := addressOwner(netns.HostPath(in.Root, p))
				if !ok || ids[id] || now.Sub(mtime) < in.MinAge {
					continue
				}
				out = append(out, Finding{Kind: IPAMLeaked, Path: p, Network: nd.Name(), IP: ip.String(),
					Detail: "host-local holds " + ip.String() + " of network " + nd.Name() + " (" + p + ") for container " + id +
						", which no container or sandbox of containerd has",
					Action:  "release the address: remove " + p + " (as host-local's DEL does) once no CNI ADD for " + short(id) + " is in flight",
					ownerID: id, mtime: mtime, lockDir: netDir})
			}
		}
	}
	return out
}

// addressOwner reads the container id on the first line of a host-local
// address file ("ID\r\nIFNAME"; older versions wrote the id alone) and
// the file's modification time.
func addressOwner(p string) (string, time.Time, bool) {
	f, err := os.Open(p)
	if err != nil {
		return "", time.Time{}, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", time.Time{}, false
	}
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return "", time.Time{}, false
	}
	id := strings.TrimSpace(sc.Text())
	return id, fi.ModTime(), id != ""
}

// cacheEntry is what libcni writes under STATEDIR/results for each
// network a container was attached to (NETWORK-ID-IFNAME).
type cacheEntry struct {
	Kind        string `json:"kind"`
	ContainerID string `json:"containerId"`
	NetworkName string `json:"networkName"`
	IfName      string `json:"ifName"`
}

// readCacheEntry reads a libcni result cache file and its modification
// time.
func readCacheEntry(p string) (cacheEntry, time.Time, bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		return cacheEntry{}, time.Time{}, false
	}
	fi, err := os.Stat(p)
	if err != nil {
		return cacheEntry{}, time.Time{}, false
	}
	var e cacheEntry
	if json.Unmarshal(b, &e) != nil || e.ContainerID == "" {
		return cacheEntry{}, time.Time{}, false
	}
	return e, fi.ModTime(), true
}

// cacheLeaks finds libcni's result cache entries of containers that are
// gone: the runtime's DEL removes them, so one left over says that DEL
// never ran (or failed) for that sandbox.
func cacheLeaks(in Input, ids map[string]bool, now time.Time) []Finding {
	dir := filepath.Join(in.CNIStateDir, "results")
	ents, err := os.ReadDir(netns.HostPath(in.Root, dir))
	if err != nil {
		return nil
	}
	var out []Finding
	for _, fe := range ents {
		if !fe.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, fe.Name())
		e, mtime, ok := readCacheEntry(netns.HostPath(in.Root, p))
		if !ok || ids[e.ContainerID] || now.Sub(mtime) < in.MinAge {
			continue
		}
		out = append(out, Finding{Kind: IPAMLeaked, Path: p, Network: e.NetworkName,
			Detail: "the CNI result cache " + p + " records network " + e.NetworkName + " (" + e.IfName + ") of container " + e.ContainerID +
				", which no container or sandbox of containerd has: its CNI DEL never ran to the end",
			Action:  "remove " + p + "; if its plugins hold more (an address of another IPAM, a veth), run their DEL for " + short(e.ContainerID),
			ownerID: e.ContainerID, mtime: mtime, cache: true})
	}
	return out
}
