package check

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/hostroot"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
	"github.com/ctrace-dev/ctrace/tracer"
)

// TestCheckTellsTheTruth compares the report with what this machine is.
func TestCheckTellsTheTruth(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	hr, err := hostroot.Resolve("", correlate.KnownAddresses)
	rep := Run(Options{HostRoot: hr, HostRootErr: err})
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	if want := unix.ByteSliceToString(u.Release[:]); rep.Kernel != want {
		t.Errorf("kernel = %q, want %q", rep.Kernel, want)
	}
	if !rep.CanRun {
		t.Fatalf("check says run cannot work here, yet the tests trace: %+v", rep.Items)
	}
	items := map[string]Item{}
	for _, it := range rep.Items {
		items[it.Name] = it
	}
	for _, name := range []string{"privileges", "btf", "syscalls:mount", "syscalls:open", "syscalls:namespace", "syscalls:exec", "syscalls:runtime", "reason:seccomp", "reason:capability", "reason:kernel_log", "reason:lsm_hooks", "reason:lsm_audit", "probe:fexit"} {
		if _, ok := items[name]; !ok {
			t.Errorf("check has no %q item", name)
		}
	}
	// What the development kernel offers (6.18, see the README's matrix);
	// on another kernel the mechanisms differ and these lines say which.
	lsms, _ := os.ReadFile("/sys/kernel/security/lsm")
	t.Logf("lsms %q lockdown %q", lsms, rep.Lockdown)
	if it := items["reason:capability"]; it.OK && it.Mechanism != "tp_btf/cap_capable" && it.Mechanism != "fexit/cap_capable" {
		t.Errorf("capability mechanism %q", it.Mechanism)
	}
	if _, err := os.Stat("/sys/kernel/tracing/events/capability/cap_capable"); err == nil {
		if it := items["reason:capability"]; !it.OK || it.Mechanism != "tp_btf/cap_capable" {
			t.Errorf("the kernel has the cap_capable tracepoint, check says %+v", it)
		}
	}
	if it := items["reason:kernel_log"]; !it.OK {
		t.Errorf("kernel_log: %+v (tracefs has events/printk/console: %v)", it, exists("/sys/kernel/tracing/events/printk/console"))
	}
	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "ctrace run can work on this node") {
		t.Errorf("text report:\n%s", buf.String())
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestFamilyItems: a syscall the kernel lacks is named but leaves its
// family working; one it refuses fails the family; the raw dispatcher's
// cause is on every family.
func TestFamilyItems(t *testing.T) {
	all := tracer.Syscalls()
	without := func(name string) []string {
		return slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == name })
	}
	tp := tracer.Feature{Mechanism: "syscalls:sys_exit_<name> tracepoints"}
	raw := tracer.Feature{Mechanism: "raw_tracepoint/sys_exit", Err: errors.New("no tracefs")}
	refused := errors.New("permission denied")
	tests := []struct {
		name     string
		attached []string
		skipped  []tracer.Skip
		dispatch tracer.Feature
		// want is each family's OK and Detail; families not named are
		// ok with no detail.
		want map[tracer.Family]Item
	}{
		{name: "all attached", attached: all, dispatch: tp},
		{name: "no such syscall", attached: without("mount_setattr"),
			skipped:  []tracer.Skip{{Syscall: "mount_setattr", Err: tracer.ErrNoSyscall}},
			dispatch: tp,
			want:     map[tracer.Family]Item{tracer.FamilyMount: {OK: true, Detail: "mount_setattr: no such syscall"}}},
		{name: "refused", attached: without("openat2"),
			skipped:  []tracer.Skip{{Syscall: "openat2", Err: refused}},
			dispatch: tp,
			want:     map[tracer.Family]Item{tracer.FamilyOpen: {Detail: "openat2: permission denied"}}},
		{name: "raw dispatcher", attached: all, dispatch: raw,
			want: map[tracer.Family]Item{
				tracer.FamilyMount:     {OK: true, Detail: "per-syscall tracepoints not used: no tracefs"},
				tracer.FamilyOpen:      {OK: true, Detail: "per-syscall tracepoints not used: no tracefs"},
				tracer.FamilyNamespace: {OK: true, Detail: "per-syscall tracepoints not used: no tracefs"},
				tracer.FamilyExec:      {OK: true, Detail: "per-syscall tracepoints not used: no tracefs"},
				tracer.FamilyRuntime:   {OK: true, Detail: "per-syscall tracepoints not used: no tracefs"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := familyItems(tt.attached, tt.skipped, tt.dispatch)
			if len(items) != len(tracer.Families()) {
				t.Fatalf("%d items for %d families", len(items), len(tracer.Families()))
			}
			for i, fam := range tracer.Families() {
				want, ok := tt.want[fam]
				if !ok {
					want = Item{OK: true}
				}
				want.Name, want.Mechanism = "syscalls:"+string(fam), tt.dispatch.Mechanism
				if items[i] != want {
					t.Errorf("got %+v, want %+v", items[i], want)
				}
			}
		})
	}
}

// TestFeatureItems: each reason program is an item named for its reason,
// except fexit, a probe other reasons need; permission says whether the
// kernel would take fexit.
func TestFeatureItems(t *testing.T) {
	tests := []struct {
		name       string
		features   []tracer.Feature
		want       []Item
		permission string
	}{
		{
			name:     "fexit refused",
			features: []tracer.Feature{{Name: "capability", Mechanism: "tp_btf/cap_capable"}, {Name: "fexit", Err: errors.New("EPERM")}},
			want: []Item{{Name: "reason:capability", OK: true, Mechanism: "tp_btf/cap_capable"},
				{Name: "probe:fexit", Detail: "EPERM"}},
			permission: "this kernel refuses fexit",
		},
		{
			name:       "fexit taken",
			features:   []tracer.Feature{{Name: "fexit", Mechanism: "fexit/cap_capable"}},
			want:       []Item{{Name: "probe:fexit", OK: true, Mechanism: "fexit/cap_capable"}},
			permission: "this kernel takes fexit",
		},
		{name: "none", permission: "this kernel refuses fexit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := featureItems(tt.features); !slices.Equal(got, tt.want) {
				t.Errorf("items %+v, want %+v", got, tt.want)
			}
			p := permissionItem(tt.features)
			if !p.OK || p.Name != "reason:permission" || !strings.Contains(p.Detail, tt.permission) {
				t.Errorf("permission item %+v, want ok, saying %q", p, tt.permission)
			}
		})
	}
}

// TestHostReport: what the host root's items say, and that a host root
// that could not be found stops run.
func TestHostReport(t *testing.T) {
	own := true
	tests := []struct {
		name     string
		hr       *hostroot.Root
		err      error
		host     *Host
		items    []Item
		required bool // whether requiredOK holds
	}{
		{
			name: "on the host, no containerd",
			hr:   &hostroot.Root{Path: "/", How: "ctrace runs on the host", Proc: "/proc", Cgroup: "/sys/fs/cgroup"},
			host: &Host{Root: "/", How: "ctrace runs on the host", Proc: "/proc", Cgroup: "/sys/fs/cgroup"},
			items: []Item{
				{Name: "containerd", Detail: "no containerd socket at " + strings.Join(correlate.KnownAddresses, ", ") + ": events carry container ids only"},
				{Name: "cgroup2", OK: true, Mechanism: "/sys/fs/cgroup"},
			},
			required: true,
		},
		{
			name: "in a pod, no cgroup2",
			hr: &hostroot.Root{Path: "/host", How: "flag", Proc: "/host/proc", Containerd: "/host/run/containerd/containerd.sock",
				MountNSKnown: true},
			host: &Host{Root: "/host", How: "flag", Proc: "/host/proc", Containerd: "/host/run/containerd/containerd.sock", OwnMountNS: &own},
			items: []Item{
				{Name: "containerd", OK: true, Mechanism: "/host/run/containerd/containerd.sock"},
				{Name: "cgroup2", Detail: "no cgroup v2 hierarchy found under /host/sys/fs/cgroup"},
			},
			required: true,
		},
		{
			name:  "not found",
			err:   errors.New("--host-root /x: not a directory"),
			items: []Item{{Name: "host-root", Required: true, Detail: "--host-root /x: not a directory"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, items := hostReport(tt.hr, tt.err)
			if !reflect.DeepEqual(host, tt.host) {
				t.Errorf("host %+v, want %+v", host, tt.host)
			}
			if !slices.Equal(items, tt.items) {
				t.Errorf("items %+v, want %+v", items, tt.items)
			}
			if got := requiredOK(items); got != tt.required {
				t.Errorf("requiredOK = %v, want %v", got, tt.required)
			}
		})
	}
}
