package check

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the code")

// checkGoldenReports are fixed reports, not this machine's: the text and
// JSON of check must not depend on where the test runs.
func goldenReports() []struct {
	name string
	rep  *Report
} {
	own, notOwn := true, false
	tracepoints := "syscalls:sys_exit_<name> tracepoints, one per traced syscall"
	raw := "raw_tracepoint/sys_exit (ctrace's dispatcher)"
	// families are the syscall families' items; mountDetail, when set,
	// makes the mount family fail with it.
	families := func(mech, mountDetail string) []Item {
		var items []Item
		for _, f := range []string{"mount", "open", "namespace", "exec", "runtime"} {
			it := Item{Name: "syscalls:" + f, OK: true, Mechanism: mech}
			if f == "mount" && mountDetail != "" {
				it.OK, it.Detail = false, mountDetail
			}
			items = append(items, it)
		}
		return items
	}
	node := &Report{
		Kernel: "6.18.44", Arch: "x86_64", BTF: "/sys/kernel/btf/vmlinux",
		Tracefs:  "detached instance (fsopen/fsmount, never attached to the mount tree)",
		Dispatch: tracepoints, Lockdown: "integrity", LSMs: []string{"lockdown", "capability", "landlock", "bpf"},
		Host: &Host{Root: "/", How: "ctrace runs on the host", Proc: "/proc", BTF: "/sys/kernel/btf/vmlinux",
			Cgroup: "/sys/fs/cgroup/unified"},
		Items: append(append([]Item{
			{Name: "privileges", OK: true, Required: true},
			{Name: "btf", OK: true, Required: true, Mechanism: "/sys/kernel/btf/vmlinux"},
			{Name: "containerd", Detail: "no containerd socket at /run/containerd/containerd.sock: events carry container ids only"},
			{Name: "cgroup2", OK: true, Mechanism: "/sys/fs/cgroup/unified"},
		}, families(tracepoints, "")...),
			Item{Name: "reason:seccomp", OK: true, Mechanism: "syscalls:sys_enter_* tracepoints"},
			Item{Name: "reason:capability", OK: true, Mechanism: "tp_btf/cap_capable"},
			Item{Name: "reason:kernel_log", OK: true, Mechanism: "tp_btf/console"},
			Item{Name: "probe:fexit", Detail: "the kernel refuses fexit/cap_capable programs (EPERM)"},
			Item{Name: "reason:lsm_hooks", Detail: "the kernel refuses fexit/security_sb_mount programs (EPERM)"},
			Item{Name: "reason:permission", OK: true, Mechanism: "after the call", Detail: "reasons say checked: after"},
			Item{Name: "reason:lsm_audit", Mechanism: "audit netlink multicast group", Detail: "auditing is disabled"},
		),
		CanRun: true,
	}
	pod := &Report{
		Kernel: "6.1.0-30-cloud-amd64", Arch: "x86_64", BTF: "/sys/kernel/btf/vmlinux",
		Tracefs:  "not used: fsopen(tracefs): operation not permitted",
		Dispatch: raw, Lockdown: "none", LSMs: []string{"lockdown", "capability", "landlock", "yama", "apparmor", "bpf"},
		Host: &Host{Root: "/host", How: "flag", Proc: "/host/proc", BTF: "/host/sys/kernel/btf/vmlinux",
			Cgroup: "/host/sys/fs/cgroup", Containerd: "/host/run/containerd/containerd.sock", OwnMountNS: &own},
		Items: append(append([]Item{
			{Name: "privileges", OK: true, Required: true},
			{Name: "btf", OK: true, Required: true, Mechanism: "/sys/kernel/btf/vmlinux"},
			{Name: "containerd", OK: true, Mechanism: "/host/run/containerd/containerd.sock"},
			{Name: "cgroup2", OK: true, Mechanism: "/host/sys/fs/cgroup"},
		}, families(raw, "mount_setattr: operation not permitted; per-syscall tracepoints not used: no tracefs")...),
			Item{Name: "reason:capability", OK: true, Mechanism: "fexit/cap_capable"},
			Item{Name: "probe:fexit", OK: true, Mechanism: "fexit"},
		),
		CanRun: true,
	}
	sameNS := &Report{
		Kernel: "5.10.0-33-amd64", Arch: "x86_64", Dispatch: raw, Lockdown: "none",
		Host: &Host{Root: "/host", How: "detected (/host/proc exists)", Proc: "/host/proc", OwnMountNS: &notOwn},
		Items: []Item{
			{Name: "privileges", OK: true, Required: true},
			{Name: "btf", Required: true, Detail: "no /sys/kernel/btf/vmlinux: the kernel needs CONFIG_DEBUG_INFO_BTF=y"},
			{Name: "cgroup2", Detail: "no cgroup v2 hierarchy found under /host/sys/fs/cgroup"},
		},
	}
	unprivileged := &Report{
		Kernel: "6.12.9", Arch: "aarch64", BTF: "/sys/kernel/btf/vmlinux",
		Items: []Item{
			{Name: "privileges", Required: true, Detail: "needs root, or CAP_BPF and CAP_PERFMON: run with sudo"},
			{Name: "btf", OK: true, Required: true, Mechanism: "/sys/kernel/btf/vmlinux"},
			{Name: "host-root", Required: true, Detail: "--host-root /nonexistent: not a directory"},
		},
	}
	return []struct {
		name string
		rep  *Report
	}{
		{"node", node},
		{"pod-own-mount-ns", pod},
		{"pod-node-mount-ns-no-btf", sameNS},
		{"unprivileged-bad-host-root", unprivileged},
		{"empty", &Report{}},
	}
}

// TestCheckGolden writes the fixed reports as text and as JSON and
// compares them with testdata/{text,json}.golden byte for byte.
// Rewrite them with go test -run CheckGolden -update, and read the diff.
func TestCheckGolden(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var out bytes.Buffer
		for _, c := range goldenReports() {
			fmt.Fprintf(&out, "# %s\n", c.name)
			write := c.rep.WriteText
			if format == "json" {
				write = c.rep.WriteJSON
			}
			if err := write(&out); err != nil {
				t.Fatal(err)
			}
		}
		path := "testdata/" + format + ".golden"
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test -update writes it)", err)
		}
		if got := out.String(); got != string(want) {
			t.Errorf("%s differs:\n%s", path, strings.TrimSpace(got))
		}
	}
}
