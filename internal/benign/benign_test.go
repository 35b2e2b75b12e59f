package benign

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/binfmt"
	"github.com/ctrace-dev/ctrace/internal/permission"
	"github.com/ctrace-dev/ctrace/tracer"
)

// event builds a failed call; args alternate name and value, values
// starting with "fd:" are descriptor paths.
func event(comm, syscall string, errno unix.Errno, args ...string) *tracer.Event {
	ev := &tracer.Event{Syscall: syscall, Family: tracer.FamilyOf(syscall), Errno: errno, Ret: -int64(errno),
		Proc: tracer.Proc{Comm: comm}}
	for i := 0; i+1 < len(args); i += 2 {
		a := tracer.Arg{Name: args[i], Kind: tracer.KindString, Str: args[i+1], Read: true}
		if v, ok := cut(args[i+1], "fd:"); ok {
			a.Kind, a.Str = tracer.KindFD, v
		}
		ev.Args = append(ev.Args, a)
	}
	return ev
}

func withCmdline(ev *tracer.Event, argv ...string) *tracer.Event {
	ev.Proc.Cmdline = argv
	return ev
}

func withReasons(ev *tracer.Event, rs ...tracer.Reason) *tracer.Event {
	ev.Reasons = rs
	return ev
}

func withArgv(ev *tracer.Event, argv ...string) *tracer.Event {
	ev.Args = append(ev.Args, tracer.Arg{Name: "argv", Kind: tracer.KindArgv, Argv: argv, Read: true})
	return ev
}

func cut(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return s, false
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name string
		ev   *tracer.Event
		rule string // "" for no match
	}{
		// Seen on a real container start (containerd 1.6, runc 1.1).
		{"masked file", event(runcInit, "mount", unix.ENOENT, "source", "/dev/null", "target", "/proc/kcore"), "runc-masked-path"},
		{"masked dir", event(runcInit, "mount", unix.ENOTDIR, "source", "/dev/null", "target", "/sys/firmware"), "runc-masked-path"},
		{"read-only path", event(runcInit, "mount", unix.ENOENT, "source", "/proc/sysrq-trigger", "target", "/proc/sysrq-trigger"), "runc-masked-path"},
		{"dev/pts check", event(runcInit, "newfstatat", unix.ENOENT, "path", "/run/containerd/io.containerd.runtime.v2.task/default/x/rootfs/dev/pts"), "runc-mount-destination-check"},
		{"runc state dir", event("runc", "newfstatat", unix.ENOENT, "path", "/run/containerd/runc/default/t2"), "runc-existence-check"},
		{"runc LookPath", event("runc", "newfstatat", unix.ENOENT, "path", "/usr/local/sbin/newuidmap"), "runc-existence-check"},
		{"runc cgroup parent", event("runc", "mkdirat", unix.EEXIST, "dirfd", "", "path", "/sys/fs/cgroup/cpuset/default"), "runc-existence-check"},
		{"rootfs device", event(runcInit, "newfstatat", unix.ENOENT, "path", "/tmp/rootfs/dev/null"), "runc-device-check"},
		{"masked path stat", event(runcInit, "newfstatat", unix.ENOENT, "path", "/proc/kcore"), "runc-masked-path"},
		{"passwd", event(runcInit, "openat", unix.ENOENT, "dirfd", "", "path", "/etc/passwd"), "runc-user-lookup"},
		{"cgroup v1 file", event("runc", "openat2", unix.ENOENT, "dirfd", "fd:/sys/fs/cgroup", "path", "freezer/default/t1/freezer.state"), "runc-cgroup-probe"},
		{"containerd state dir", event("containerd", "newfstatat", unix.ENOENT, "path", "/run/containerd/io.containerd.runtime.v2.task/default"), "runtime-existence-check"},
		{"rootfs cleanup", event("containerd-shim", "umount2", unix.EINVAL, "target", "/run/containerd/io.containerd.runtime.v2.task/default/t1/rootfs"), "runtime-cleanup-umount"},
		{"hwcaps dir", event("runc", "newfstatat", unix.ENOENT, "path", "/opt/containerd/lib/glibc-hwcaps/x86-64-v3"), "loader-search"},
		{"library", event("cat", "openat", unix.ENOENT, "path", "/opt/containerd/lib/libseccomp.so.2"), "loader-search"},
		{"preload", event("runc", "access", unix.ENOENT, "path", "/etc/ld.so.preload"), "loader-search"},
		{"locale", event("sleep", "openat", unix.ENOENT, "path", "/usr/lib/locale/C.UTF-8/LC_MEASUREMENT"), "locale-probe"},
		{"mount helper", event("mount", "execve", unix.ENOENT, "path", "/sbin/mount.tmpfs"), "mount-helper-search"},
		// A shell's PATH search (seen: setpriv ... cat, one execve per
		// PATH directory until /usr/bin/cat).
		{"PATH search", withArgv(event("setpriv", "execve", unix.ENOENT, "path", "/usr/local/go/bin/cat"), "cat", "/etc/shadow"), "exec-path-search"},
		{"PATH entry not a directory", withArgv(event("sh", "execve", unix.ENOTDIR, "path", "/home/u/bin/tool"), "tool"), "exec-path-search"},
		{"path given whole", withArgv(event("sh", "execve", unix.ENOENT, "path", "/opt/app/run"), "/opt/app/run"), ""},
		{"argv[0] not the file", withArgv(event("sh", "execve", unix.ENOENT, "path", "/usr/bin/python3"), "python"), ""},
		{"PATH entry refused", withArgv(event("sh", "execve", unix.EACCES, "path", "/usr/local/bin/cat"), "cat"), "exec-path-search"},
		{"PATH entry refused, with its why", withReasons(withArgv(event("sh", "execve", unix.EACCES, "path", "/usr/local/bin/cat"), "cat"),
			&permission.Reason{Path: "/usr/local/bin/cat", Need: "exec", OwnerMapped: true},
			&tracer.CapabilityReason{Cap: "CAP_DAC_OVERRIDE"}, &tracer.CapabilityReason{Cap: "CAP_DAC_READ_SEARCH"}), "exec-path-search"},
		{"PATH entry refused by an LSM", withReasons(withArgv(event("sh", "execve", unix.EACCES, "path", "/usr/local/bin/cat"), "cat"),
			&tracer.LSMReason{LSM: "apparmor", Hook: "bprm_check"}), ""},
		{"PATH entry refused for another capability", withReasons(withArgv(event("sh", "execve", unix.EACCES, "path", "/usr/local/bin/cat"), "cat"),
			&tracer.CapabilityReason{Cap: "CAP_SYS_ADMIN"}), ""},
		{"PATH entry's interpreter missing", withReasons(withArgv(event("sh", "execve", unix.ENOENT, "path", "/usr/local/bin/tool"), "tool"),
			&binfmt.Reason{Path: "/usr/local/bin/tool", Problem: binfmt.InterpreterMissing}), ""},
		{"PATH entry of another format", withArgv(event("sh", "execve", unix.ENOEXEC, "path", "/usr/local/bin/tool"), "tool"), ""},
		{"relative path", withArgv(event("sh", "execve", unix.ENOENT, "path", "bin/cat"), "cat"), ""},
		{"no argv", event("sh", "execve", unix.ENOENT, "path", "/usr/local/bin/cat"), ""},

		// Seen in a healthy `ctr run --rm IMAGE ID /bin/true` (containerd 1.6, runc 1.1).
		{"runc init removes ptmx before linking it", event("runc:[2:INIT]", "unlinkat", unix.ENOENT, "dirfd", "", "path", "/run/containerd/io.containerd.runtime.v2.task/default/t1/rootfs/dev/ptmx"), "runtime-remove-probe"},
		{"runc delete's RemoveAll of its state dir", event("runc", "unlinkat", unix.EISDIR, "dirfd", "", "path", "/run/containerd/runc/default/t1"), "runtime-remove-probe"},
		{"runc delete's RemoveAll, not empty yet", event("runc", "unlinkat", unix.ENOTEMPTY, "dirfd", "", "path", "/run/containerd/runc/default/t1"), "runtime-remove-probe"},
		{"shim removes its gone socket", event("containerd-shim", "unlinkat", unix.ENOENT, "dirfd", "", "path", "/run/containerd/s/1efca509"), "runtime-remove-probe"},
		{"a busy removal is shown", event("runc", "unlinkat", unix.EBUSY, "dirfd", "", "path", "/run/netns/cni-1"), ""},
		{"a refused removal is shown", event("containerd-shim", "rmdir", unix.EACCES, "path", "/x"), ""},
		{"a user's removal is shown", event("rm", "unlinkat", unix.ENOENT, "dirfd", "", "path", "/x"), ""},
		{"shim rootfs dir", event("containerd-shim", "mkdirat", unix.EEXIST, "dirfd", "", "path", "/run/containerd/io.containerd.runtime.v2.task/default/t1/rootfs"), "shim-rootfs-mkdir"},
		{"runc delete start-time check", event("runc", "openat", unix.ENOENT, "dirfd", "", "path", "/proc/19227/stat"), "runc-process-gone-check"},
		{"runc state after delete", withCmdline(event("runc", "openat", unix.ENOENT, "dirfd", "", "path", "/run/containerd/runc/default/t1/state.json"),
			"runc", "--root", "/run/containerd/runc/default", "--log", "log.json", "--log-format", "json", "delete", "--force", "t1"), "runc-state-after-delete"},
		{"shim mkdir elsewhere", event("containerd-shim", "mkdirat", unix.EEXIST, "dirfd", "", "path", "/run/containerd/x/work"), ""},
		{"runc reads another proc file", event("runc", "openat", unix.ENOENT, "dirfd", "", "path", "/proc/19227/status"), ""},
		{"state.json refused", event("runc", "openat", unix.EACCES, "dirfd", "", "path", "/run/containerd/runc/default/t1/state.json"), ""},

		// What must stay visible.
		{"bind source missing", event(runcInit, "newfstatat", unix.ENOENT, "path", "/srv/missing-volume"), ""},
		{"host device bind source missing", event(runcInit, "newfstatat", unix.ENOENT, "path", "/dev/fuse"), ""},
		{"runc open of a missing file", event("runc", "openat", unix.ENOENT, "path", "/run/containerd/runc/default/t3/state.json"), ""},
		{"tmpfs bad option", event(runcInit, "mount", unix.EINVAL, "source", "tmpfs", "target", "/proc/self/fd/6"), ""},
		{"masked path as another process", event("mount", "mount", unix.ENOENT, "source", "/dev/null", "target", "/proc/kcore"), ""},
		{"user's missing config", event("cat", "openat", unix.ENOENT, "path", "/etc/app/config.yaml"), ""},
		{"library denied", event("app", "openat", unix.EACCES, "path", "/usr/lib/libfoo.so.1"), ""},
		{"passwd unreadable", event(runcInit, "openat", unix.EACCES, "path", "/etc/passwd"), ""},
		{"containerd mount failure", event("containerd", "mount", unix.EINVAL, "source", "overlay"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := Match(tt.ev)
			got := ""
			if ok {
				got = r.Name
			}
			if got != tt.rule {
				t.Errorf("Match = %q, want %q", got, tt.rule)
			}
		})
	}
}

// A failure the kernel explained is never hidden, nor is a success.
func TestMatchKeepsExplained(t *testing.T) {
	ev := event(runcInit, "mount", unix.ENOENT, "source", "/dev/null", "target", "/proc/kcore")
	ev.Reasons = []tracer.Reason{&tracer.KernelLogReason{Message: "x"}}
	if r, ok := Match(ev); ok {
		t.Errorf("explained failure matched %s", r.Name)
	}
	ok := event(runcInit, "mount", 0, "source", "/dev/null", "target", "/proc/kcore")
	if r, matched := Match(ok); matched {
		t.Errorf("success matched %s", r.Name)
	}
}

func TestRulesDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules {
		if r.Name == "" || len(r.Why) < 40 || r.match == nil {
			t.Errorf("rule %q: needs a name, a reason and a matcher", r.Name)
		}
		if seen[r.Name] {
			t.Errorf("rule %q twice", r.Name)
		}
		seen[r.Name] = true
	}
}
