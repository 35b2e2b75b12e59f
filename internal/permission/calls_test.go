package permission

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
	"github.com/ctrace-dev/ctrace/tracer"
)

// A re-exec of the test binary with callEnv set makes one call that the
// walk covers besides open (the value says which, "|"-separated), prints
// the errno (0 on success) and its pid, and stays until its stdin closes.
const callEnv = "PERMISSION_TEST_CALL"

// rounds is how often each call is made to fail and explained: a walk
// that races with the caller must be right every time, not most times.
const rounds = 20

func childCall(spec string) string {
	// Landlock and the thread's name are per thread: the call must run
	// on the thread they were set on.
	runtime.LockOSThread()
	f := strings.Split(spec, "|")
	err := func() error {
		if f[0] == "landlock" {
			if err := landlockNoRemovals(); err != nil {
				return fmt.Errorf("landlock: %w", err)
			}
			f = f[1:]
		}
		switch f[0] {
		case "umount2":
			return unix.Unmount(f[1], 0)
		case "open_tree":
			fd, err := unix.OpenTree(unix.AT_FDCWD, f[1], unix.OPEN_TREE_CLOEXEC)
			closeFD(fd)
			return err
		case "fspick":
			fd, err := unix.Fspick(unix.AT_FDCWD, f[1], unix.FSPICK_CLOEXEC)
			closeFD(fd)
			return err
		case "mount_setattr":
			return unix.MountSetattr(unix.AT_FDCWD, f[1], 0, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
		case "move_mount":
			return unix.MoveMount(unix.AT_FDCWD, f[1], unix.AT_FDCWD, f[2], 0)
		case "move_mount_fd":
			// A detached copy of f[1], attached at f[2]: the
			// source is the descriptor, no path.
			fd, err := unix.OpenTree(unix.AT_FDCWD, f[1], unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
			if err != nil {
				return fmt.Errorf("open_tree(OPEN_TREE_CLONE): %w", err)
			}
			defer closeFD(fd)
			return unix.MoveMount(fd, "", unix.AT_FDCWD, f[2], unix.MOVE_MOUNT_F_EMPTY_PATH)
		}
		// The removals are traced for container runtime processes only:
		// the thread takes runc init's name.
		name := []byte("runc:[2:INIT]\x00")
		if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0); err != nil {
			return fmt.Errorf("PR_SET_NAME: %w", err)
		}
		switch f[0] {
		case "rmdir", "unlink":
			nr, _ := tracer.SyscallNumber(f[0])
			p, err := unix.BytePtrFromString(f[1])
			if err != nil {
				return err
			}
			if _, _, e := unix.Syscall(uintptr(nr), uintptr(unsafe.Pointer(p)), 0, 0); e != 0 {
				return e
			}
			return nil
		case "unlinkat":
			// Relative to a descriptor of f[1].
			dfd, err := unix.Open(f[1], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open %s: %w", f[1], err)
			}
			defer closeFD(dfd)
			flags := 0
			if len(f) > 3 && f[3] == "AT_REMOVEDIR" {
				flags = unix.AT_REMOVEDIR
			}
			return unix.Unlinkat(dfd, f[2], flags)
		}
		return fmt.Errorf("unknown call %q", f[0])
	}()
	var errno unix.Errno
	if e, ok := err.(unix.Errno); ok {
		errno = e
	} else if err != nil {
		fmt.Fprintln(os.Stderr, err)
		errno = unix.EINVAL
	}
	return fmt.Sprintf("%d %d", errno, os.Getpid())
}

func closeFD(fd int) {
	if fd >= 0 {
		_ = unix.Close(fd)
	}
}

// landlockNoRemovals refuses the calling thread every removal of a file
// or directory (EACCES), whatever the permission bits say.
func landlockNoRemovals() error {
	attr := struct{ handledAccessFS uint64 }{unix.LANDLOCK_ACCESS_FS_REMOVE_FILE | unix.LANDLOCK_ACCESS_FS_REMOVE_DIR}
	fd, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0)
	if e != 0 {
		return fmt.Errorf("landlock_create_ruleset: %w", e)
	}
	defer closeFD(int(fd))
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_NO_NEW_PRIVS: %w", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); e != 0 {
		return fmt.Errorf("landlock_restrict_self: %w", e)
	}
	return nil
}

// traceCalls runs the real tracer on the calls the walk covers until the
// test ends, and returns a function that waits for the failed call of a
// pid.
func traceCalls(t *testing.T) func(pid int, syscall string) *tracer.Event {
	t.Helper()
	testenv.RequireRoot(t, "loads eBPF programs and runs callers as other users and in user namespaces")
	ops, err := tracer.ParseSyscalls([]string{"umount2", "open_tree", "fspick", "mount_setattr", "move_mount", "rmdir", "unlink", "unlinkat"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tracer.Open(tracer.Options{Syscalls: ops, Errnos: []unix.Errno{unix.EACCES, unix.EPERM}})
	if err != nil {
		t.Fatalf("tracer: %v", err)
	}
	var mu sync.Mutex
	evs := map[int][]*tracer.Event{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tr.Run(ctx, tracer.Sink{Event: func(ev *tracer.Event) {
			mu.Lock()
			evs[int(ev.Proc.PID)] = append(evs[int(ev.Proc.PID)], ev.Clone())
			mu.Unlock()
		}})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := tr.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return func(pid int, syscall string) *tracer.Event {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			for _, ev := range evs[pid] {
				if ev.Syscall == syscall {
					mu.Unlock()
					return ev
				}
			}
			mu.Unlock()
		}
		t.Fatalf("no failed %s from pid %d traced", syscall, pid)
		return nil
	}
}

// userNSMount is root of a new user namespace that maps host uid and gid
// 100000 and owns a new mount namespace, as unshare -Urm: it may use the
// mount API on its copy of the mounts, but the host's root-owned
// directories' owner is not mapped in it.
var userNSMount = &syscall.SysProcAttr{
	Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
	Credential:  &syscall.Credential{Uid: 0, Gid: 0},
	UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
	GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
}

// failCall runs a child that makes the call of spec under attr, and
// returns the tracer's event of it and the caller as ctrace's permission
// stage sees it through /proc, while the child still runs.
func failCall(t *testing.T, wait func(int, string) *tracer.Event, syscall, spec string, attr *syscall.SysProcAttr, want unix.Errno) (*tracer.Event, *Caller) {
	t.Helper()
	line, cmd := testenv.StartChild(t, callEnv, spec, attr)
	var e, pid int
	if _, err := fmt.Sscan(line, &e, &pid); err != nil {
		t.Fatalf("child said %q: %v", line, err)
	}
	if unix.Errno(e) != want {
		t.Fatalf("%s failed with %v, want %v", spec, unix.Errno(e), want)
	}
	ev := wait(cmd.Process.Pid, syscall)
	if ev.Errno != want {
		t.Fatalf("traced %s with %v, want %v", ev.Syscall, ev.Errno, want)
	}
	c, err := FromProc("/proc", ev)
	if err != nil {
		t.Fatalf("FromProc: %v", err)
	}
	return ev, c
}

// callTree is what the calls fail on: under top (0755, root's), closed
// (0700, root's) with a tmpfs mounted on closed/mnt and a directory
// closed/d; open (0755, root's) with a tmpfs on open/mnt, a directory
// open/d, a file open/f and an empty directory open/m2; mine (0755,
// nobody's) with a file and a directory.
type callTree struct{ top, closed, open, mine string }

func makeCallTree(t *testing.T) callTree {
	t.Helper()
	// tree checks that the temporary directory's parents let others
	// search; its own files are not used.
	tree(t, 0o755, 0o644)
	top := openTempDir(t)
	ct := callTree{top: top, closed: filepath.Join(top, "closed"), open: filepath.Join(top, "open"), mine: filepath.Join(top, "mine")}
	for _, d := range []string{"closed/mnt", "closed/d", "open/mnt", "open/d", "open/m2", "mine/d"} {
		if err := os.MkdirAll(filepath.Join(top, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"open/f", "mine/f"} {
		if err := os.WriteFile(filepath.Join(top, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{ct.mine, filepath.Join(ct.mine, "d"), filepath.Join(ct.mine, "f")} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []string{filepath.Join(ct.closed, "mnt"), filepath.Join(ct.open, "mnt")} {
		if err := unix.Mount("ctrace-test", m, "tmpfs", 0, ""); err != nil {
			t.Fatalf("mount tmpfs on %s: %v", m, err)
		}
		t.Cleanup(func() { _ = unix.Unmount(m, unix.MNT_DETACH) })
	}
	if err := os.Chmod(ct.closed, 0o700); err != nil {
		t.Fatal(err)
	}
	return ct
}

// callCase is one call that fails EACCES, and the reason it must get.
type callCase struct {
	syscall string
	spec    string
	attr    *syscall.SysProcAttr
	// The reason: the argument, the component, what it refused, its
	// mode (owner and group are root's), and whether root is mapped in
	// the caller's user namespace.
	arg, path   string
	need        Need
	mode        uint32
	ownerMapped bool
}

func (ct callTree) cases() []callCase {
	rel := func(p string) string { return strings.TrimPrefix(p, "/") } // the children run in /
	closedMnt := filepath.Join(ct.closed, "mnt")
	return []callCase{
		// Looked up before any capability check: nobody gets EACCES.
		{"umount2", "umount2|" + closedMnt, nobody, "target", ct.closed, NeedSearch, 0o700, true},
		{"open_tree", "open_tree|" + filepath.Join(ct.closed, "d"), nobody, "path", ct.closed, NeedSearch, 0o700, true},
		// may_mount first: root of a user namespace with its own mounts.
		{"fspick", "fspick|" + closedMnt, userNSMount, "path", ct.closed, NeedSearch, 0o700, false},
		{"mount_setattr", "mount_setattr|" + closedMnt, userNSMount, "path", ct.closed, NeedSearch, 0o700, false},
		{"move_mount", "move_mount|" + closedMnt + "|" + filepath.Join(ct.open, "m2"), userNSMount, "from_path", ct.closed, NeedSearch, 0o700, false},
		// A detached copy to a path relative to the working directory
		// (/): only to_path is looked up.
		{"move_mount", "move_mount_fd|" + filepath.Join(ct.open, "d") + "|" + rel(filepath.Join(ct.closed, "d")), userNSMount, "to_path", rel(ct.closed), NeedSearch, 0o700, false},
		// Removals: write on the directory; search on the way.
		{"rmdir", "rmdir|" + filepath.Join(ct.open, "d"), nobody, "path", ct.open, NeedWrite, 0o755, true},
		{"unlink", "unlink|" + filepath.Join(ct.open, "f"), userns, "path", ct.open, NeedWrite, 0o755, false},
		{"unlinkat", "unlinkat|" + ct.open + "|f", nobody, "path", ct.open, NeedWrite, 0o755, true},
		{"unlinkat", "unlinkat|" + ct.top + "|closed/d|AT_REMOVEDIR", nobody, "path", ct.closed, NeedSearch, 0o700, true},
	}
}

// TestCallsWalkedOnRealFailures: each call the walk covers beside open
// and exec fails EACCES for real, as nobody or as root of a user
// namespace that does not map root, under the real tracer; the reason
// names the component that refused, rounds times each.
func TestCallsWalkedOnRealFailures(t *testing.T) {
	wait := traceCalls(t)
	ct := makeCallTree(t)
	for _, cc := range ct.cases() {
		if _, ok := tracer.SyscallNumber(cc.syscall); !ok {
			t.Logf("%s: this architecture has no such syscall", cc.syscall)
			continue
		}
		t.Run(cc.syscall+"/"+cc.arg+"/"+string(cc.need), func(t *testing.T) {
			for i := range rounds {
				t.Run(fmt.Sprint(i), func(t *testing.T) {
					ev, c := failCall(t, wait, cc.syscall, cc.spec, cc.attr, unix.EACCES)
					r, why := Explain(ev, c)
					if r == nil {
						t.Fatalf("no reason: %s", why)
					}
					if r.Arg != cc.arg || r.Path != cc.path || Need(r.Need) != cc.need || r.OwnerUID != 0 || r.OwnerGID != 0 ||
						r.Mode != cc.mode || r.OwnerMapped != cc.ownerMapped {
						t.Errorf("reason %s %s %s %d:%d %04o owner mapped %v; want %s %s %s 0:0 %04o owner mapped %v",
							r.Arg, r.Path, r.Need, r.OwnerUID, r.OwnerGID, r.Mode, r.OwnerMapped,
							cc.arg, cc.path, cc.need, cc.mode, cc.ownerMapped)
					}
					if r.Via != ViaProc || r.Checked != CheckedAfter || r.CallerUID != ev.Proc.UID {
						t.Errorf("via %q checked %q caller uid %d", r.Via, r.Checked, r.CallerUID)
					}
					if i == 0 {
						t.Logf("%s", r.Text(ev))
					}
				})
			}
		})
	}
}

// TestCallsOtherCauseNoReason: the same errno with another cause gets no
// permission reason, never a wrong one: EACCES from an LSM (Landlock
// refusing removals) where the bits grant everything; EACCES whose
// component grants by the time the walk looks; EPERM of a removal in a
// sticky directory, which the bits do not decide alone.
func TestCallsOtherCauseNoReason(t *testing.T) {
	wait := traceCalls(t)
	ct := makeCallTree(t)

	t.Run("landlock", func(t *testing.T) {
		for _, c := range []struct{ syscall, spec string }{
			{"unlink", "landlock|unlink|" + filepath.Join(ct.mine, "f")},
			{"rmdir", "landlock|rmdir|" + filepath.Join(ct.mine, "d")},
			{"unlinkat", "landlock|unlinkat|" + ct.mine + "|f"},
		} {
			if _, ok := tracer.SyscallNumber(c.syscall); !ok {
				t.Logf("%s: this architecture has no such syscall", c.syscall)
				continue
			}
			ev, caller := failCall(t, wait, c.syscall, c.spec, nobody, unix.EACCES)
			if r, why := Explain(ev, caller); r != nil {
				t.Errorf("%s: reason %+v for an LSM's EACCES", c.syscall, r)
			} else if !strings.Contains(why, "grants") {
				t.Errorf("%s: no reason, but why %q", c.syscall, why)
			} else {
				t.Logf("%s: no reason: %s", c.syscall, why)
			}
		}
	})

	t.Run("granted by the time of the walk", func(t *testing.T) {
		for _, cc := range ct.cases() {
			if _, ok := tracer.SyscallNumber(cc.syscall); !ok || cc.need != NeedSearch {
				continue
			}
			t.Run(cc.syscall+"/"+cc.arg, func(t *testing.T) {
				ev, c := failCall(t, wait, cc.syscall, cc.spec, cc.attr, unix.EACCES)
				// Search and, for a removal, write.
				if err := os.Chmod(ct.closed, 0o777); err != nil {
					t.Fatal(err)
				}
				defer os.Chmod(ct.closed, 0o700)
				if r, why := Explain(ev, c); r != nil {
					t.Errorf("reason %+v though every component grants now", r)
				} else if !strings.Contains(why, "grants") {
					t.Errorf("no reason, but why %q", why)
				}
			})
		}
	})

	t.Run("sticky directory", func(t *testing.T) {
		sticky := filepath.Join(ct.top, "sticky")
		if err := os.Mkdir(sticky, 0o755); err != nil {
			t.Fatal(err)
		}
		// os.Chmod takes the sticky bit as os.ModeSticky, not 01000.
		if err := unix.Chmod(sticky, 0o1777); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(sticky, "f")
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ syscall, spec string }{
			{"unlink", "unlink|" + f},
			{"unlinkat", "unlinkat|" + sticky + "|f"},
		} {
			if _, ok := tracer.SyscallNumber(c.syscall); !ok {
				continue
			}
			ev, caller := failCall(t, wait, c.syscall, c.spec, nobody, unix.EPERM)
			if Explained(ev) {
				t.Errorf("%s: EPERM in a sticky directory taken for the walk", c.syscall)
			}
			if r, why := Explain(ev, caller); r != nil {
				t.Errorf("%s: reason %+v for EPERM", c.syscall, r)
			} else {
				t.Logf("%s: no reason: %s", c.syscall, why)
			}
		}
	})
}
