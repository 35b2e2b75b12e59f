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
}

// kernels is the matrix, oldest first. The 6.1 kernel boots with the BPF
// LSM and AppArmor enabled, so the fexit, LSM and AppArmor paths run for
// real there.
var kernels = []kernel{
	{Name: "5.10", Suite: "bullseye"},
	{Name: "6.1", Suite: "bookworm", Append: "lsm=lockdown,capability,landlock,yama,apparmor,bpf"},
	{Name: "6.12", Suite: "trixie"},
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
