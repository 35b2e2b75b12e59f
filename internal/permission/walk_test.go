package permission

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
	"github.com/ctrace-dev/ctrace/tracer"
)

// A re-exec of the test binary with childEnv set is a caller: it opens
// the path with the flags, prints the errno (0 on success) and its pid,
// and stays until its stdin closes, so that the test can look at it
// through /proc as ctrace would.
const childEnv = "PERMISSION_TEST_OPEN"

func TestMain(m *testing.M) {
	testenv.ChildMain(childEnv, func(spec string) string {
		p, fl, _ := strings.Cut(spec, "|")
		flags, _ := strconv.Atoi(fl)
		var errno unix.Errno
		fd, err := unix.Open(p, flags, 0o644)
		if err != nil {
			errno = err.(unix.Errno)
		} else {
			_ = unix.Close(fd)
		}
		return fmt.Sprintf("%d %d", errno, os.Getpid())
	})
	testenv.ChildMain(callEnv, childCall)
	os.Exit(m.Run())
}

// caller runs a child that opens p with flags under attr and returns
// the errno it got and the child, which lives until the test ends.
func caller(t *testing.T, p string, flags int, attr *syscall.SysProcAttr) (unix.Errno, *exec.Cmd) {
	t.Helper()
	line, cmd := testenv.StartChild(t, childEnv, p+"|"+strconv.Itoa(flags), attr)
	var e, pid int
	if _, err := fmt.Sscan(line, &e, &pid); err != nil {
		t.Fatalf("child said %q: %v", line, err)
	}
	return unix.Errno(e), cmd
}

// eventOf is the event ctrace's tracer decodes for the child's failed
// openat(AT_FDCWD, p, flags).
func eventOf(t *testing.T, cmd *exec.Cmd, p string, flags int, errno unix.Errno) *tracer.Event {
	t.Helper()
	pid := cmd.Process.Pid
	var st unix.Stat_t
	ns := func(n string) uint32 {
		if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, n), &st); err != nil {
			t.Fatal(err)
		}
		return uint32(st.Ino)
	}
	var uid, gid uint32
	if err := unix.Stat(fmt.Sprintf("/proc/%d", pid), &st); err != nil {
		t.Fatal(err)
	}
	uid, gid = st.Uid, st.Gid
	return &tracer.Event{Syscall: "openat", Family: tracer.FamilyOpen, Errno: errno, Ret: -int64(errno),
		Proc: tracer.Proc{PID: uint32(pid), TID: uint32(pid), UID: uid, GID: gid, MntNS: ns("mnt"), UserNS: ns("user")},
		Args: []tracer.Arg{
			{Name: "dirfd", Kind: tracer.KindFD, Raw: atFDCWD},
			{Name: "path", Kind: tracer.KindString, Raw: 1, Str: p, Read: true},
			{Name: "flags", Kind: tracer.KindFlags, Raw: uint64(flags)},
		}}
}

var nobody = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}

// userns puts the child in a new user namespace whose root is host uid
// and gid 100000, as a container with --uidmap 0:100000:65536.
var userns = &syscall.SysProcAttr{
	Cloneflags: syscall.CLONE_NEWUSER,
	// Without setuid(0) inside, the child would keep host uid 0.
	Credential:  &syscall.Credential{Uid: 0, Gid: 0},
	UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
	GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
}

// tree makes a temporary tree owned by root: dir mode, and in it a file
// with mode.
func tree(t *testing.T, dirMode, fileMode os.FileMode) (dir, file string) {
	t.Helper()
	top := openTempDir(t)
	dir = filepath.Join(top, "d")
	file = filepath.Join(dir, "f")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("x"), fileMode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, fileMode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, dirMode); err != nil {
		t.Fatal(err)
	}
	// The test's temporary directory's parents must let nobody search.
	for p := filepath.Dir(top); p != "/"; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			t.Skipf("%s is not searchable by others; set TMPDIR elsewhere", p)
		}
	}
	return dir, file
}

func TestWalkRealCallers(t *testing.T) {
	testenv.RequireRoot(t, "runs callers as other users and in user namespaces")
	dir, file := tree(t, 0o755, 0o600)
	closed, closedFile := tree(t, 0o700, 0o644)
	roDir := openTempDir(t)
	if err := os.WriteFile(filepath.Join(roDir, "f"), []byte("x"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(roDir, roDir, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(roDir, unix.MNT_DETACH) })
	if err := unix.Mount("", roDir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(openTempDir(t), "link")
	if err := os.Symlink(closed, link); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		path  string
		flags int
		attr  *syscall.SysProcAttr
		errno unix.Errno
		want  *Finding // nil: no reason
	}{
		{"nobody reads a root 0600 file", file, unix.O_RDONLY, nobody, unix.EACCES,
			&Finding{Path: file, Need: NeedRead, Mode: 0o600, OwnerMapped: true, GroupMapped: true}},
		{"nobody searches a root 0700 dir", closedFile, unix.O_RDONLY, nobody, unix.EACCES,
			&Finding{Path: closed, Need: NeedSearch, Mode: 0o700, OwnerMapped: true, GroupMapped: true}},
		{"through a symbolic link", link + "/f", unix.O_RDONLY, nobody, unix.EACCES,
			&Finding{Path: closed, Need: NeedSearch, Mode: 0o700, OwnerMapped: true, GroupMapped: true}},
		{"nobody creates in a root 0755 dir", filepath.Join(dir, "new"), unix.O_WRONLY | unix.O_CREAT, nobody, unix.EACCES,
			&Finding{Path: dir, Need: NeedWrite, Mode: 0o755, OwnerMapped: true, GroupMapped: true}},
		{"root of a user namespace writes a file of an unmapped owner", file, unix.O_WRONLY, userns, unix.EACCES,
			&Finding{Path: file, Need: NeedWrite, Mode: 0o600}},
		{"root of a user namespace creates in a dir of an unmapped owner", filepath.Join(dir, "new"), unix.O_WRONLY | unix.O_CREAT, userns, unix.EACCES,
			&Finding{Path: dir, Need: NeedWrite, Mode: 0o755}},
		{"read-only bind mount", filepath.Join(roDir, "f"), unix.O_WRONLY, nil, unix.EROFS,
			&Finding{Path: filepath.Join(roDir, "f"), Need: NeedWrite, Mode: 0o644, OwnerMapped: true, GroupMapped: true, MountRO: true}},
		// Negative controls: the call succeeds, so nothing refused it.
		{"nobody reads a 0644 file", closedFile, unix.O_RDONLY, nil, 0, nil},
		{"root of a user namespace reads a 0644 file", filepath.Join(roDir, "f"), unix.O_RDONLY, userns, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errno, cmd := caller(t, tt.path, tt.flags, tt.attr)
			if errno != tt.errno {
				t.Fatalf("the call failed with %v, want %v", errno, tt.errno)
			}
			asked := errno
			if asked == 0 {
				asked = unix.EACCES // would a walk blame anything?
			}
			ev := eventOf(t, cmd, tt.path, tt.flags, asked)
			c, err := FromProc("/proc", ev)
			if err != nil {
				t.Fatalf("FromProc: %v", err)
			}
			r, why := Explain(ev, c)
			if tt.want == nil {
				if r != nil {
					t.Fatalf("reason %+v for a call that succeeded", r)
				}
				t.Logf("no reason: %s", why)
				return
			}
			if r == nil {
				t.Fatalf("no reason: %s", why)
			}
			got := Finding{Path: r.Path, Need: Need(r.Need), OwnerUID: r.OwnerUID, OwnerGID: r.OwnerGID, Mode: r.Mode,
				OwnerMapped: r.OwnerMapped, GroupMapped: tt.want.GroupMapped, MountRO: r.MountRO}
			if got != *tt.want {
				t.Errorf("got  %+v\nwant %+v", got, *tt.want)
			}
			if r.Checked != CheckedAfter || r.Via != ViaProc || r.CallerUID != ev.Proc.UID {
				t.Errorf("checked %q via %q caller uid %d", r.Checked, r.Via, r.CallerUID)
			}
			if tt.attr == userns && (r.CallerUIDMap.String() != "0 100000 65536" || r.CallerUserNS != ev.Proc.UserNS) {
				t.Errorf("caller uid map %q in %d", r.CallerUIDMap, r.CallerUserNS)
			}
		})
	}
}

// A caller that is gone leaves only the event: the rootfs stands for its
// root, and what the event cannot tell is not guessed.
func TestWalkGoneCaller(t *testing.T) {
	testenv.RequireRoot(t, "makes root-owned trees")
	dir, file := tree(t, 0o750, 0o644)
	rootfs := filepath.Dir(dir)
	view := "/" + filepath.Base(dir)
	ev := &tracer.Event{Syscall: "openat", Errno: unix.EACCES, Proc: tracer.Proc{UID: 1000, GID: 1000, UserNS: InitUserNS},
		Args: []tracer.Arg{
			{Name: "dirfd", Kind: tracer.KindFD, Raw: atFDCWD},
			{Name: "path", Kind: tracer.KindString, Raw: 1, Str: view + "/" + filepath.Base(file), Read: true},
			{Name: "flags", Kind: tracer.KindFlags, Raw: unix.O_RDONLY},
		}}
	// 0750: the group may search, others may not; whether uid 1000 is in
	// group 0 is not known.
	r, why := Explain(ev, FromRootfs(rootfs, ev, nil, nil))
	if r != nil || !strings.Contains(why, "supplementary groups") {
		t.Fatalf("reason %+v (%s); want none for unknown groups", r, why)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	r, why = Explain(ev, FromRootfs(rootfs, ev, nil, nil))
	if r == nil {
		t.Fatalf("no reason: %s", why)
	}
	if r.Path != view || r.Need != "search" || r.Via != ViaContainerRootfs {
		t.Errorf("reason %+v", r)
	}
	// Root in the initial namespace, not the owner: its capabilities
	// decide, and they are not known.
	if err := os.Chown(dir, 1, 1); err != nil {
		t.Fatal(err)
	}
	ev.Proc.UID, ev.Proc.GID = 0, 0
	if r, why = Explain(ev, FromRootfs(rootfs, ev, nil, nil)); r != nil || !strings.Contains(why, "capabilities are not known") {
		t.Errorf("reason %+v for root with unknown capabilities", r)
	} else {
		t.Logf("no reason: %s", why)
	}
	// Root of a user namespace whose map leaves the owner out: no
	// capability would help.
	if err := os.Chown(dir, 0, 0); err != nil {
		t.Fatal(err)
	}
	ev.Proc.UID, ev.Proc.GID = 100000, 100000
	m, _ := ParseIDMap("0 100000 65536")
	r, why = Explain(ev, FromRootfs(rootfs, ev, m, m))
	if r == nil || r.OwnerMapped || r.CallerUIDMap.String() != "0 100000 65536" {
		t.Fatalf("reason %+v (%s)", r, why)
	}
}

func TestWalkNotPermissionErrors(t *testing.T) {
	ev := &tracer.Event{Syscall: "open", Errno: unix.ENOENT, Args: []tracer.Arg{{Name: "path", Kind: tracer.KindString, Raw: 1, Str: "/x", Read: true}}}
	_, err := Walk(Root{Dir: "/"}, Request{Path: "/x"}, &Creds{}, unix.EPERM)
	var u *Unexplained
	if !errors.As(err, &u) || !strings.Contains(u.Why, "EPERM") {
		t.Errorf("EPERM: %v", err)
	}
	if Explained(ev) {
		t.Error("ENOENT explained")
	}
}

// atFDCWD is AT_FDCWD as the register holds it.
var atFDCWD = func() uint64 { v := int32(unix.AT_FDCWD); return uint64(uint32(v)) }()

// openTempDir is a temporary directory others may search (t.TempDir's
// parent is 0700), removed when the test ends.
func openTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ctrace-permission-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// A caller with the host's view names the snapshot behind a path: the
// refusing component's own, or, when the component is a directory above
// the path (the snapshotter's 0700 root), the snapshot the path leads
// into; never one the path does not reach.
func TestSnapshotOfFinding(t *testing.T) {
	testenv.RequireRoot(t, "makes root-owned trees")
	top := t.TempDir()
	snaps := filepath.Join(top, "snapshots")
	layer := filepath.Join(snaps, "5")
	if err := os.MkdirAll(filepath.Join(layer, "fs", "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(top, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	// t.TempDir's directories are 0700: open them to others.
	for _, d := range []string{filepath.Dir(top), top} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sn := &tracer.Snapshot{Key: "sha256:aaa", Kind: "committed"}
	at := func(p string) *tracer.Snapshot {
		if p == layer || strings.HasPrefix(p, layer+"/") {
			return sn
		}
		return nil
	}
	open := func(p string) *tracer.Event {
		return &tracer.Event{Syscall: "openat", Errno: unix.EACCES, Proc: tracer.Proc{UID: 1000, GID: 1000, UserNS: InitUserNS},
			Args: []tracer.Arg{
				{Name: "dirfd", Kind: tracer.KindFD, Raw: atFDCWD},
				{Name: "path", Kind: tracer.KindString, Raw: 1, Str: p, Read: true},
				{Name: "flags", Kind: tracer.KindFlags, Raw: unix.O_RDONLY},
			}}
	}
	for _, tt := range []struct {
		name   string
		closed string // the directory made 0700
		path   string
		want   *tracer.Snapshot
	}{
		{"component in the snapshot", filepath.Join(layer, "fs", "etc"), filepath.Join(layer, "fs", "etc", "x"), sn},
		{"component above it", snaps, filepath.Join(layer, "fs", "etc"), sn},
		{"path elsewhere", other, filepath.Join(other, "x"), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.Chmod(tt.closed, 0o700); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(tt.closed, 0o755)
			c := FromRootfs("/", open(tt.path), nil, nil)
			c.SnapshotAt = at
			r, why := Explain(open(tt.path), c)
			if r == nil {
				t.Fatalf("no reason: %s", why)
			}
			if r.Path != tt.closed || r.Snapshot != tt.want {
				t.Errorf("reason at %s, snapshot %+v; want %s, %+v", r.Path, r.Snapshot, tt.closed, tt.want)
			}
		})
	}
}
