package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/audit"
	"github.com/ctrace-dev/ctrace/tracer"
)

// checkItem is one line of `ctrace check`: something ctrace needs or
// offers, whether it works here, by which mechanism, or why not.
type checkItem struct {
	Name      string `json:"name"`
	OK        bool   `json:"ok"`
	Mechanism string `json:"mechanism,omitempty"`
	Detail    string `json:"detail,omitempty"`
	// Required items stop `ctrace run` when they fail; others only take
	// a feature away.
	Required bool `json:"required"`
}

type checkReport struct {
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
	Host  *hostInfo   `json:"host"`
	Items []checkItem `json:"checks"`
	// CanRun is whether `ctrace run` works on this node.
	CanRun bool `json:"can_run"`
}

func newCheckCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Say what ctrace can do on this node, and by which mechanism",
		Long: `Load and attach every ctrace program once, then report the kernel, its BTF,
tracefs, lockdown and LSMs, and for each syscall family and each kind of
reason whether it works here and how. Exit status 0 when ctrace run can
work, 1 when it cannot: when a required item (marked FAIL) fails, such as
the privileges or a --host-root that does not hold the node's file
system. check changes nothing on the node: no mount is left behind (it
reads securityfs through a detached mount when the node has none), and
every program it loads is gone when it exits. If a ctrace run --audit was
killed and left kernel auditing on, check turns it off again (see
ctrace run --help).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageError("-o/--output: unknown output format %q; valid: text, json", output)
			}
			rep := runCheck()
			if output == "json" {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				rep.writeText(os.Stdout)
			}
			if !rep.CanRun {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func runCheck() *checkReport {
	restoreAuditLeftover()
	rep := &checkReport{Arch: "x86_64"}
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

	priv := checkItem{Name: "privileges", Required: true, OK: hasCaps(capSysAdmin) || hasCaps(capBPF, capPerfmon)}
	if !priv.OK {
		priv.Detail = "needs root, or CAP_BPF and CAP_PERFMON: run with sudo"
	}
	btfItem := checkItem{Name: "btf", Required: true, OK: rep.BTF != "", Mechanism: rep.BTF}
	if !btfItem.OK {
		btfItem.Detail = "no /sys/kernel/btf/vmlinux: the kernel needs CONFIG_DEBUG_INFO_BTF=y"
	}
	if !btfItem.OK {
		if hr, err := resolveHostRoot(); err == nil {
			if err := hr.CheckBTF(); err != nil {
				btfItem.Detail = err.Error()
			}
		}
	}
	host, hostItems := checkHost()
	rep.Host = host
	rep.Items = append(rep.Items, priv, btfItem)
	rep.Items = append(rep.Items, hostItems...)
	if !priv.OK || !btfItem.OK {
		return rep
	}

	t, err := tracer.Open(tracer.Options{})
	if err != nil {
		rep.Items = append(rep.Items, checkItem{Name: "load", Required: true, Detail: err.Error()})
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
	rep.Items = append(rep.Items, familyItems(t)...)
	for _, f := range t.Features() {
		name := "reason:" + f.Name
		if f.Name == "fexit" {
			name = "probe:fexit" // what older kernels and LSM hooks need
		}
		it := checkItem{Name: name, OK: f.Err == nil, Mechanism: f.Mechanism}
		if f.Err != nil {
			it.Detail = f.Err.Error()
		}
		rep.Items = append(rep.Items, it)
	}
	rep.Items = append(rep.Items, permissionItem(t))
	av := audit.Probe()
	rep.Items = append(rep.Items, checkItem{Name: "reason:lsm_audit", OK: av.Usable(),
		Mechanism: "audit netlink multicast group", Detail: av.String()})
	rep.CanRun = len(t.Attached()) > 0 && requiredOK(rep.Items)
	return rep
}

// permissionItem says how permission reasons are found here: in user
// space, after the call, on every kernel (internal/permission); the
// kernel's permission hooks would need fexit, which ctrace does not use
// for them yet.
func permissionItem(t *tracer.Tracer) checkItem {
	it := checkItem{Name: "reason:permission", OK: true,
		Mechanism: "after the call: the caller's /proc/PID (root, cwd, status, uid_map), else its container's rootfs and id maps"}
	fexit := "this kernel refuses fexit"
	for _, f := range t.Features() {
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
func requiredOK(items []checkItem) bool {
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
func familyItems(t *tracer.Tracer) []checkItem {
	attached := map[string]bool{}
	for _, s := range t.Attached() {
		attached[s] = true
	}
	skipped := map[string]error{}
	for _, s := range t.Skipped() {
		skipped[s.Syscall] = s.Err
	}
	d := t.Dispatch()
	var items []checkItem
	for _, fam := range tracer.Families() {
		it := checkItem{Name: "syscalls:" + string(fam), Mechanism: d.Mechanism, OK: true}
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

func (rep *checkReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "kernel    %s (%s)\n", rep.Kernel, rep.Arch)
	fmt.Fprintf(w, "btf       %s\n", orNone(rep.BTF))
	fmt.Fprintf(w, "tracefs   %s\n", orNone(rep.Tracefs))
	fmt.Fprintf(w, "dispatch  %s\n", orNone(rep.Dispatch))
	fmt.Fprintf(w, "lockdown  %s\n", orNone(rep.Lockdown))
	fmt.Fprintf(w, "lsms      %s\n", orNone(strings.Join(rep.LSMs, ",")))
	rep.Host.writeText(w)
	fmt.Fprintln(w)
	for _, it := range rep.Items {
		mark := "ok  "
		if !it.OK {
			mark = "FAIL"
			if !it.Required {
				mark = "no  "
			}
		}
		line := fmt.Sprintf("%s %-22s %s", mark, it.Name, it.Mechanism)
		if it.Detail != "" {
			line += "  (" + it.Detail + ")"
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	if rep.CanRun {
		fmt.Fprintln(w, "\nctrace run can work on this node")
	} else {
		fmt.Fprintln(w, "\nctrace run cannot work on this node")
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
