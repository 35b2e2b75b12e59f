package check

import "golang.org/x/sys/unix"

// Linux capability numbers (include/uapi/linux/capability.h).
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// Privileged reports whether this process may load and attach ctrace's
// programs: CAP_SYS_ADMIN, or CAP_BPF and CAP_PERFMON (kernels 5.8+).
func Privileged() bool {
	return hasCaps(capSysAdmin) || hasCaps(capBPF, capPerfmon)
}

// hasCaps reports whether the process has every capability in its effective set.
func hasCaps(caps ...int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	for _, c := range caps {
		if data[c/32].Effective&(1<<(uint(c)%32)) == 0 {
			return false
		}
	}
	return true
}
