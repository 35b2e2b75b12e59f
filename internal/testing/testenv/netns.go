package testenv

import (
	"errors"
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
// test left it (unmounted, removed), and, when this call made NetNSDir
// (ip makes it a mount of itself), unmounts and removes that too once it
// is empty: the node is left as it was.
func AddNetNS(tb testing.TB, name string) string {
	tb.Helper()
	HoldNetNSFor(tb)
	_, err := os.Stat(NetNSDir)
	dir := NetNSDirState{madeDir: errors.Is(err, os.ErrNotExist)}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		tb.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	dir.mounted = dir.madeDir
	p := filepath.Join(NetNSDir, name)
	tb.Cleanup(func() {
		// ip netns delete fails on a stale file: unmount and remove by
		// hand, tolerating either being done already.
		_ = unix.Unmount(p, unix.MNT_DETACH)
		_ = os.Remove(p)
		dir.Release()
	})
	return p
}

// NetNSDirState says what ShareNetNSDir (or the first `ip netns add`)
// made of NetNSDir, for Release to undo.
type NetNSDirState struct {
	madeDir, mounted bool
}

// ShareNetNSDir makes NetNSDir what `ip netns add` makes of it the first
// time, a shared mount of itself, unless it is a mount already. A harness
// whose runtime mounts namespace files there (containerd's CRI) calls it
// before its first pod: ip's recursive bind of the directory onto itself,
// made later, would lay copies of those mounts over them, the runtime's
// unmount would take only the copy, and its unlink of the file would fail
// with EBUSY (the mount below is still there in its mount namespace).
func ShareNetNSDir() (NetNSDirState, error) {
	var st NetNSDirState
	if _, err := os.Stat(NetNSDir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(NetNSDir, 0o755); err != nil {
			return st, err
		}
		st.madeDir = true
	}
	if isMountPoint(NetNSDir) {
		return st, nil
	}
	if err := unix.Mount(NetNSDir, NetNSDir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return st, fmt.Errorf("bind %s onto itself: %w", NetNSDir, err)
	}
	st.mounted = true
	if err := unix.Mount("", NetNSDir, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return st, fmt.Errorf("make %s shared: %w", NetNSDir, err)
	}
	return st, nil
}

// Release undoes what the state says was made, once NetNSDir is empty:
// the node is left as it was.
func (st NetNSDirState) Release() {
	if !st.madeDir && !st.mounted {
		return
	}
	if ents, err := os.ReadDir(NetNSDir); err != nil || len(ents) > 0 {
		return
	}
	for st.mounted && isMountPoint(NetNSDir) {
		if unix.Unmount(NetNSDir, unix.MNT_DETACH) != nil {
			break
		}
	}
	if st.madeDir {
		_ = os.Remove(NetNSDir)
	}
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
