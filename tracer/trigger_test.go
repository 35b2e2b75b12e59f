package tracer

// Triggers: each makes one traced syscall fail in a known, harmless way.
// They run in a child process (the test binary re-executed with
// CTRACE_TRIGGER set), so that the tracer sees a process other than
// itself and the test can match events by that child's pid.

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

const triggerEnv = "CTRACE_TRIGGER"

// triggerDirEnv names a scratch directory the parent made for the trigger.
const triggerDirEnv = "CTRACE_TRIGGER_DIR"

// triggers maps a name to the failing call it makes. Each returns the
// error the call failed with, which the child prints for the parent.
var triggers = map[string]func(dir string) error{
	"mount_missing_target": func(string) error {
		return unix.Mount("none", "/nonexistent/ctrace-target", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=1m,mode=0755")
	},
	"mount_bad_option": func(dir string) error {
		return unix.Mount("tmpfs", dir, "tmpfs", 0, "size=bogus")
	},
	"umount2_not_mount": func(dir string) error {
		return unix.Unmount(dir, unix.MNT_DETACH)
	},
	"fsopen_unknown": func(string) error {
		_, err := unix.Fsopen("ctrace-nofs", unix.FSOPEN_CLOEXEC)
		return err
	},
	"fsconfig_bad_key": func(string) error {
		fd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
		if err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		return unix.FsconfigSetString(fd, "ctrace-nokey", "1")
	},
	"fsmount_not_created": func(string) error {
		fd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
		if err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		// FSCONFIG_CMD_CREATE was never issued.
		_, err = unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY)
		return err
	},
	"fspick_missing": func(string) error {
		_, err := unix.Fspick(unix.AT_FDCWD, "/nonexistent/ctrace-pick", unix.FSPICK_CLOEXEC)
		return err
	},
	"move_mount_bad_fd": func(string) error {
		return unix.MoveMount(987, "", unix.AT_FDCWD, "/", unix.MOVE_MOUNT_F_EMPTY_PATH)
	},
	"open_tree_missing": func(string) error {
		_, err := unix.OpenTree(unix.AT_FDCWD, "/nonexistent/ctrace-tree", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		return err
	},
	"mount_setattr_bad_flags": func(string) error {
		attr := unix.MountAttr{Attr_set: 1 << 30}
		return unix.MountSetattr(unix.AT_FDCWD, "/", 0, &attr)
	},
	"pivot_root_same_mount": func(dir string) error {
		// The child runs in a mount namespace of its own (see startTrigger).
		// The new root is no mount point of its own: EBUSY.
		old := filepath.Join(dir, "old")
		if err := os.Mkdir(old, 0o755); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		return unix.PivotRoot(dir, old)
	},
	"chroot_missing": func(string) error {
		return unix.Chroot("/nonexistent/ctrace-root")
	},
	"open_missing": func(string) error {
		p, _ := unix.BytePtrFromString("/nonexistent/ctrace-open")
		_, _, e := unix.Syscall(sysOpen, uintptr(unsafe.Pointer(p)), unix.O_RDONLY, 0)
		return errnoErr(e)
	},
	"openat_missing": func(string) error {
		_, err := unix.Openat(unix.AT_FDCWD, "/nonexistent/ctrace/config.yaml", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		return err
	},
	"openat_dirfd": func(dir string) error {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		_, err = unix.Openat(fd, "work", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o640)
		return err
	},
	"openat2_beneath": func(dir string) error {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		_, err = unix.Openat2(fd, "../../etc/passwd", &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH})
		return err
	},
	"setns_not_ns": func(string) error {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0)
		if err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		return unix.Setns(fd, unix.CLONE_NEWNET)
	},
	"setns_netns_wrong_type": func(string) error {
		fd, err := unix.Open("/proc/self/ns/net", unix.O_RDONLY, 0)
		if err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		return unix.Setns(fd, unix.CLONE_NEWUTS)
	},
	"unshare_unprivileged": func(string) error {
		if err := dropToNobody(); err != nil {
			return err
		}
		return unix.Unshare(unix.CLONE_NEWNS)
	},
	"clone_bad_flags": func(string) error {
		// CLONE_THREAD needs CLONE_SIGHAND: EINVAL before any process exists.
		_, _, e := unix.RawSyscall6(unix.SYS_CLONE, unix.CLONE_THREAD, 0, 0, 0, 0, 0)
		return errnoErr(e)
	},
	"clone3_bad_flags": func(string) error {
		// struct clone_args, CLONE_ARGS_SIZE_VER0 (include/uapi/linux/sched.h)
		var args struct{ flags, pidfd, childTID, parentTID, exitSignal, stack, stackSize, tls uint64 }
		// A new mount namespace cannot share its filesystem information.
		args.flags, args.exitSignal = unix.CLONE_NEWNS|unix.CLONE_FS, uint64(unix.SIGCHLD)
		_, _, e := unix.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args), 0)
		return errnoErr(e)
	},
	"execve_not_executable": func(dir string) error {
		p := filepath.Join(dir, "script")
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o644); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		return syscall.Exec(p, []string{"script", "--flag", "two words"}, []string{"A=1"})
	},
	"execveat_missing": func(dir string) error {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		argvp, _ := syscall.SlicePtrFromStrings([]string{"missing", "x"})
		path, _ := unix.BytePtrFromString("missing")
		envp := []*byte{nil}
		_, _, e := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(path)),
			uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])), unix.AT_SYMLINK_NOFOLLOW, 0)
		return errnoErr(e)
	},
	"openat_ok": func(string) error {
		fd, err := unix.Openat(unix.AT_FDCWD, "/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	},
	// exec_from_thread execs a shell from a thread that is not the
	// process's leader, as Go programs (runc among them) may; the
	// shell's child then fails an openat. The process lives on in the
	// new image: following it must not stop when its old leader exits.
	"exec_from_thread": func(string) error {
		runtime.LockOSThread() // keep main on the leader thread
		errc := make(chan error)
		go func() {
			runtime.LockOSThread()
			if unix.Gettid() == unix.Getpid() {
				errc <- fmt.Errorf("setup: exec would run on the leader thread")
				return
			}
			errc <- syscall.Exec("/bin/sh", []string{"sh", "-c", "cat /nonexistent/ctrace-after-thread-exec 2>/dev/null; true"}, nil)
		}()
		return <-errc
	},
	// burst makes CTRACE_BURST failing openat calls as fast as it can.
	"burst": func(string) error {
		var n int
		fmt.Sscan(os.Getenv("CTRACE_BURST"), &n)
		for i := 0; i < n; i++ {
			unix.Openat(unix.AT_FDCWD, "/nonexistent/ctrace-burst", unix.O_RDONLY, 0)
		}
		return nil
	},
	// CTRACE_STORM_THREADS threads, each making CTRACE_BURST failing
	// openat of CTRACE_STORM_PATH in a row, or of each of the paths
	// CTRACE_STORM_PATH/0 ... /(CTRACE_STORM_DISTINCT-1) in turn.
	"storm": func(string) error {
		var n, threads, distinct int
		fmt.Sscan(os.Getenv("CTRACE_BURST"), &n)
		fmt.Sscan(os.Getenv("CTRACE_STORM_THREADS"), &threads)
		fmt.Sscan(os.Getenv("CTRACE_STORM_DISTINCT"), &distinct)
		paths := []string{os.Getenv("CTRACE_STORM_PATH")}
		if distinct > 0 {
			paths = paths[:0]
			for i := range distinct {
				paths = append(paths, fmt.Sprintf("%s/%d", os.Getenv("CTRACE_STORM_PATH"), i))
			}
		}
		var wg sync.WaitGroup
		for range max(threads, 1) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				for _, p := range paths {
					for range n {
						unix.Openat(unix.AT_FDCWD, p, unix.O_RDONLY, 0)
					}
				}
			}()
		}
		wg.Wait()
		return nil
	},
}

// syscallCase is what a trigger's event must show (TestSyscallFailures):
// every traced syscall has at least one.
type syscallCase struct {
	trigger string
	syscall string
	errno   unix.Errno
	// args maps an argument name to its strace rendering; $DIR stands
	// for the trigger's scratch directory, and a value starting with ~
	// only needs to be contained in the rendering.
	args map[string]string
	uid  uint32
	comm string // when not the test binary's
}

var syscallCases = []syscallCase{
	{"mount_missing_target", "mount", unix.ENOENT, map[string]string{
		"source": `"none"`, "target": `"/nonexistent/ctrace-target"`, "fstype": `"tmpfs"`,
		"flags": "MS_NOSUID|MS_NODEV", "data": `"size=1m,mode=0755"`}, 0, ""},
	{"mount_bad_option", "mount", unix.EINVAL, map[string]string{
		"source": `"tmpfs"`, "target": `"$DIR"`, "fstype": `"tmpfs"`, "flags": "0", "data": `"size=bogus"`}, 0, ""},
	{"umount2_not_mount", "umount2", unix.EINVAL, map[string]string{"target": `"$DIR"`, "flags": "MNT_DETACH"}, 0, ""},
	{"fsopen_unknown", "fsopen", unix.ENODEV, map[string]string{"fsname": `"ctrace-nofs"`, "flags": "FSOPEN_CLOEXEC"}, 0, ""},
	{"fsconfig_bad_key", "fsconfig", unix.EINVAL, map[string]string{
		"fd": "~<anon_inode:[fscontext]>", "cmd": "FSCONFIG_SET_STRING", "key": `"ctrace-nokey"`, "value": `"1"`}, 0, ""},
	{"fsmount_not_created", "fsmount", unix.EINVAL, map[string]string{
		"fs_fd": "~<anon_inode:[fscontext]>", "flags": "FSMOUNT_CLOEXEC", "attr_flags": "MOUNT_ATTR_RDONLY"}, 0, ""},
	{"fspick_missing", "fspick", unix.ENOENT, map[string]string{
		"dirfd": "AT_FDCWD", "path": `"/nonexistent/ctrace-pick"`, "flags": "FSPICK_CLOEXEC"}, 0, ""},
	{"move_mount_bad_fd", "move_mount", unix.EBADF, map[string]string{
		"from_dirfd": "987", "from_path": `""`, "to_dirfd": "AT_FDCWD", "to_path": `"/"`,
		"flags": "MOVE_MOUNT_F_EMPTY_PATH"}, 0, ""},
	{"open_tree_missing", "open_tree", unix.ENOENT, map[string]string{
		"dirfd": "AT_FDCWD", "path": `"/nonexistent/ctrace-tree"`, "flags": "~OPEN_TREE_CLONE"}, 0, ""},
	{"mount_setattr_bad_flags", "mount_setattr", unix.EINVAL, map[string]string{
		"dirfd": "AT_FDCWD", "path": `"/"`, "flags": "0", "attr": "~attr_set=0x40000000", "size": "32"}, 0, ""},
	{"pivot_root_same_mount", "pivot_root", unix.EBUSY, map[string]string{"new_root": `"$DIR"`, "put_old": `"$DIR/old"`}, 0, ""},
	{"chroot_missing", "chroot", unix.ENOENT, map[string]string{"path": `"/nonexistent/ctrace-root"`}, 0, ""},
	{"open_missing", "open", unix.ENOENT, map[string]string{"path": `"/nonexistent/ctrace-open"`, "flags": "O_RDONLY"}, 0, ""},
	{"openat_missing", "openat", unix.ENOENT, map[string]string{
		"dirfd": "AT_FDCWD", "path": `"/nonexistent/ctrace/config.yaml"`, "flags": "O_RDONLY|O_CLOEXEC"}, 0, ""},
	{"openat_dirfd", "openat", unix.EEXIST, map[string]string{
		"dirfd": "~<$DIR>", "path": `"work"`, "flags": "O_WRONLY|O_CREAT|O_EXCL", "mode": "0640"}, 0, ""},
	{"openat2_beneath", "openat2", unix.EXDEV, map[string]string{
		"dirfd": "~<$DIR>", "path": `"../../etc/passwd"`, "how": "~resolve=RESOLVE_BENEATH", "size": "24"}, 0, ""},
	{"setns_not_ns", "setns", unix.EINVAL, map[string]string{"fd": "~</dev/null>", "nstype": "CLONE_NEWNET"}, 0, ""},
	{"setns_netns_wrong_type", "setns", unix.EINVAL, map[string]string{"fd": "~<net:[", "nstype": "CLONE_NEWUTS"}, 0, ""},
	{"unshare_unprivileged", "unshare", unix.EPERM, map[string]string{"flags": "CLONE_NEWNS"}, 65534, ""},
	{"clone_bad_flags", "clone", unix.EINVAL, map[string]string{"flags": "CLONE_THREAD"}, 0, ""},
	{"clone3_bad_flags", "clone3", unix.EINVAL, map[string]string{"args": "~flags=CLONE_FS|CLONE_NEWNS, exit_signal=SIGCHLD", "size": "64"}, 0, ""},
	{"execve_not_executable", "execve", unix.EACCES, map[string]string{
		"path": `"$DIR/script"`, "argv": `["script", "--flag", "two words"]`}, 0, ""},
	{"execveat_missing", "execveat", unix.ENOENT, map[string]string{
		"dirfd": "~<$DIR>", "path": `"missing"`, "argv": `["missing", "x"]`, "flags": "AT_SYMLINK_NOFOLLOW"}, 0, ""},

	// Runtime set-up calls, made under runc init's name.
	{"runtime_newfstatat", "newfstatat", unix.ENOENT, map[string]string{
		"dirfd": "AT_FDCWD", "path": `"/nonexistent/ctrace-bind-source"`, "flags": "0"}, 0, runtimeComm},
	{"runtime_statx", "statx", unix.ENOENT, map[string]string{
		"dirfd": "AT_FDCWD", "path": `"/nonexistent/ctrace-statx"`, "flags": "AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW",
		"mask": "STATX_BASIC_STATS"}, 0, runtimeComm},
	{"runtime_access", "access", unix.ENOENT, map[string]string{
		"path": `"/nonexistent/ctrace-access"`, "mode": "R_OK|W_OK"}, 0, runtimeComm},
	{"runtime_faccessat", "faccessat", unix.ENOENT, map[string]string{
		"dirfd": "AT_FDCWD", "path": `"/nonexistent/ctrace-faccessat"`, "mode": "X_OK"}, 0, runtimeComm},
	{"runtime_faccessat2", "faccessat2", unix.ENOENT, map[string]string{
		"dirfd": "AT_FDCWD", "path": `"/nonexistent/ctrace-faccessat2"`, "mode": "F_OK", "flags": "AT_EACCESS"}, 0, runtimeComm},
	{"runtime_mkdir", "mkdir", unix.ENOENT, map[string]string{
		"path": `"/nonexistent/ctrace-mkdir/sub"`, "mode": "0755"}, 0, runtimeComm},
	{"runtime_mkdirat", "mkdirat", unix.EEXIST, map[string]string{
		"dirfd": "~<$DIR>", "path": `"exists"`, "mode": "0700"}, 0, runtimeComm},
	{"runtime_symlink", "symlink", unix.ENOENT, map[string]string{
		"target": `"target"`, "linkpath": `"/nonexistent/ctrace-link"`}, 0, runtimeComm},
	{"runtime_symlinkat", "symlinkat", unix.EEXIST, map[string]string{
		"target": `"target"`, "newdirfd": "~<$DIR>", "linkpath": `"exists"`}, 0, runtimeComm},
	{"runtime_chdir", "chdir", unix.ENOENT, map[string]string{"path": `"/nonexistent/ctrace-chdir"`}, 0, runtimeComm},
	{"runtime_rmdir", "rmdir", unix.ENOENT, map[string]string{"path": `"/nonexistent/ctrace-rmdir"`}, 0, runtimeComm},
	{"runtime_unlink", "unlink", unix.ENOENT, map[string]string{"path": `"/nonexistent/ctrace-unlink"`}, 0, runtimeComm},
	{"runtime_unlinkat", "unlinkat", unix.ENOTDIR, map[string]string{
		"dirfd": "~<$DIR>", "path": `"exists"`, "flags": "AT_REMOVEDIR"}, 0, runtimeComm},
}

// TestSyscallCasesCoverTable: every traced syscall has a case in
// syscallCases, and every case a trigger. TestSyscallFailures checks the
// same and runs them, but needs root and a kernel that loads the tracer;
// this fails on any machine when a syscall is added without a trigger.
func TestSyscallCasesCoverTable(t *testing.T) {
	covered := map[string]bool{}
	for _, sc := range syscallCases {
		covered[sc.syscall] = true
		if FamilyOf(sc.syscall) == "" {
			t.Errorf("case %s: %s is not traced", sc.trigger, sc.syscall)
		}
		if triggers[sc.trigger] == nil {
			t.Errorf("case %s: no such trigger", sc.trigger)
		}
	}
	for _, name := range Syscalls() {
		if !covered[name] {
			t.Errorf("%s: no case in syscallCases (tracer/trigger_test.go) makes it fail", name)
		}
	}
}

// runtimeComm is the name runtime triggers take: runc init's.
const runtimeComm = "runc:[2:INIT]"

// asRuntime names the calling thread as runc init, and keeps the goroutine
// on it, so that the call that follows is a container runtime's.
func asRuntime() error {
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&[]byte(runtimeComm + "\x00")[0])), 0, 0, 0); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	return nil
}

// pathCall makes a raw syscall whose arguments are paths and numbers.
func pathCall(nr uintptr, args ...any) error {
	var a [6]uintptr
	for i, v := range args {
		switch v := v.(type) {
		case string:
			p, err := unix.BytePtrFromString(v)
			if err != nil {
				return err
			}
			a[i] = uintptr(unsafe.Pointer(p))
		case int:
			a[i] = uintptr(v)
		}
	}
	_, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	return errnoErr(e)
}

// openDir opens dir and makes an entry "exists" in it.
func openDir(dir string) (int, error) {
	if err := os.WriteFile(filepath.Join(dir, "exists"), nil, 0o644); err != nil {
		return -1, fmt.Errorf("setup: %w", err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, fmt.Errorf("setup: %w", err)
	}
	return fd, nil
}

// runtimeTriggers make runtime set-up calls fail as runc init; with
// CTRACE_AS_HOST=1 they keep the test binary's name instead.
var runtimeTriggers = map[string]func(dir string) error{
	"runtime_newfstatat": func(string) error {
		var st unix.Stat_t
		return unix.Fstatat(unix.AT_FDCWD, "/nonexistent/ctrace-bind-source", &st, 0)
	},
	"runtime_statx": func(string) error {
		var st unix.Statx_t
		return unix.Statx(unix.AT_FDCWD, "/nonexistent/ctrace-statx", unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &st)
	},
	"runtime_access": func(string) error {
		return pathCall(sysAccess, "/nonexistent/ctrace-access", unix.R_OK|unix.W_OK)
	},
	"runtime_faccessat": func(string) error {
		return pathCall(unix.SYS_FACCESSAT, unix.AT_FDCWD, "/nonexistent/ctrace-faccessat", unix.X_OK)
	},
	"runtime_faccessat2": func(string) error {
		return pathCall(unix.SYS_FACCESSAT2, unix.AT_FDCWD, "/nonexistent/ctrace-faccessat2", unix.F_OK, unix.AT_EACCESS)
	},
	"runtime_mkdir": func(string) error {
		return pathCall(sysMkdir, "/nonexistent/ctrace-mkdir/sub", 0o755)
	},
	"runtime_mkdirat": func(dir string) error {
		fd, err := openDir(dir)
		if err != nil {
			return err
		}
		return pathCall(unix.SYS_MKDIRAT, fd, "exists", 0o700)
	},
	"runtime_symlink": func(string) error {
		return pathCall(sysSymlink, "target", "/nonexistent/ctrace-link")
	},
	"runtime_symlinkat": func(dir string) error {
		fd, err := openDir(dir)
		if err != nil {
			return err
		}
		return pathCall(unix.SYS_SYMLINKAT, "target", fd, "exists")
	},
	"runtime_chdir": func(string) error {
		return pathCall(unix.SYS_CHDIR, "/nonexistent/ctrace-chdir")
	},
	"runtime_rmdir": func(string) error {
		return pathCall(sysRmdir, "/nonexistent/ctrace-rmdir")
	},
	"runtime_unlink": func(string) error {
		return pathCall(sysUnlink, "/nonexistent/ctrace-unlink")
	},
	"runtime_unlinkat": func(dir string) error {
		fd, err := openDir(dir)
		if err != nil {
			return err
		}
		return pathCall(unix.SYS_UNLINKAT, fd, "exists", unix.AT_REMOVEDIR)
	},
}

func init() {
	for name, f := range runtimeTriggers {
		triggers[name] = func(dir string) error {
			if os.Getenv("CTRACE_AS_HOST") == "1" {
				runtime.LockOSThread()
			} else if err := asRuntime(); err != nil {
				return err
			}
			err := f(dir)
			// A marker the parent waits for: once it is seen, the
			// call above would have been seen too.
			_, _ = unix.Openat(unix.AT_FDCWD, "/nonexistent/ctrace-marker", unix.O_RDONLY, 0)
			return err
		}
	}
}

// triggerAttrs gives triggers that need one a process set-up of their own.
var triggerAttrs = map[string]func() *syscall.SysProcAttr{
	// A mount namespace of its own, with / made private by Go's forkExec:
	// nothing the child does reaches the host's mounts.
	"pivot_root_same_mount": func() *syscall.SysProcAttr {
		return &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	},
}

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// dropToNobody makes every thread of the process uid/gid 65534.
func dropToNobody() error {
	runtime.LockOSThread()
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if err := syscall.Setgid(65534); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if err := syscall.Setuid(65534); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	return nil
}

// runTriggerChild is the child side: make the call, print its error.
func runTriggerChild(name string) {
	f, ok := triggers[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown trigger %q\n", name)
		os.Exit(3)
	}
	if os.Getenv("CTRACE_GATE") == "1" {
		// Wait until the parent has told the tracer about us.
		var b [1]byte
		os.Stdin.Read(b[:])
	}
	err := f(os.Getenv(triggerDirEnv))
	if err != nil {
		fmt.Println(err)
	}
	os.Exit(0)
}
