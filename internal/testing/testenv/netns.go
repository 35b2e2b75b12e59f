package testenv

import (
	"errors"
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
// test left it (unmounted, removed), and, when this call made NetNSDir
// (ip makes it a mount of itself), unmounts and removes that too once it
// is empty: the node is left as it was.
func AddNetNS(tb testing.TB, name string) string {
	tb.Helper()
	HoldNetNSFor(tb)
	_, err := os.Stat(NetNSDir)
	madeDir := errors.Is(err, os.ErrNotExist)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		tb.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	p := filepath.Join(NetNSDir, name)
	tb.Cleanup(func() {
		// ip netns delete fails on a stale file: unmount and remove by
		// hand, tolerating either being done already.
		_ = unix.Unmount(p, unix.MNT_DETACH)
		_ = os.Remove(p)
		if madeDir {
			if ents, err := os.ReadDir(NetNSDir); err == nil && len(ents) == 0 {
				for isMountPoint(NetNSDir) {
					if unix.Unmount(NetNSDir, unix.MNT_DETACH) != nil {
						break
					}
				}
				_ = os.Remove(NetNSDir)
			}
		}
	})
	return p
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
