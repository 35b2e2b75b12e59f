package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// bootOptions describe one guest boot.
type bootOptions struct {
	Kernel  string // vmlinuz
	Initrd  string
	Append  string
	Memory  string
	CPU     string // qemu's -cpu
	Threads string // TCG's thread=: single or multi
	// Icount is qemu's -icount, empty for none: with it the guest's clock
	// counts instructions, whatever the host's load.
	Icount  string
	CPUs    int
	Timeout time.Duration
	// Stall stops a guest that printed nothing for this long; a guest
	// whose kernel reports a lockup is stopped after a quarter of it.
	Stall time.Duration
	Dir   string // console.log and guest.log go here
	Arch  string // amd64 or arm64
}

// machine is how qemu emulates an architecture: its program, the
// arguments that choose the board, and the guest's ports. On amd64 the
// kernel's console is the first serial port and the guest's output the
// second. arm64's virt board has one serial port (a PL011) in qemu 7.2:
// the console goes there, the output to a virtio console (hvc0), whose
// drivers the Debian kernel has as modules.
type machine struct {
	Qemu        string
	Package     string // the Debian package with Qemu
	Args        []string
	Console     string                         // the kernel's console=
	GuestArgs   func(guestLog string) []string // the output port
	Output      string                         // its device in the guest
	BootModules []string
}

var machines = map[string]machine{
	"amd64": {
		Qemu: "qemu-system-x86_64", Package: "qemu-system-x86", Console: "ttyS0", Output: "/dev/ttyS1",
		GuestArgs: func(guestLog string) []string { return []string{"-serial", "file:" + guestLog} },
	},
	"arm64": {
		// Direct kernel boot: qemu loads the Image and the device tree
		// itself, no firmware.
		Qemu: "qemu-system-aarch64", Package: "qemu-system-arm", Args: []string{"-machine", "virt"}, Console: "ttyAMA0", Output: "/dev/hvc0",
		GuestArgs: func(guestLog string) []string {
			return []string{"-device", "virtio-serial-device", "-chardev", "file,id=guest,path=" + guestLog,
				"-device", "virtconsole,chardev=guest"}
		},
		BootModules: []string{"drivers/virtio/virtio", "drivers/virtio/virtio_ring", "drivers/virtio/virtio_mmio", "drivers/char/virtio_console"},
	},
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
	m := machines[o.Arch]
	args := append(slices.Clone(m.Args),
		"-accel", "tcg,thread="+o.Threads, "-cpu", o.CPU, "-m", o.Memory, "-smp", fmt.Sprint(o.CPUs),
		"-nographic", "-no-reboot", "-monitor", "none",
		"-kernel", o.Kernel, "-initrd", o.Initrd,
		"-append", strings.TrimSpace("console="+m.Console+" rdinit=/init panic=-1 oops=panic "+o.Append),
		"-serial", "file:"+consoleLog)
	if o.Icount != "" {
		args = append(args, "-icount", o.Icount)
	}
	args = append(args, m.GuestArgs(guestLog)...)
	args = append(args, "-nic", "none")
	cmd := exec.CommandContext(ctx, m.Qemu, args...)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	stalled := make(chan string, 1)
	done := make(chan struct{})
	if o.Stall > 0 {
		go watchStall(guestLog, consoleLog, o.Stall, stalled, done, cancel)
	}
	out, runErr := cmd.CombinedOutput()
	close(done)
	elapsed = time.Since(start)
	guest, _ = os.ReadFile(guestLog)
	console, _ = os.ReadFile(consoleLog)
	var why string
	select {
	case why = <-stalled:
	default:
	}
	switch {
	case why != "":
		err = errors.New(why)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		err = fmt.Errorf("timed out after %s", o.Timeout)
	case runErr != nil:
		err = fmt.Errorf("qemu: %v\n%s", runErr, out)
	}
	return guest, console, elapsed, err
}

// watchStall stops the guest when its output stops growing for stall, or
// for a quarter of that once the kernel reported a lockup or RCU stall.
func watchStall(guestLog, consoleLog string, stall time.Duration, stalled chan<- string, done <-chan struct{}, stop func()) {
	var size int64 = -1
	last := time.Now()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		if st, err := os.Stat(guestLog); err == nil && st.Size() != size {
			size, last = st.Size(), time.Now()
			continue
		}
		quiet := time.Since(last)
		limit := stall
		console, _ := os.ReadFile(consoleLog)
		lockup := strings.Contains(string(console), "soft lockup") || strings.Contains(string(console), "rcu_sched self-detected stall") ||
			strings.Contains(string(console), "hung_task")
		if lockup {
			limit = stall / 4
		}
		if quiet >= limit {
			why := fmt.Sprintf("the guest printed nothing for %s", quiet.Round(time.Second))
			if lockup {
				why += " after its kernel reported a lockup (see the console)"
			}
			stalled <- why + "; stopped"
			stop()
			return
		}
	}
}
