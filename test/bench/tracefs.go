package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// tracefsPoint is where bpftrace and perf trace look for tracefs to name
// the syscall tracepoints. ctrace needs no mounted tracefs.
const tracefsPoint = "/sys/kernel/tracing"

// mountTracefs mounts tracefs for the peers that need it, where the node
// has none mounted, and returns what takes it away again, so that a run
// leaves the node's mount table as it found it (a run killed with SIGKILL
// leaves the mount: `umount /sys/kernel/tracing`).
func mountTracefs() (unmount func(), err error) {
	if _, err := os.Stat(tracefsPoint + "/events"); err == nil {
		return func() {}, nil
	}
	if err := unix.Mount("tracefs", tracefsPoint, "tracefs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return nil, fmt.Errorf("mount tracefs at %s for bpftrace and perf trace: %w", tracefsPoint, err)
	}
	return func() {
		if err := unix.Unmount(tracefsPoint, 0); err != nil {
			fmt.Fprintf(os.Stderr, "ctrace-bench: unmount the tracefs it mounted at %s: %v\n", tracefsPoint, err)
		}
	}, nil
}
