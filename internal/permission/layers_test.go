package permission

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A rootfs that is no longer mounted is walked in its layers as
// overlayfs looks names up: the topmost entry, whiteouts hide, a merged
// directory has its topmost directory's owner and mode.
func TestWalkLayers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the layers are root's, with a whiteout device")
	}
	// The directories above the mount point are walked too: the
	// container's root must be able to search them.
	top := t.TempDir()
	for _, d := range []string{filepath.Dir(top), top} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	upper, lower := filepath.Join(top, "upper"), filepath.Join(top, "lower")
	for _, d := range []string{upper, filepath.Join(lower, "etc"), filepath.Join(lower, "gone"), filepath.Join(top, "bundle", "rootfs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The container's root (host uid 100000) owns its copy of /tmp.
	if err := os.MkdirAll(filepath.Join(upper, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(upper, "tmp"), 100000, 100000); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(upper, "gone"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	point := filepath.Join(top, "bundle", "rootfs")
	l := &Layers{Point: point, Dirs: []string{upper, lower}}
	m := IDMap{{Inside: 0, Outside: 100000, Count: 65536}}
	c := &Creds{UID: 100000, GID: 100000, UIDMap: m, GIDMap: m}
	for _, tt := range []struct {
		path, at string
		why      string
	}{
		{"run", point, ""},              // the overlay's root is the upper's: 0:0
		{"etc/app", point + "/etc", ""}, // a lower directory, root's
		{"gone/x", "", "does not exist in the overlay's layers"},
		{"tmp/x", "", ""}, // its own directory: no refusal
	} {
		req := Request{Arg: "path", Path: filepath.Join(point, tt.path), Create: true}
		f, err := walkLayers(Root{Dir: "/"}, l, req, c, unix.EACCES)
		if tt.at != "" {
			if f == nil || f.Path != tt.at || f.Need != NeedWrite || f.OwnerMapped || !f.InLayers {
				t.Errorf("%s: finding %+v, %v; want %s refusing write, owner unmapped", tt.path, f, err, tt.at)
			}
			continue
		}
		var u *Unexplained
		if tt.why == "" && f == nil && err == nil {
			continue
		}
		if f != nil || !errors.As(err, &u) || tt.why == "" || !strings.Contains(u.Why, tt.why) {
			t.Errorf("%s: %+v, %v; want unexplained %q", tt.path, f, err, tt.why)
		}
	}
}
