package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// NetNSDir is where `ip netns add` makes its files.
const NetNSDir = "/run/netns"

// AddNetNS makes a named network namespace with `ip netns add name` and
// returns its file. The test's cleanup removes it in whatever state the
// test left it (unmounted, removed). NetNSDir stays a mount of itself, as
// ip leaves it (see ShareNetNSDir).
func AddNetNS(tb testing.TB, name string) string {
	tb.Helper()
	HoldNetNSFor(tb)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		tb.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	p := filepath.Join(NetNSDir, name)
	tb.Cleanup(func() {
		// ip netns delete fails on a stale file: unmount and remove by
		// hand, tolerating either being done already.
		_ = unix.Unmount(p, unix.MNT_DETACH)
		_ = os.Remove(p)
	})
	return p
}

// ShareNetNSDir makes NetNSDir what `ip netns add` makes of it the first
// time, a shared mount of itself, unless it is a mount already. A harness
// whose runtime mounts namespace files there (containerd's CRI) calls it
// before its first pod: ip's recursive bind of the directory onto itself,
// made later, would lay copies of those mounts over them, the runtime's
// unmount would take only the copy, and its unlink of the file would fail
// with EBUSY (the mount below is still there in its mount namespace).
//
// Nothing undoes it, as ip never does: tests of other packages may be
// using the directory at any time, and one that took the mount away
// between two pods would bring the hazard back.
func ShareNetNSDir() error {
	if err := os.MkdirAll(NetNSDir, 0o755); err != nil {
		return err
	}
	if isMountPoint(NetNSDir) {
		return nil
	}
	if err := unix.Mount(NetNSDir, NetNSDir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s onto itself: %w", NetNSDir, err)
	}
	if err := unix.Mount("", NetNSDir, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s shared: %w", NetNSDir, err)
	}
	return nil
}

// isMountPoint reports whether p is the mount point of a mount in this
// mount namespace.
func isMountPoint(p string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == p {
			return true
		}
	}
	return false
}
