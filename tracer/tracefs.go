package tracer

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ensureTracefs mounts tracefs where it is missing (minimal hosts, some
// containers): the syscall tracepoints are attached through it. It
// reports whether it mounted it.
func ensureTracefs() (bool, error) {
	for _, dir := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if _, err := os.Stat(dir + "/events"); err == nil {
			return false, nil
		}
	}
	const dir = "/sys/kernel/tracing"
	if err := unix.Mount("tracefs", dir, "tracefs", 0, ""); err != nil {
		return false, fmt.Errorf("tracefs is not mounted and mounting it on %s failed: %w (mount it with: mount -t tracefs tracefs %s)", dir, err, dir)
	}
	return true, nil
}
