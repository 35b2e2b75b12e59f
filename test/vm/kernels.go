package main

import "strings"

// kernel is one guest kernel of the matrix: a Debian cloud kernel taken
// from one suite.
type kernel struct {
	// Name is what `make vmtest KERNEL=...` selects: major.minor, with
	// "-arm64" for an arm64 kernel.
	Name string
	// Suite is the Debian release that ships this kernel.
	Suite string
	// Arch is the Debian architecture: amd64 (the default) or arm64.
	Arch string
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

// amd64Golden: TestRecordCorpus compares records with
// testdata/records.golden, written on amd64: the open/tmpfile record
// carries O_TMPFILE, 0x410000 on amd64 and 0x404000 on arm64 (O_DIRECTORY
// differs).
const amd64Golden = "TestRecordCorpus"

// arm64NoFexit: Debian's 6.1 arm64 kernel loads fexit programs but
// cannot attach them (ENOTSUPP; arm64 has the ftrace direct calls that
// BPF trampolines need from 6.4), so there is no capability reason, which
// these tests want and fail without under CI=true.
var arm64NoFexit = map[string]string{
	"internal/audit": landlockAudit["internal/audit"],
	"tracer":         "^(TestReasonCapability|TestNoCapabilityForAQuestion|TestNoReasonForSuccess|" + amd64Golden + ")$",
}

// arm64Skips: what every arm64 kernel of the matrix cannot pass.
var arm64Skips = map[string]string{
	"internal/audit": landlockAudit["internal/audit"],
	"tracer":         "^" + amd64Golden + "$",
}

// arm64CPU is -cpu max with the pointer authentication codes computed by
// qemu's own (implementation-defined) algorithm instead of the
// architected QARMA5, which is slow to emulate: the kernel signs and
// checks return addresses either way, and the guest ran 4 times faster
// (boot, check and the AppArmor scenario: 22 s against 88 s).
const arm64CPU = "max,pauth-impdef=on"

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
	// arm64 (qemu-system-aarch64 -machine virt): the same tests with the
	// arm64 build of ctrace, its arm64 eBPF objects and arm64 syscall
	// numbers, booted as the amd64 6.1 is.
	{Name: "6.1-arm64", Suite: "bookworm", Arch: "arm64", Append: "lsm=lockdown,capability,landlock,yama,apparmor,bpf", Skip: arm64NoFexit, CPU: arm64CPU,
		Scenarios: []string{"apparmor-mount"}},
	{Name: "6.12-arm64", Suite: "trixie", Arch: "arm64", Skip: arm64Skips, CPU: arm64CPU},
}

// arch is the kernel's Debian architecture.
func (k kernel) arch() string {
	if k.Arch == "" {
		return "amd64"
	}
	return k.Arch
}

// version is the kernel's major.minor.
func (k kernel) version() string {
	v, _, _ := strings.Cut(k.Name, "-")
	return v
}

// goarch is GOARCH for binaries that run on the kernel: Debian and Go
// name amd64 and arm64 alike.
func (k kernel) goarch() string { return k.arch() }

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
