// Package check finds out what ctrace can do on this node, and by which
// mechanism: the report of `ctrace check`. It loads and attaches every
// program once through the tracer and closes it again; the node is left
// as it was.
package check

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/audit"
	"github.com/ctrace-dev/ctrace/internal/hostroot"
	"github.com/ctrace-dev/ctrace/tracer"
)

// Item is one line of the report: something ctrace needs or offers,
// whether it works here, by which mechanism, or why not.
type Item struct {
	Name      string `json:"name"`
	OK        bool   `json:"ok"`
	Mechanism string `json:"mechanism,omitempty"`
	Detail    string `json:"detail,omitempty"`
	// Required items stop `ctrace run` when they fail; others only take
	// a feature away.
	Required bool `json:"required"`
}

// Report is what ctrace found on the node; `ctrace check -o json` writes
// it as it is.
type Report struct {
	Kernel string `json:"kernel"`
	Arch   string `json:"arch"`
	BTF    string `json:"btf"`
	// Tracefs says how the per-syscall tracepoints' ids were read
	// ("mounted at PATH", "detached instance ..."), or why not.
	Tracefs string `json:"tracefs"`
	// Dispatch is how the traced syscalls' exits reach ctrace.
	Dispatch string   `json:"dispatch"`
	Lockdown string   `json:"lockdown"`
	LSMs     []string `json:"lsms"`
	// Host is where the node's file system was found (--host-root).
	Host  *Host  `json:"host"`
	Items []Item `json:"checks"`
	// CanRun is whether `ctrace run` works on this node.
	CanRun bool `json:"can_run"`
}

// Options are what Run is given rather than finds out itself.
type Options struct {
	// HostRoot is the node's file system (--host-root, see package
	// hostroot); when it could not be found, HostRootErr says why, and
	// makes a required item fail.
	HostRoot    *hostroot.Root
	HostRootErr error
}

// Run probes the node: the kernel, its BTF, securityfs, the host root,
// and, when the privileges and BTF are there, the tracer's programs.
func Run(opts Options) *Report {
	rep := &Report{Arch: "x86_64"}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		rep.Kernel = unix.ByteSliceToString(u.Release[:])
		rep.Arch = unix.ByteSliceToString(u.Machine[:])
	}
	rep.BTF = "/sys/kernel/btf/vmlinux"
	if _, err := os.Stat(rep.BTF); err != nil {
		rep.BTF = ""
	}
	// "none [integrity] confidentiality": the bracketed mode is active.
	rep.Lockdown = securityFile("lockdown")
	if i, j := strings.Index(rep.Lockdown, "["), strings.Index(rep.Lockdown, "]"); i >= 0 && j > i {
		rep.Lockdown = rep.Lockdown[i+1 : j]
	}
	if l := securityFile("lsm"); l != "" {
		rep.LSMs = strings.Split(l, ",")
	}

	priv := Item{Name: "privileges", Required: true, OK: Privileged()}
	if !priv.OK {
		priv.Detail = "needs root, or CAP_BPF and CAP_PERFMON: run with sudo"
	}
	btfItem := Item{Name: "btf", Required: true, OK: rep.BTF != "", Mechanism: rep.BTF}
	if !btfItem.OK {
		btfItem.Detail = "no /sys/kernel/btf/vmlinux: the kernel needs CONFIG_DEBUG_INFO_BTF=y"
		// The host root may say more: BTF there that this container's
		// /sys lacks.
		if opts.HostRoot != nil {
			if err := opts.HostRoot.CheckBTF(); err != nil {
				btfItem.Detail = err.Error()
			}
		}
	}
	host, hostItems := hostReport(opts.HostRoot, opts.HostRootErr)
	rep.Host = host
	rep.Items = append(rep.Items, priv, btfItem)
	rep.Items = append(rep.Items, hostItems...)
	if !priv.OK || !btfItem.OK {
		return rep
	}

	t, err := tracer.Open(tracer.Options{})
	if err != nil {
		rep.Items = append(rep.Items, Item{Name: "load", Required: true, Detail: err.Error()})
		return rep
	}
	defer t.Close()
	// tracefs names the per-syscall tracepoints; where ctrace cannot
	// read it, or the kernel has none, it uses the raw dispatchers.
	d := t.Dispatch()
	rep.Dispatch = d.Mechanism
	if rep.Tracefs = t.Tracefs(); rep.Tracefs == "" {
		rep.Tracefs = "not used"
		if d.Err != nil {
			rep.Tracefs += ": " + d.Err.Error()
		}
	}
	rep.Items = append(rep.Items, familyItems(t.Attached(), t.Skipped(), d)...)
	rep.Items = append(rep.Items, featureItems(t.Features())...)
	rep.Items = append(rep.Items, permissionItem(t.Features()))
	av := audit.Probe()
	rep.Items = append(rep.Items, Item{Name: "reason:lsm_audit", OK: av.Usable(),
		Mechanism: "audit netlink multicast group", Detail: av.String()})
	rep.CanRun = len(t.Attached()) > 0 && requiredOK(rep.Items)
	return rep
}

// featureItems are the tracer's reason programs, one item each.
func featureItems(features []tracer.Feature) []Item {
	var items []Item
	for _, f := range features {
		name := "reason:" + f.Name
		if f.Name == "fexit" {
			name = "probe:fexit" // what older kernels and LSM hooks need
		}
		it := Item{Name: name, OK: f.Err == nil, Mechanism: f.Mechanism}
		if f.Err != nil {
			it.Detail = f.Err.Error()
		}
		items = append(items, it)
	}
	return items
}

// permissionItem says how permission reasons are found here: in user
// space, after the call, on every kernel (internal/permission); the
// kernel's permission hooks would need fexit, which ctrace does not use
// for them yet.
func permissionItem(features []tracer.Feature) Item {
	it := Item{Name: "reason:permission", OK: true,
		Mechanism: "after the call: the caller's /proc/PID (root, cwd, status, uid_map), else its container's rootfs and id maps"}
	fexit := "this kernel refuses fexit"
	for _, f := range features {
		if f.Name == "fexit" && f.Err == nil {
			fexit = "this kernel takes fexit, but ctrace does not watch the permission hooks with it yet"
		}
	}
	it.Detail = "reasons say checked: after; " + fexit + " (docs/permission.md)"
	return it
}

// requiredOK is whether every required item works: one that fails (no
// privileges, a --host-root that is not the node's) stops ctrace run, and
// so fails check too.
func requiredOK(items []Item) bool {
	for _, it := range items {
		if it.Required && !it.OK {
			return false
		}
	}
	return true
}

// familyItems says, per syscall family, which syscalls are traced. A
// syscall the kernel or the architecture does not have is named, but does
// not make its family fail: no call of it can fail.
func familyItems(attachedList []string, skippedList []tracer.Skip, d tracer.Feature) []Item {
	attached := map[string]bool{}
	for _, s := range attachedList {
		attached[s] = true
	}
	skipped := map[string]error{}
	for _, s := range skippedList {
		skipped[s.Syscall] = s.Err
	}
	var items []Item
	for _, fam := range tracer.Families() {
		it := Item{Name: "syscalls:" + string(fam), Mechanism: d.Mechanism, OK: true}
		var missing []string
		for _, s := range tracer.Syscalls() {
			if tracer.FamilyOf(s) != fam || attached[s] {
				continue
			}
			err := skipped[s]
			if !errors.Is(err, tracer.ErrNoSyscall) {
				it.OK = false
			}
			missing = append(missing, fmt.Sprintf("%s: %v", s, err))
		}
		sort.Strings(missing)
		if d.Err != nil {
			missing = append(missing, "per-syscall tracepoints not used: "+d.Err.Error())
		}
		it.Detail = strings.Join(missing, "; ")
		items = append(items, it)
	}
	return items
}

// securityFile is a securityfs file's content, or empty when neither the
// node's securityfs nor a detached one can be read (no CAP_SYS_ADMIN).
func securityFile(name string) string {
	v, _ := tracer.SecurityFile(name)
	return v
}
