package testenv

import "strings"

// KernelFSMounts keeps the lines of a mountinfo that ctrace could have
// made or changed: mounts of tracefs, debugfs, securityfs and bpffs, and
// anything mounted under /sys. The rest of the node's table belongs to
// other tests (netns files, containers' root file systems), which go test
// runs beside these in other packages and which change it meanwhile: a
// test that the node's mounts are as they were compares these lines.
func KernelFSMounts(mountinfo string) string {
	var keep []string
	for _, l := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(l)
		_, post, ok := strings.Cut(l, " - ")
		if !ok || len(f) < 5 {
			continue
		}
		fstype, _, _ := strings.Cut(post, " ")
		switch {
		case fstype == "tracefs", fstype == "debugfs", fstype == "securityfs", fstype == "bpf",
			f[4] == "/sys" || strings.HasPrefix(f[4], "/sys/"):
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
