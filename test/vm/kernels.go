package main

import "strings"

// kernel is one guest kernel of the matrix: a Debian cloud kernel taken
// from one suite.
type kernel struct {
	// Name is what `make vmtest KERNEL=...` selects: major.minor.
	Name string
	// Suite is the Debian release that ships this kernel.
	Suite string
	// Append is added to the kernel command line.
	Append string
	// Skip names, per package, tests that cannot pass on this kernel
	// because it lacks what they test, as a -test.skip pattern. They are
	// listed in the run's output and in docs/kernels.md, never skipped
	// silently.
	Skip map[string]string
	// CPU is qemu's -cpu model when "max" does not do.
	CPU string
	// Scenarios are scripts of scenarios/ run after the test binaries.
	Scenarios []string
}

// landlockAudit: Landlock reports denials to audit from ABI 7 (6.15) on,
// and the audit package's tests of it fail rather than skip under CI=true.
var landlockAudit = map[string]string{"internal/audit": "^(TestLandlockDenial|TestEndToEnd)$"}

// kernels is the matrix, oldest first. The 6.1 kernel boots with the BPF
// LSM and AppArmor enabled, so the fexit, LSM and AppArmor paths run for
// real there.
var kernels = []kernel{
	{Name: "5.10", Suite: "bullseye", Skip: landlockAudit},
	{Name: "6.1", Suite: "bookworm", Append: "lsm=lockdown,capability,landlock,yama,apparmor,bpf", Skip: landlockAudit,
		Scenarios: []string{"apparmor-mount"}},
	// QEMU 7.2's emulation of cmpxchg16b with a segment prefix, which
	// 6.12's slab allocator uses per CPU, corrupts EFLAGS: spurious debug
	// exceptions and double faults in __kmalloc (2 of 4 boots with
	// -cpu max). Without cx16 the allocator takes its other path.
	{Name: "6.12", Suite: "trixie", Skip: landlockAudit, CPU: "max,-cx16"},
}

// selectKernels returns the kernels named in a comma-separated list; an
// empty list or "all" selects every one.
func selectKernels(list string) ([]kernel, []string) {
	if list == "" || list == "all" {
		return kernels, nil
	}
	var out []kernel
	var unknown []string
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		found := false
		for _, k := range kernels {
			if k.Name == n {
				out = append(out, k)
				found = true
			}
		}
		if !found && n != "" {
			unknown = append(unknown, n)
		}
	}
	return out, unknown
}
