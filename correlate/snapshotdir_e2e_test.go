package correlate

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOverlayOverSnapshotLayer: a mounter in a user namespace (nobody, as
// unshare -Urm) builds an overlay over an image layer of the containerd
// snapshotter, as a rootless runtime or a user-namespaced snapshotter
// would; the snapshotter's own directory (0700, root) refuses it. ctrace
// names the refusing directory and, from containerd's snapshot service,
// the layer the lowerdir leads into: its key, kind and image, the same
// that `ctr snapshot mounts` and `ctr snapshot info` tell.
func TestOverlayOverSnapshotLayer(t *testing.T) {
	needE2E(t)
	for _, tool := range []string{"ctr", "unshare", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("no %s: build/deps.sh test installs it", tool)
		}
	}
	image, err := ctrd.ImportImage(ctx(t), "default")
	if err != nil {
		t.Fatal(err)
	}
	id := runPrefix + "-snapdir"
	ctr := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx(t), "ctr", append([]string{"--address", ctrd.Address, "--namespace", "default"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	ctr("container", "create", image, id, "/bin/true")
	t.Cleanup(func() {
		_ = exec.Command("ctr", "--address", ctrd.Address, "--namespace", "default", "container", "delete", id).Run()
	})
	// What containerd itself says: the overlay of the container's
	// snapshot, and which snapshot is its lower layer.
	mnt := ctr("snapshot", "mounts", "/mnt", id)
	_, lowers, ok := strings.Cut(mnt, "lowerdir=")
	if !ok {
		t.Fatalf("ctr snapshot mounts: no lowerdir in %q", mnt)
	}
	lower := strings.Fields(strings.Split(lowers, ",")[0])[0]
	lower = strings.Split(lower, ":")[0]
	var info struct{ Parent string }
	if err := json.Unmarshal([]byte(ctr("snapshot", "info", id)), &info); err != nil || info.Parent == "" {
		t.Fatalf("ctr snapshot info %s: %v (%+v)", id, err, info)
	}

	// The mounter's own upper and work directories, and the mount point.
	top := t.TempDir()
	for _, d := range []string{filepath.Dir(top), top} { // 0700 from t.TempDir
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var dirs []string
	for _, d := range []string{"upper", "work", "merged"} {
		p := filepath.Join(top, d)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, p)
	}
	cr := startCtrace(t, "--containerd-address", ctrd.Address, "--comm", "mount", "-e", "mount", "-o", "json")
	cr.waitStderr(t, "connected", 1)
	out, err := exec.CommandContext(ctx(t), "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"unshare", "-Urm", "mount", "-t", "overlay", "overlay",
		"-o", "lowerdir="+lower+",upperdir="+dirs[0]+",workdir="+dirs[1], dirs[2]).CombinedOutput()
	if err == nil {
		t.Fatalf("the overlay mount over %s succeeded as nobody: %s", lower, out)
	}
	t.Logf("mount: %v: %s", err, out)
	cr.waitEvent(t, "the overlay mount", func(e *jsonEvent) bool {
		return e.Syscall == "mount" && e.arg("target") == dirs[2]
	})
	if err := cr.stop(); err != nil {
		t.Fatalf("ctrace exit: %v\n%s", err, cr.stderrText())
	}
	// The first: mount(8) tries again read-only after the refusal.
	var line string
	for _, l := range cr.lines() {
		if strings.Contains(l, `"syscall":"mount"`) && strings.Contains(l, dirs[2]) {
			line = l
			break
		}
	}
	var e struct {
		Errno   string `json:"errno"`
		Reasons []struct {
			Kind, Path, Arg, Need string
			Snapshot              *struct {
				Snapshotter, Key, Kind, Container, Image, Of string
			}
		} `json:"reasons"`
		Hints []struct{ Rule, Text string } `json:"hints"`
	}
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	var found bool
	for _, r := range e.Reasons {
		if r.Kind != "permission" {
			continue
		}
		found = true
		if r.Arg != "lowerdir" || !strings.HasPrefix(lower, r.Path+"/") || r.Need != "search" {
			t.Errorf("permission reason %+v; want the search refused on the way to %s", r, lower)
		}
		if sn := r.Snapshot; sn == nil || sn.Snapshotter != "overlayfs" || sn.Key != info.Parent || sn.Kind != "committed" || sn.Image != image || sn.Of != "argument" {
			t.Errorf("snapshot %+v; want overlayfs %s, committed, of %s, the one the argument leads into", sn, info.Parent, image)
		}
	}
	if !found || e.Errno != "EACCES" {
		t.Fatalf("no permission reason on the EACCES mount: %s", line)
	}
	if len(e.Hints) != 1 || e.Hints[0].Rule != "overlay-lowerdir-unreadable" ||
		!strings.Contains(e.Hints[0].Text, "containerd's overlayfs snapshot "+info.Parent+" (committed of "+image+")") ||
		!strings.Contains(e.Hints[0].Text, "do not open its directories") {
		t.Errorf("hints %+v", e.Hints)
	}
}

// TestWriteIntoTaskRootfs: a host process (nobody) writes into a running
// container's rootfs through its task bundle, where the shim mounts the
// container's snapshot and runc init prepares the rootfs before it
// pivots. The permission reason names the container's snapshot: the
// component's own when it lies in the rootfs, else, marked "argument",
// the one the path leads into.
func TestWriteIntoTaskRootfs(t *testing.T) {
	needE2E(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatal("no setpriv (util-linux): build/deps.sh test installs it")
	}
	image, err := ctrd.ImportImage(ctx(t), "default")
	if err != nil {
		t.Fatal(err)
	}
	id := runPrefix + "-bundle"
	// Connected first: the bundle's rootfs is learnt from the task's
	// creation event.
	cr := startCtrace(t, "--containerd-address", ctrd.Address, "--comm", "touch", "-e", "openat", "-o", "json", "--explain")
	cr.waitStderr(t, "connected", 1)
	runDetached(t, image, id)
	rootfs := filepath.Join(ctrd.Dir, "state", taskBundles, "default", id, "rootfs")
	target := filepath.Join(rootfs, "etc", "ctrace-probe")
	if out, err := exec.CommandContext(ctx(t), "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"touch", target).CombinedOutput(); err == nil {
		t.Fatalf("nobody wrote %s: %s", target, out)
	}
	cr.waitEvent(t, "the write into the rootfs", func(e *jsonEvent) bool {
		return e.Syscall == "openat" && e.arg("path") == target
	})
	if err := cr.stop(); err != nil {
		t.Fatalf("ctrace exit: %v\n%s", err, cr.stderrText())
	}
	var line string
	for _, l := range cr.lines() {
		if strings.Contains(l, `"syscall":"openat"`) && strings.Contains(l, target) {
			line = l
			break
		}
	}
	var e struct {
		Reasons []struct {
			Kind, Path string
			Snapshot   *struct{ Snapshotter, Key, Kind, Container, Image, Of string }
		} `json:"reasons"`
	}
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	// Also the capability reasons of a DAC refusal on the host.
	var r *struct {
		Kind, Path string
		Snapshot   *struct{ Snapshotter, Key, Kind, Container, Image, Of string }
	}
	for i := range e.Reasons {
		if e.Reasons[i].Kind == "permission" {
			r = &e.Reasons[i]
		}
	}
	if r == nil {
		t.Fatalf("no permission reason: %s", line)
	}
	inRootfs := r.Path == rootfs || strings.HasPrefix(r.Path, rootfs+"/")
	wantOf := "argument"
	if inRootfs {
		wantOf = ""
	}
	if sn := r.Snapshot; sn == nil || sn.Key != id || sn.Kind != "active" || sn.Container != id || sn.Image != image || sn.Of != wantOf {
		t.Errorf("refused at %s: snapshot %+v; want the container's own, of %q", r.Path, sn, wantOf)
	}
	t.Logf("refused at %s", r.Path)
}

// TestRootfsOfListedTask: a container whose task was running before ctrace
// connected has no TaskCreate event to tell its bundle; the listing finds
// the task bundle's rootfs beside its shim's working directory, checked
// against the root of the task's process, so that a caller gone before
// the permission walk can still be looked at through its rootfs.
func TestRootfsOfListedTask(t *testing.T) {
	needE2E(t)
	image, err := ctrd.ImportImage(ctx(t), "default")
	if err != nil {
		t.Fatal(err)
	}
	id := runPrefix + "-listed"
	runDetached(t, image, id)
	r, err := Open(ctx(t), Options{Address: ctrd.Address, Grace: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.WaitConnected(ctx(t)) {
		t.Fatal("not connected")
	}
	want := filepath.Join(ctrd.Dir, "state", taskBundles, "default", id, "rootfs")
	for _, c := range r.Containers() {
		if c.ID != id {
			continue
		}
		if c.Rootfs != want {
			t.Errorf("rootfs %q, want %q", c.Rootfs, want)
		}
		if c.Snapshot == nil || c.Snapshot.Key != id {
			t.Errorf("snapshot %+v", c.Snapshot)
		}
		if got := r.SnapshotAt(filepath.Join(want, "etc")); got == nil || got.Key != id {
			t.Errorf("SnapshotAt(%s/etc) = %+v", want, got)
		}
		return
	}
	t.Fatalf("container %s not listed", id)
}

// runDetached starts a container of image that sleeps for a minute, as
// `ctr run -d`, and removes it when the test ends.
func runDetached(t *testing.T, image, id string) {
	t.Helper()
	ctr := func(args ...string) *exec.Cmd {
		return exec.Command("ctr", append([]string{"--address", ctrd.Address, "--namespace", "default"}, args...)...)
	}
	if out, err := ctr("run", "-d", image, id, "/bin/sleep", "60").CombinedOutput(); err != nil {
		t.Fatalf("ctr run: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_ = ctr("task", "kill", "-s", "KILL", id).Run()
		time.Sleep(200 * time.Millisecond)
		_ = ctr("task", "delete", "-f", id).Run()
		_ = ctr("container", "delete", id).Run()
	})
}
