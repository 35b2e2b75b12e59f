package tracer

// Reasons, for real: seccomp filters, missing capabilities in the initial
// or a child user namespace, kernel log lines, and no reason for calls
// that succeed.

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

func init() {
	triggers["seccomp_mount_unshare"] = func(dir string) error {
		if err := denyWithSeccomp(unix.EPERM, unix.SYS_MOUNT, unix.SYS_UNSHARE); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		e1 := unix.Mount("none", dir, "tmpfs", 0, "")
		e2 := unix.Unshare(unix.CLONE_NEWNS)
		// A call the filter lets through, failing for its own reason.
		_, e3 := unix.Open(filepath.Join(dir, "missing"), unix.O_RDONLY, 0)
		return fmt.Errorf("%v; %v; %v", e1, e2, e3)
	}
	// A filter that looks at an argument: unshare is refused with
	// CLONE_NEWNS only. The kernel cannot tell in advance that such a
	// filter allows unshare, so ctrace marks its entries; openat it
	// allows whatever the arguments, and ctrace marks nothing.
	triggers["seccomp_by_args"] = func(dir string) error {
		if err := denyUnshareNewNS(unix.EPERM); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		e1 := unix.Unshare(unix.CLONE_NEWNS)
		e2 := unix.Unshare(0x1) // not a CLONE_ flag unshare takes: EINVAL
		_, e3 := unix.Open(filepath.Join(dir, "missing"), unix.O_RDONLY, 0)
		return fmt.Errorf("%v; %v; %v", e1, e2, e3)
	}
	triggers["mount_as_nobody"] = func(dir string) error {
		if err := dropToNobody(); err != nil {
			return err
		}
		return unix.Mount("none", dir, "tmpfs", 0, "")
	}
	// Root without CAP_SYS_ADMIN, as in a container, execs a file the
	// kernel has no format for: memory accounting asks for CAP_SYS_ADMIN
	// on the way (cap_vm_enough_memory), and the answer is no reason.
	triggers["exec_unknown_without_sys_admin"] = func(dir string) error {
		path := filepath.Join(dir, "data")
		if err := os.WriteFile(path, []byte("neither ELF nor a script\n"), 0o755); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		// Capabilities are a thread's: the exec runs on this one.
		runtime.LockOSThread()
		if err := dropEffective(unix.CAP_SYS_ADMIN); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		return unix.Exec(path, []string{path}, nil)
	}
	// Root in a user namespace of its own (see triggerAttrs), mounting in
	// the host's mount namespace, which the initial user namespace owns.
	triggers["mount_in_userns"] = func(dir string) error {
		return unix.Mount("none", dir, "tmpfs", 0, "")
	}
	triggers["overlay_missing_upper"] = func(dir string) error {
		for _, d := range []string{"lower", "work", "m"} {
			if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
		}
		data := fmt.Sprintf("lowerdir=%s/lower,upperdir=/nonexistent/ctrace-upper,workdir=%s/work", dir, dir)
		return unix.Mount("overlay", filepath.Join(dir, "m"), "overlay", 0, data)
	}
	// A create in a set-group-ID directory of a group the caller is not
	// in succeeds, after a failed CAP_FSETID check (the kernel strips the
	// new file's S_ISGID). Then, on the same thread, a mount fails.
	triggers["success_after_denial"] = func(dir string) error {
		if err := dropToNobody(); err != nil {
			return err
		}
		fd, err := unix.Openat(unix.AT_FDCWD, filepath.Join(dir, "sgid", "f"), unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o2755)
		if err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		unix.Close(fd)
		return unix.Mount("none", dir, "tmpfs", 0, "")
	}
	triggerAttrs["mount_in_userns"] = func() *syscall.SysProcAttr {
		return &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65534, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65534, Size: 1}},
		}
	}
	triggerAttrs["overlay_missing_upper"] = triggerAttrs["pivot_root_same_mount"]
}

// Classic BPF for the seccomp filters of the triggers.
const (
	ldAbsW   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	jeqK     = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	jsetK    = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	retK     = unix.BPF_RET | unix.BPF_K
	archOff  = 4          // struct seccomp_data: nr, arch, ip, args
	arg0Off  = 16         // the low half of args[0] on a little-endian machine
	retAllow = 0x7fff0000 // SECCOMP_RET_ALLOW
	retErrno = 0x00050000 // SECCOMP_RET_ERRNO
)

// denyWithSeccomp makes every thread of the process fail the given
// syscalls with errno, through a classic BPF seccomp filter.
func denyWithSeccomp(errno unix.Errno, nrs ...uintptr) error {
	prog := []unix.SockFilter{
		{Code: ldAbsW, K: archOff},
		{Code: jeqK, Jt: 1, K: auditArch},
		{Code: retK, K: retAllow},
		{Code: ldAbsW, K: 0},
	}
	for _, nr := range nrs {
		prog = append(prog,
			unix.SockFilter{Code: jeqK, Jf: 1, K: uint32(nr)},
			unix.SockFilter{Code: retK, K: retErrno | uint32(errno)})
	}
	prog = append(prog, unix.SockFilter{Code: retK, K: retAllow})
	return installSeccomp(prog, true)
}

// denyUnshareNewNS makes every thread of the process fail unshare with
// errno when its flags include CLONE_NEWNS.
func denyUnshareNewNS(errno unix.Errno) error {
	return installSeccomp([]unix.SockFilter{
		{Code: ldAbsW, K: archOff},
		{Code: jeqK, Jt: 1, K: auditArch},
		{Code: retK, K: retAllow},
		{Code: ldAbsW, K: 0},
		{Code: jeqK, Jf: 3, K: unix.SYS_UNSHARE},
		{Code: ldAbsW, K: arg0Off},
		{Code: jsetK, Jf: 1, K: unix.CLONE_NEWNS},
		{Code: retK, K: retErrno | uint32(errno)},
		{Code: retK, K: retAllow},
	}, true)
}

// installSeccomp installs a classic BPF seccomp filter on the calling
// thread, or with tsync on every thread of the process.
func installSeccomp(prog []unix.SockFilter, tsync bool) error {
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	const setModeFilter, flagTsync = 1, 1
	var flags uintptr
	if tsync {
		flags = flagTsync
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, setModeFilter, flags, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("seccomp: %w", e)
	}
	return nil
}

// initUserNS is the inode of the initial user namespace.
func initUserNS(t *testing.T) uint32 {
	t.Helper()
	// The test runs as root in the initial user namespace.
	link, err := os.Readlink("/proc/self/ns/user")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "user:["), "]"), 10, 32)
	if err != nil {
		t.Fatalf("parse %q: %v", link, err)
	}
	return uint32(n)
}

func reasonKinds(ev *Event) []ReasonKind {
	var k []ReasonKind
	for _, r := range ev.Reasons {
		k = append(k, r.Kind())
	}
	return k
}

// isCap reports whether r is a denial of capability name.
func isCap(r Reason, name string) bool {
	c, ok := r.(*CapabilityReason)
	return ok && c.Cap == name
}

// TestReasonSeccomp: a call a seccomp filter refuses has the seccomp
// reason, one it lets through and that fails on its own has none. The
// second filter decides unshare by its flags, so ctrace marks unshare's
// entries; openat both allow whatever the arguments, which ctrace does
// not mark. One tracer for both: under emulation its start is most of a
// test's time.
func TestReasonSeccomp(t *testing.T) {
	tr, col := startTracer(t, Options{})
	if f := feature(tr, "seccomp"); f.Err != nil {
		t.Fatalf("seccomp reasons unavailable: %v", f.Err)
	}
	openat := func(t *testing.T, pid int) {
		t.Helper()
		ev := col.waitFor(t, pid, func(ev *Event) bool { return int(ev.Proc.PID) == pid && ev.Syscall == "openat" })
		if ev.Errno != unix.ENOENT || len(ev.Reasons) != 0 {
			t.Errorf("openat the filter allows: errno %v, reasons %+v; want ENOENT and none", ev.Errno, ev.Reasons)
		}
	}
	t.Run("by syscall", func(t *testing.T) {
		c := runTrigger(t, "seccomp_mount_unshare")
		if got := c.out.String(); strings.Count(got, "operation not permitted") != 2 {
			t.Fatalf("trigger said %q, want two EPERMs", got)
		}
		for _, sys := range []string{"mount", "unshare"} {
			ev := col.waitFor(t, c.pid, func(ev *Event) bool { return int(ev.Proc.PID) == c.pid && ev.Syscall == sys })
			if len(ev.Reasons) != 1 || ev.Reasons[0].Kind() != ReasonSeccomp {
				t.Errorf("%s: reasons = %+v, want only seccomp", sys, ev.Reasons)
			}
		}
		openat(t, c.pid)
	})
	t.Run("by argument", func(t *testing.T) {
		c := runTrigger(t, "seccomp_by_args")
		if got, want := c.out.String(), "operation not permitted; invalid argument; no such file or directory"; !strings.Contains(got, want) {
			t.Fatalf("trigger said %q, want %q", got, want)
		}
		unshare := func(errno unix.Errno) Event {
			return col.waitFor(t, c.pid, func(ev *Event) bool {
				return int(ev.Proc.PID) == c.pid && ev.Syscall == "unshare" && ev.Errno == errno
			})
		}
		if ev := unshare(unix.EPERM); len(ev.Reasons) != 1 || ev.Reasons[0].Kind() != ReasonSeccomp {
			t.Errorf("unshare(CLONE_NEWNS) the filter refused: reasons %+v, want only seccomp", ev.Reasons)
		}
		if ev := unshare(unix.EINVAL); len(ev.Reasons) != 0 {
			t.Errorf("unshare(0x1) the filter let through: reasons %+v, want none", ev.Reasons)
		}
		openat(t, c.pid)
	})
}

func TestReasonCapability(t *testing.T) {
	initNS := initUserNS(t)
	tr, col := startTracer(t, Options{})
	if f := feature(tr, "capability"); f.Err != nil {
		t.Fatalf("capability reasons unavailable: %v", f.Err)
	}
	t.Run("unprivileged user", func(t *testing.T) {
		c := runTrigger(t, "mount_as_nobody")
		ev := col.waitFor(t, c.pid, func(ev *Event) bool { return int(ev.Proc.PID) == c.pid && ev.Syscall == "mount" })
		want := &CapabilityReason{Cap: "CAP_SYS_ADMIN", UserNS: initNS, InitUserNS: true,
			CallerUserNS: initNS, CallerUIDMap: IDMap{{0, 0, 4294967295}}}
		if len(ev.Reasons) != 1 || !reflect.DeepEqual(ev.Reasons[0], want) {
			t.Errorf("reasons = %+v, want [%+v]", ev.Reasons, want)
		}
	})
	t.Run("root in a child user namespace", func(t *testing.T) {
		c := runTrigger(t, "mount_in_userns")
		ev := col.waitFor(t, c.pid, func(ev *Event) bool { return int(ev.Proc.PID) == c.pid && ev.Syscall == "mount" })
		if ev.Proc.UserNS == initNS {
			t.Fatalf("the trigger runs in the initial user namespace")
		}
		want := &CapabilityReason{Cap: "CAP_SYS_ADMIN", UserNS: initNS, InitUserNS: true,
			CallerUserNS: ev.Proc.UserNS, CallerUIDMap: IDMap{{0, 65534, 1}}}
		if len(ev.Reasons) != 1 || !reflect.DeepEqual(ev.Reasons[0], want) {
			t.Errorf("reasons = %+v, want [%+v]", ev.Reasons, want)
		}
	})
}

// TestNoCapabilityForAQuestion: a failed exec of a task without
// CAP_SYS_ADMIN carries no capability reason, though the kernel asked for
// it during the call (memory accounting, which takes no for an answer).
// Every time: the question is asked on every such exec.
func TestNoCapabilityForAQuestion(t *testing.T) {
	tr, col := startTracer(t, Options{})
	if f := feature(tr, "capability"); f.Err != nil {
		t.Fatalf("capability reasons unavailable: %v", f.Err)
	}
	for range 20 {
		c := runTrigger(t, "exec_unknown_without_sys_admin")
		ev := col.waitFor(t, c.pid, func(ev *Event) bool { return int(ev.Proc.PID) == c.pid && ev.Syscall == "execve" })
		if ev.Errno != unix.ENOEXEC || len(ev.Reasons) != 0 {
			t.Fatalf("errno %v, reasons %+v: want ENOEXEC and none", ev.Errno, ev.Reasons)
		}
	}
}

// dropEffective removes cap from the calling thread's effective set.
func dropEffective(cap int) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	data[cap/32].Effective &^= 1 << (cap % 32)
	return unix.Capset(&hdr, &data[0])
}

func TestReasonKernelLog(t *testing.T) {
	tr, col := startTracer(t, Options{})
	if f := feature(tr, "kernel_log"); f.Err != nil {
		t.Fatalf("kernel log reasons unavailable: %v", f.Err)
	}
	tests := []struct {
		trigger string
		errno   unix.Errno
		message string // $DIR: the trigger's directory
	}{
		{"mount_bad_option", unix.EINVAL, "tmpfs: Bad value for 'size'"},
		{"overlay_missing_upper", unix.ENOENT, "overlayfs: failed to resolve '/nonexistent/ctrace-upper': -2"},
	}
	for _, tt := range tests {
		t.Run(tt.trigger, func(t *testing.T) {
			c := runTrigger(t, tt.trigger)
			ev := col.waitFor(t, c.pid, func(ev *Event) bool { return int(ev.Proc.PID) == c.pid && ev.Syscall == "mount" })
			if ev.Errno != tt.errno {
				t.Errorf("errno = %v, want %v", ev.Errno, tt.errno)
			}
			want := &KernelLogReason{Message: strings.ReplaceAll(tt.message, "$DIR", c.dir)}
			if len(ev.Reasons) != 1 || !reflect.DeepEqual(ev.Reasons[0], want) {
				t.Errorf("reasons = %+v, want [%+v]", ev.Reasons, want)
			}
		})
	}
}

// TestNoReasonForSuccess: a denial during a call that succeeds is no
// reason, neither for that call nor for the next one.
func TestNoReasonForSuccess(t *testing.T) {
	tr, col := startTracer(t, Options{All: true, PIDs: []uint32{0}})
	c := startTrigger(t, "success_after_denial")
	sgid := filepath.Join(c.dir, "sgid")
	if err := os.Mkdir(sgid, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sgid, 0o2777|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if err := tr.Trace(uint32(c.pid)); err != nil {
		t.Fatal(err)
	}
	c.release(t)
	open := col.waitFor(t, c.pid, func(ev *Event) bool {
		return int(ev.Proc.PID) == c.pid && ev.Syscall == "openat" && strings.HasSuffix(ev.Args[1].Str, "sgid/f")
	})
	if open.Failed() || len(open.Reasons) != 0 {
		t.Errorf("successful openat: ret %d, reasons %+v; want success and no reason", open.Ret, open.Reasons)
	}
	fi, err := os.Stat(filepath.Join(sgid, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSetgid != 0 {
		t.Fatalf("the kernel kept S_ISGID on %s: no CAP_FSETID check was made, the test proves nothing", fi.Name())
	}
	mount := col.waitFor(t, c.pid, func(ev *Event) bool { return int(ev.Proc.PID) == c.pid && ev.Syscall == "mount" })
	if k := reasonKinds(&mount); len(mount.Reasons) != 1 || !isCap(mount.Reasons[0], "CAP_SYS_ADMIN") {
		t.Errorf("mount after the create: reasons %v %+v, want only CAP_SYS_ADMIN", k, mount.Reasons)
	}
}

func feature(tr *Tracer, name string) Feature {
	for _, f := range tr.Features() {
		if f.Name == name {
			return f
		}
	}
	return Feature{Name: name, Err: fmt.Errorf("no feature %q", name)}
}

// TestLSMHooksFollowSyscalls checks that an LSM hook's program is attached
// only when a traced syscall reaches the hook: security_file_open runs on
// every open on the node, and a trace of mount alone must not slow them.
func TestLSMHooksFollowSyscalls(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	c, err := attachEmptyFexits([]string{"security_file_open"})
	if err != nil {
		t.Skipf("this kernel attaches no fexit programs, so ctrace attaches no LSM hook programs: %v", err)
	}
	c.Close()
	all := lsmProgramNames()
	for _, c := range []struct {
		syscalls []string
		want     []string
	}{
		{[]string{"mount"}, []string{"lsm_sb_mount"}},
		{[]string{"umount2", "pivot_root"}, []string{"lsm_sb_umount", "lsm_sb_pivotroot"}},
		{[]string{"openat"}, []string{"lsm_file_open"}},
		{[]string{"execve"}, []string{"lsm_file_open", "lsm_bprm_check"}},
		{[]string{"move_mount", "open_tree"}, []string{"lsm_move_mount"}},
		{[]string{"mkdirat", "statx"}, nil},
	} {
		t.Run(strings.Join(c.syscalls, ","), func(t *testing.T) {
			ops, err := ParseSyscalls(c.syscalls)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := Open(Options{Syscalls: ops})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			var hooks Feature
			for _, f := range tr.Features() {
				if f.Name == "lsm_hooks" {
					hooks = f
				}
			}
			var got []string
			for _, coll := range tr.extra {
				for name := range coll.Programs {
					if slices.Contains(all, name) {
						got = append(got, name)
					}
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(c.want))
			if !slices.Equal(got, want) {
				t.Errorf("attached %v, want %v", got, want)
			}
			if (len(want) == 0) != (hooks.Err != nil) {
				t.Errorf("lsm_hooks feature %+v with %d hooks attached", hooks, len(got))
			}
		})
	}
}

// noLSMHook lists the traced syscalls that no program of lsmPrograms
// watches, and why. A syscall added to ops must appear in lsmPrograms or
// here (TestLSMProgramsCoverOps): an LSM denial of a call whose hook is
// not watched shows as no reason at all, unless audit names it.
var noLSMHook = map[string]string{
	// Removals are traced for runtime processes, for EBUSY on a mount
	// point; security_path_unlink/rmdir and security_inode_unlink/rmdir
	// are not watched.
	"rmdir":    "security_path_rmdir, not watched",
	"unlink":   "security_path_unlink, not watched",
	"unlinkat": "security_path_unlink/rmdir, not watched",
	// The new mount API's set-up. The LSMs check the mount when it is
	// attached, in move_mount (security_move_mount, watched);
	// fsconfig's option parsing (security_fs_context_parse_param) is
	// not watched.
	"fsopen":   "set-up of the new mount API; checked at move_mount",
	"fsconfig": "security_fs_context_parse_param, not watched",
	"fsmount":  "set-up of the new mount API; checked at move_mount",
	// Path lookups that make an O_PATH-like descriptor: no
	// security_file_open, no hook of their own.
	"fspick":    "no security_* hook",
	"open_tree": "no security_* hook",
	// The kernel has no LSM hook for changing mount attributes.
	"mount_setattr": "no security_* hook",
	// security_path_chroot is implemented by path-based LSMs (TOMOYO)
	// only; not watched.
	"chroot": "security_path_chroot, not watched",
	// setns has no hook; unshare and clone reach security_create_user_ns
	// for CLONE_NEWUSER (6.1+, which AppArmor uses to restrict
	// unprivileged user namespaces), not watched yet.
	"setns":   "no security_* hook",
	"unshare": "security_create_user_ns, not watched yet",
	"clone":   "security_create_user_ns, not watched yet",
	"clone3":  "security_create_user_ns, not watched yet",
	// The runtime family's hooks (inode_getattr, inode_permission,
	// path_mkdir, path_symlink) run on most path lookups of every task:
	// a trampoline there would slow the whole node for calls traced
	// only for container runtimes. The permission reason and audit
	// records explain these.
	"newfstatat": "security_inode_getattr: too hot to watch",
	"statx":      "security_inode_getattr: too hot to watch",
	"access":     "security_inode_permission: too hot to watch",
	"faccessat":  "security_inode_permission: too hot to watch",
	"faccessat2": "security_inode_permission: too hot to watch",
	"mkdir":      "security_path_mkdir: too hot to watch",
	"mkdirat":    "security_path_mkdir: too hot to watch",
	"symlink":    "security_path_symlink: too hot to watch",
	"symlinkat":  "security_path_symlink: too hot to watch",
	"chdir":      "security_inode_permission: too hot to watch",
}

// TestLSMProgramsCoverOps: every traced syscall is watched by an LSM hook
// program or listed in noLSMHook with the reason, never both; every
// program of lsmPrograms is in the objects and names a hook the decoder
// knows. No root: it reads the tables and the object's BTF.
func TestLSMProgramsCoverOps(t *testing.T) {
	watched := map[Op][]string{}
	for _, p := range lsmPrograms {
		for _, o := range p.ops {
			watched[o] = append(watched[o], p.name)
		}
	}
	for _, s := range Table() {
		progs, why := watched[s.Op], noLSMHook[s.Name]
		switch {
		case len(progs) == 0 && why == "":
			t.Errorf("%s: in no lsmPrograms entry (tracer/reasons.go) and not in noLSMHook: add the hooks it reaches, or say why none", s.Name)
		case len(progs) > 0 && why != "":
			t.Errorf("%s: watched by %v and listed in noLSMHook (%s)", s.Name, progs, why)
		}
	}
	for name := range noLSMHook {
		if FamilyOf(name) == "" {
			t.Errorf("noLSMHook lists %s, which is not traced", name)
		}
	}
	spec, err := loadBpf()
	if err != nil {
		t.Fatal(err)
	}
	var hooks *btf.Enum
	if err := spec.Types.TypeByName("ctrace_lsm_hook", &hooks); err != nil {
		t.Fatal(err)
	}
	for _, v := range hooks.Values {
		if _, ok := lsmHooks[bpfCtraceLsmHook(v.Value)]; v.Value != 0 && !ok {
			t.Errorf("%s has no name in lsmHooks (tracer/event.go)", v.Name)
		}
	}
	for _, p := range lsmPrograms {
		if spec.Programs[p.name] == nil {
			t.Errorf("lsmPrograms names %s, which bpf/ctrace.bpf.c does not define", p.name)
		}
		if len(p.ops) == 0 {
			t.Errorf("%s: no traced syscall reaches it", p.name)
		}
	}
}
