package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/check"
)

// preflight checks what run needs before loading anything, so that a user
// gets a sentence saying what to do rather than a bpf(2) errno.
func preflight() error {
	if !check.Privileged() {
		return errors.New("ctrace needs root, or CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8): run it with sudo")
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return fmt.Errorf("this kernel exposes no BTF at /sys/kernel/btf/vmlinux (%v): ctrace needs a kernel built with CONFIG_DEBUG_INFO_BTF=y", err)
	}
	return nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
