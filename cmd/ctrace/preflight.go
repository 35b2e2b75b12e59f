package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Linux capability numbers (include/uapi/linux/capability.h).
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// preflight checks what run needs before loading anything, so that a user
// gets a sentence saying what to do rather than a bpf(2) errno.
func preflight() error {
	if !hasCaps(capSysAdmin) && !hasCaps(capBPF, capPerfmon) {
		return errors.New("ctrace needs root, or CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8): run it with sudo")
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return fmt.Errorf("this kernel exposes no BTF at /sys/kernel/btf/vmlinux (%v): ctrace needs a kernel built with CONFIG_DEBUG_INFO_BTF=y", err)
	}
	return nil
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

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
