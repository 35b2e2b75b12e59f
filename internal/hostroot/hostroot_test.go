package hostroot

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeHost builds a host root the way a debug pod sees the node: the real
// /proc and /sys bind-mounted under it, and a containerd socket at the
// k3s path.
func fakeHost(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("bind mounts need root")
		}
		t.Skip("bind mounts need root")
	}
	root := t.TempDir()
	for _, d := range []string{"proc", "sys", "run/k3s/containerd"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"proc", "sys"} {
		target := filepath.Join(root, d)
		if err := unix.Mount("/"+d, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			t.Fatalf("bind /%s: %v", d, err)
		}
		t.Cleanup(func() { _ = unix.Unmount(target, unix.MNT_DETACH) })
	}
	ln, err := net.Listen("unix", filepath.Join(root, "run/k3s/containerd/containerd.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return root
}

var sockets = []string{"/run/containerd/containerd.sock", "/run/k3s/containerd/containerd.sock"}

func TestFakeHostRoot(t *testing.T) {
	root := fakeHost(t)
	r, err := Resolve(root, sockets)
	if err != nil {
		t.Fatal(err)
	}
	if r.Path != root || r.How != "flag" || r.OnHost() {
		t.Errorf("path %s how %q", r.Path, r.How)
	}
	if r.Proc != filepath.Join(root, "proc") {
		t.Errorf("proc %s", r.Proc)
	}
	if want := filepath.Join(root, "run/k3s/containerd/containerd.sock"); r.Containerd != want {
		t.Errorf("containerd %q, want the k3s socket %s", r.Containerd, want)
	}
	if !strings.HasPrefix(r.Cgroup, filepath.Join(root, "sys/fs/cgroup")) || !isCgroup2(r.Cgroup) {
		t.Errorf("cgroup %q: not the cgroup v2 hierarchy under the host root", r.Cgroup)
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err == nil {
		if !r.BTFUsable || r.BTF != "/sys/kernel/btf/vmlinux" || r.CheckBTF() != nil {
			t.Errorf("btf %q usable %v: %v", r.BTF, r.BTFUsable, r.CheckBTF())
		}
	}
	if got, want := r.Join("/run/x"), filepath.Join(root, "run/x"); got != want {
		t.Errorf("Join %s, want %s", got, want)
	}
	// The bind-mounted /proc is this machine's: ctrace is in pid 1's
	// mount namespace when the test is (both readable).
	if self, err1 := os.Readlink("/proc/self/ns/mnt"); err1 == nil {
		if init, err2 := os.Readlink("/proc/1/ns/mnt"); err2 == nil {
			if !r.MountNSKnown || r.SameMountNS != (self == init) {
				t.Errorf("mount namespace known %v same %v; self %s, pid 1 %s", r.MountNSKnown, r.SameMountNS, self, init)
			}
		}
	}
	if !strings.Contains(r.Summary(), "containerd "+r.Containerd) {
		t.Errorf("summary %q", r.Summary())
	}
}

func TestHostRootFlags(t *testing.T) {
	r, err := Resolve("/", sockets)
	if err != nil || !r.OnHost() || r.Proc != "/proc" || r.Join("/run/x") != "/run/x" {
		t.Errorf("--host-root /: %+v %v", r, err)
	}
	if _, err := Resolve("/nonexistent-host-root", sockets); err == nil {
		t.Error("a missing --host-root was accepted")
	}
	// Detection looks at /host only; this machine has none.
	if _, err := os.Stat(DefaultMount); err != nil {
		r, err := Resolve("", sockets)
		if err != nil || !r.OnHost() {
			t.Errorf("detected %+v %v without %s", r, err, DefaultMount)
		}
	}
}
