// Package hostroot finds the node's file system when ctrace runs in a
// container: a privileged pod that mounts the host's root at /host, the
// layout `kubectl debug node/NAME` gives.
//
// eBPF programs see the whole node whatever mount namespace ctrace is in,
// and the tracer reaches tracefs without the node's (tracer/tracefs.go).
// What ctrace reads from files must
// still come from the node, not from its own container: /proc (process
// command lines and cgroups for container attribution), the cgroup tree,
// containerd's socket, and the kernel's BTF when the container's /sys
// lacks it. Root says where each of them was found.
package hostroot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultMount is where `kubectl debug node/...` and ctrace's manifests
// mount the host's root.
const DefaultMount = "/host"

// Paths below the host root whose presence marks it as one (auto-detect).
var markers = []string{"proc", "run/containerd"}

// Root is the node's file system as ctrace sees it.
type Root struct {
	// Path is the host root; "/" when ctrace runs on the host itself.
	Path string
	// How says how Path was chosen: "flag", "detected (/host/proc
	// exists)", or "ctrace runs on the host" for "/".
	How string

	// Proc is the host's /proc, for container attribution.
	Proc string
	// BTF is the kernel's BTF file ("" when none was found). The loader
	// reads /sys/kernel/btf/vmlinux; BTFUsable says whether that path
	// works from here.
	BTF       string
	BTFUsable bool
	// Cgroup is the root of the host's cgroup v2 (unified) hierarchy;
	// "" when none was found.
	Cgroup string
	// Containerd is the first containerd socket found, as a path usable
	// from here; "" when none exists.
	Containerd string
	// SameMountNS reports whether ctrace runs in the host's mount
	// namespace (that of the host's pid 1), known only when both can be
	// read; MountNSKnown says whether they could.
	SameMountNS  bool
	MountNSKnown bool
}

// Resolve finds the host root. flag is the --host-root value: "" detects
// (DefaultMount when it holds proc/ or run/containerd/), "/" forces this
// file system, anything else must be a directory. sockets are containerd's
// socket paths on a host, in order of preference.
func Resolve(flag string, sockets []string) (*Root, error) {
	r := &Root{Path: "/", How: "ctrace runs on the host"}
	switch {
	case flag == "":
		for _, m := range markers {
			if isDir(filepath.Join(DefaultMount, m)) {
				r.Path, r.How = DefaultMount, fmt.Sprintf("detected (%s exists)", filepath.Join(DefaultMount, m))
				break
			}
		}
	case filepath.Clean(flag) == "/":
	default:
		p, err := filepath.Abs(flag)
		if err != nil {
			return nil, err
		}
		if !isDir(p) {
			return nil, fmt.Errorf("--host-root %s: not a directory", flag)
		}
		r.Path, r.How = p, "flag"
	}
	r.fill(sockets)
	return r, nil
}

// OnHost reports whether ctrace runs on the host's own root.
func (r *Root) OnHost() bool { return r.Path == "/" }

// Join is p (an absolute path on the host) as seen from here.
func (r *Root) Join(p string) string {
	if r.OnHost() {
		return p
	}
	return filepath.Join(r.Path, p)
}

func (r *Root) fill(sockets []string) {
	r.Proc = "/proc"
	if hp := r.Join("/proc"); !r.OnHost() && isDir(filepath.Join(hp, "1")) {
		r.Proc = hp
	}

	const btf = "/sys/kernel/btf/vmlinux"
	r.BTFUsable = isFile(btf)
	switch {
	case r.BTFUsable:
		r.BTF = btf
	case isFile(r.Join(btf)):
		r.BTF = r.Join(btf)
	}

	for _, c := range []string{r.Join("/sys/fs/cgroup/unified"), r.Join("/sys/fs/cgroup")} {
		if isCgroup2(c) || isFile(filepath.Join(c, "cgroup.controllers")) {
			r.Cgroup = c
			break
		}
	}
	for _, s := range sockets {
		if p := r.Join(s); isSocket(p) {
			r.Containerd = p
			break
		}
	}

	self, err1 := os.Readlink("/proc/self/ns/mnt")
	init, err2 := os.Readlink(filepath.Join(r.Proc, "1/ns/mnt"))
	if err1 == nil && err2 == nil {
		r.MountNSKnown = true
		r.SameMountNS = self == init
	}
}

// Summary is one line saying what was found, for logs.
func (r *Root) Summary() string {
	if r.OnHost() {
		return "host root / (ctrace runs on the host)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "host root %s, %s: proc %s", r.Path, r.How, r.Proc)
	if r.Containerd != "" {
		fmt.Fprintf(&b, ", containerd %s", r.Containerd)
	}
	if r.Cgroup != "" {
		fmt.Fprintf(&b, ", cgroup %s", r.Cgroup)
	}
	return b.String()
}

// ErrNoBTF is returned by CheckBTF when the loader cannot read BTF.
var ErrNoBTF = errors.New("no BTF")

// CheckBTF says whether the loader can read the kernel's BTF from here,
// and what to do when only the host root has it.
func (r *Root) CheckBTF() error {
	switch {
	case r.BTFUsable:
		return nil
	case r.BTF != "":
		return fmt.Errorf("%w at /sys/kernel/btf/vmlinux in this container, but the host has %s: give the container the host's /sys (a privileged container mounts it read-write)", ErrNoBTF, r.BTF)
	}
	return fmt.Errorf("%w: this kernel exposes no BTF at /sys/kernel/btf/vmlinux: ctrace needs a kernel built with CONFIG_DEBUG_INFO_BTF=y", ErrNoBTF)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func isSocket(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode()&os.ModeSocket != 0
}
