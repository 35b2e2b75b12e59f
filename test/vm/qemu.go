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
	CPU     string // qemu's -cpu
	Threads string // TCG's thread=: single or multi
	CPUs    int
	Timeout time.Duration
	// Stall stops a guest that printed nothing for this long; a guest
	// whose kernel reports a lockup is stopped after a quarter of it.
	Stall time.Duration
	Dir   string // console.log and guest.log go here
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
		"-accel", "tcg,thread=" + o.Threads, "-cpu", o.CPU, "-m", o.Memory, "-smp", fmt.Sprint(o.CPUs),
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
