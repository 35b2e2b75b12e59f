package netns

import (
	"os"
	"path/filepath"
	"testing"
)

// TestHostPath resolves links below the node's root as the node would:
// an absolute link (/var/run -> /run) stays inside the root, a relative
// one is taken from its directory, .. never climbs out of the root, and a
// loop ends.
func TestHostPath(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"run/netns", "var", "opt/cni/conf"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"var/run":      "/run",
		"etc":          "opt/cni/../cni",
		"opt/cni/net":  "conf",
		"opt/cni/file": "/run/netns/x",
		"loop":         "/loop",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ path, want, entry string }{
		{"/var/run/netns/cni-1", "/run/netns/cni-1", "/run/netns/cni-1"},
		{"/etc/net", "/opt/cni/conf", "/opt/cni/net"},
		{"/opt/cni/file", "/run/netns/x", "/opt/cni/file"},
		{"/../../var/run/netns", "/run/netns", "/run/netns"},
		{"/missing/dir/f", "/missing/dir/f", "/missing/dir/f"},
	} {
		if got := HostPath(root, c.path); got != root+c.want {
			t.Errorf("HostPath(%s) = %s, want %s", c.path, got, root+c.want)
		}
		if got := HostEntry(root, c.path); got != root+c.entry {
			t.Errorf("HostEntry(%s) = %s, want %s", c.path, got, root+c.entry)
		}
	}
	if got := HostPath(root, "/loop/x"); got == "" {
		t.Errorf("a loop gave no path")
	}
	if got := HostPath("", "/var/run/netns"); got != "/var/run/netns" {
		t.Errorf("on the node itself the path is unchanged: %s", got)
	}
}
