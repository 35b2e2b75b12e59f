package mountref

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// mountTmpfs mounts a tmpfs on dir, made shared if asked, and unmounts it
// when the test ends.
func mountTmpfs(t *testing.T, dir string, shared bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("ctrace-mountref", dir, "tmpfs", 0, ""); err != nil {
		t.Fatalf("mount %s: %v", dir, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	if shared {
		if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
			t.Fatalf("make %s shared: %v", dir, err)
		}
	}
}

func mntNS(t *testing.T, pid int) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(pid)+"/ns/mnt", &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// sleeper starts sleep in dir, through unshare -m with the given
// propagation unless it is "", and returns its pid once it runs sleep
// (and so is in its namespace); it is killed when the test ends.
func sleeper(t *testing.T, dir, propagation string) int {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if propagation != "" {
		cmd = exec.Command("unshare", "-m", "--propagation", propagation, "sleep", "600")
	}
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if c, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); string(c) == "sleep\n" {
			return pid
		}
	}
	t.Fatalf("sleep in %s (propagation %q) did not start", dir, propagation)
	return 0
}

// TestHoldersAndCopies: a tmpfs on a directory of a shared tmpfs, a
// process whose working directory is on it, and two mount namespaces made
// after it: a private one, whose process is in its copy of the directory,
// and a slave one. The holder scan finds each process on the mount or the
// copy it is on, by mount id; the private copy is not Propagated, the
// slave one is, as an unmount of the original reaches only that one.
func TestHoldersAndCopies(t *testing.T) {
	testenv.RequireRoot(t, "mounting a tmpfs and unshare -m")
	top := t.TempDir()
	mountTmpfs(t, top, true)
	dir := filepath.Join(top, "m")
	mountTmpfs(t, dir, false)
	id, err := ID(unix.AT_FDCWD, dir, true)
	if err != nil {
		t.Fatal(err)
	}
	self := mntNS(t, os.Getpid())
	cwd := sleeper(t, dir, "")
	private := sleeper(t, dir, "private")
	slave := sleeper(t, "/", "slave")
	privateNS, slaveNS := mntNS(t, private), mntNS(t, slave)
	if privateNS == self || slaveNS == self || privateNS == slaveNS {
		t.Fatalf("mount namespaces: this one %d, private %d, slave %d", self, privateNS, slaveNS)
	}

	tables, err := ReadTables("/proc")
	if err != nil {
		t.Fatal(err)
	}
	m, ns, ok := tables.Find(id)
	if !ok || ns.Inode != self || m.Point != dir || m.FSType != "tmpfs" || m.Source != "ctrace-mountref" {
		t.Fatalf("Find(%d): %+v in %+v (%v), want the tmpfs on %s in mnt:[%d]", id, m, ns, ok, dir, self)
	}
	parent, _, ok := tables.Find(m.Parent)
	if !ok || parent.Point != top || parent.Shared == 0 {
		t.Fatalf("parent of %s: %+v, want %s, shared", dir, parent, top)
	}
	if n := tables.Namespace(privateNS); n == nil || !hasProc(n.Procs, private) {
		t.Fatalf("Namespace(%d) = %+v, want pid %d (sleep) in it", privateNS, n, private)
	}

	copies := map[uint64]Copy{}
	for _, c := range tables.Copies(m) {
		if c.Mount.Point == dir {
			copies[c.NS.Inode] = c
		}
	}
	pc, ok := copies[privateNS]
	if !ok || pc.Propagated {
		t.Errorf("the private namespace's copy: %+v (%v), want one, not Propagated", pc, ok)
	}
	if sc, ok := copies[slaveNS]; !ok || !sc.Propagated {
		t.Errorf("the slave namespace's copy: %+v (%v), want one, Propagated", sc, ok)
	}

	for _, tc := range []struct {
		name  string
		id    int
		pid   int
		ns    uint64
		other []int
	}{
		{name: "the original", id: id, pid: cwd, ns: self, other: []int{private, slave}},
		{name: "the private copy", id: pc.Mount.ID, pid: private, ns: privateNS, other: []int{cwd, slave}},
	} {
		hs, _ := Holders("/proc", map[int]bool{tc.id: true}, 1<<20)
		var got *Holder
		for i, h := range hs {
			if h.PID == tc.pid {
				got = &hs[i]
			}
			for _, o := range tc.other {
				if h.PID == o {
					t.Errorf("%s (mount %d): pid %d holds it: %+v", tc.name, tc.id, o, h)
				}
			}
		}
		want := Holder{Process: Process{PID: tc.pid, Comm: "sleep"}, MountNS: tc.ns, MountID: tc.id, How: "cwd", Path: dir}
		if got == nil || *got != want {
			t.Errorf("%s (mount %d): holders %+v, want %+v", tc.name, tc.id, hs, want)
		}
	}
}

func hasProc(ps []Process, pid int) bool {
	for _, p := range ps {
		if p.PID == pid && p.Comm == "sleep" {
			return true
		}
	}
	return false
}
