package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// bootOptions describe one guest boot.
type bootOptions struct {
	Kernel  string // vmlinuz
	Initrd  string
	Append  string
	Memory  string
	CPUs    int
	Timeout time.Duration
	Dir     string // console.log and guest.log go here
}

// boot runs qemu under software emulation until the guest powers off or
// the timeout passes. It returns the guest's output (second serial port)
// and the kernel's console (first serial port).
func boot(o bootOptions) (guest, console []byte, elapsed time.Duration, err error) {
	consoleLog := filepath.Join(o.Dir, "console.log")
	guestLog := filepath.Join(o.Dir, "guest.log")
	os.Remove(consoleLog)
	os.Remove(guestLog)
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	// -enable-kvm is not used: on nested or kvm-less hosts it hangs.
	args := []string{
		"-accel", "tcg", "-cpu", "max", "-m", o.Memory, "-smp", fmt.Sprint(o.CPUs),
		"-nographic", "-no-reboot", "-monitor", "none",
		"-kernel", o.Kernel, "-initrd", o.Initrd,
		"-append", strings.TrimSpace("console=ttyS0 rdinit=/init panic=-1 oops=panic " + o.Append),
		"-serial", "file:" + consoleLog,
		"-serial", "file:" + guestLog,
		"-nic", "none",
	}
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, runErr := cmd.CombinedOutput()
	elapsed = time.Since(start)
	guest, _ = os.ReadFile(guestLog)
	console, _ = os.ReadFile(consoleLog)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		err = fmt.Errorf("timed out after %s", o.Timeout)
	case runErr != nil:
		err = fmt.Errorf("qemu: %v\n%s", runErr, out)
	}
	return guest, console, elapsed, err
}
