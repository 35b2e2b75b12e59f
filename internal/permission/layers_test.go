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

// Layers.Open finds what the mounted overlay would have: the same layers
// are mounted for real, and each path is opened both ways, in the mount
// as under the caller's root (RESOLVE_IN_ROOT) and through the layers.
func TestLayersOpen(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: an overlay mount, a whiteout device, an opaque directory")
	}
	top := t.TempDir()
	upper, lower, work, merged := filepath.Join(top, "upper"), filepath.Join(top, "lower"), filepath.Join(top, "work"), filepath.Join(top, "merged")
	write := func(p, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, p string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	write(lower+"/lib/ld.so", "loader")
	write(lower+"/lib/gone", "whited out")
	write(lower+"/etc/opaque/a", "hidden by the opaque directory above")
	write(lower+"/etc/keep/b", "lower b")
	write(lower+"/bin/sh", "lower sh")
	link("/lib", lower+"/lib64")
	link("../lib", lower+"/usr/lib")
	link("loop", lower+"/x/loop")
	link("/../../lib/ld.so", lower+"/x/up")
	write(upper+"/etc/opaque/c", "upper c")
	write(upper+"/etc/keep/d", "upper d")
	write(upper+"/bin/sh", "upper sh")
	link("ld.so", upper+"/lib/via-upper")
	if err := unix.Mknod(upper+"/lib/gone", unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(upper+"/etc/opaque", overlayOpaque, []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mount("overlay", merged, "overlay", 0, "lowerdir="+lower+",upperdir="+upper+",workdir="+work); err != nil {
		t.Skipf("cannot mount an overlay here: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(merged, unix.MNT_DETACH) })
	rootFD, err := unix.Open(merged, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rootFD)
	read := func(fd int, err error) (string, error) {
		if err != nil {
			return "", err
		}
		defer unix.Close(fd)
		b := make([]byte, 64)
		n, err := unix.Read(fd, b)
		if err != nil {
			return "", err
		}
		return string(b[:n]), nil
	}
	l := &Layers{Point: "/", Dirs: []string{upper, lower}}
	for _, p := range []string{"/lib/ld.so", "/lib64/ld.so", "/usr/lib/ld.so", "/lib/via-upper", "/lib/gone", "/etc/opaque/a",
		"/etc/opaque/c", "/etc/keep/b", "/etc/keep/d", "/bin/sh", "/../lib/ld.so", "/lib/../lib64/ld.so", "/x/up",
		"/x/loop", "/lib/ld.so/x", "/missing", "/lib64/missing"} {
		want, werr := read(unix.Openat2(rootFD, p, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT}))
		got, gerr := read(l.Open(p, unix.O_RDONLY))
		var wantErrno unix.Errno
		if werr != nil && !errors.As(werr, &wantErrno) {
			t.Fatalf("%s in the mount: %v", p, werr)
		}
		if got != want || (werr == nil) != (gerr == nil) || (werr != nil && !errors.Is(gerr, wantErrno)) {
			t.Errorf("%s: through the layers %q, %v; in the mount %q, %v", p, got, gerr, want, werr)
		}
	}
	// A layer removed (its snapshot collected) leaves nothing known,
	// not even that a name is missing.
	if _, err := (&Layers{Point: "/", Dirs: []string{upper, filepath.Join(top, "collected")}}).Open("/bin/sh", unix.O_PATH); !errors.Is(err, ErrLayerGone) || errors.Is(err, unix.ENOENT) {
		t.Errorf("a layer gone: %v, want ErrLayerGone and not ENOENT", err)
	}
	// Mounted elsewhere than at the caller's root, the layers hold
	// nothing beyond the mount point: a lookup that leaves it fails.
	l.Point = "/run/bundle/rootfs"
	for p, want := range map[string]error{"/run/bundle/rootfs/usr/lib/ld.so": nil, "/run/bundle/rootfs/lib64/ld.so": unix.EXDEV,
		"/run/bundle/rootfs/../x": unix.EXDEV, "/run/bundle/other": unix.EXDEV} {
		fd, err := l.Open(p, unix.O_PATH)
		if err == nil {
			unix.Close(fd)
		}
		if (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
			t.Errorf("%s at %s: %v, want %v", p, l.Point, err, want)
		}
	}
}
