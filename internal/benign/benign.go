// Package benign recognizes failures that are known to be harmless: calls
// that container runtimes and programs make expecting them to fail. Every
// container start makes runc fail a dozen times on purpose; every dynamic
// executable probes library directories that do not exist. Showing those
// buries the failure that matters, so ctrace hides them by default and
// counts them (--show-benign shows them).
//
// The rules are one table, each with the reason it is harmless. A rule
// matches on what the kernel recorded: process name, syscall, errno and
// arguments. It never hides a failure that carries a reason (a seccomp
// filter, a missing capability, an LSM, a kernel log line): those are
// explanations the user wants to see. A rule may name the reasons that
// only say why a failure it expects happened (a PATH entry's permission
// bits), and those do not keep it from matching.
package benign

import (
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/permission"
	"github.com/ctrace-dev/ctrace/tracer"
)

// Rule is one kind of known-harmless failure.
type Rule struct {
	// Name identifies the rule in JSON output ("benign_rule").
	Name string
	// Why says why such failures are harmless.
	Why   string
	match func(ev *tracer.Event) bool
	// tolerates reports whether a reason leaves the failure as harmless
	// as without it; nil: none does.
	tolerates func(r tracer.Reason) bool
}

// runtimeRemover reports whether comm is a container runtime process
// that removes files with Go's os.Remove and os.RemoveAll.
func runtimeRemover(comm string) bool {
	return comm == "runc" || comm == runcInit || comm == "containerd" || strings.HasPrefix(comm, "containerd-shim")
}

// runcInit is the name runc's init process has in the stage that sets up
// the container's mounts and runs the user's process.
const runcInit = "runc:[2:INIT]"

// Rules is the table, in the order they are tried.
var Rules = []Rule{
	{
		Name: "runc-masked-path",
		Why: "runc hides the spec's masked and read-only paths (/proc/kcore, /sys/firmware, ...) by bind-mounting " +
			"/dev/null or a tmpfs over them; a path the kernel does not have fails with ENOENT and a directory " +
			"refuses /dev/null with ENOTDIR, after which runc mounts a tmpfs. Both are expected.",
		match: func(ev *tracer.Event) bool {
			if ev.Proc.Comm != runcInit || !errnoIn(ev, unix.ENOENT, unix.ENOTDIR) {
				return false
			}
			switch {
			case ev.Syscall == "mount":
				t := str(ev, "target")
				return strings.HasPrefix(t, "/proc/") || strings.HasPrefix(t, "/sys/")
			case statCall(ev):
				// Older runc stats a masked path before hiding it.
				p := str(ev, "path")
				return strings.HasPrefix(p, "/proc/") || strings.HasPrefix(p, "/sys/")
			}
			return false
		},
	},
	{
		Name: "runc-mount-destination-check",
		Why: "runc stats each mount destination of the default spec (/dev/pts, /dev/shm, ...) inside the rootfs " +
			"before creating it; ENOENT means it creates it next.",
		match: func(ev *tracer.Event) bool {
			if ev.Proc.Comm != runcInit || !statCall(ev) || !errnoIn(ev, unix.ENOENT) {
				return false
			}
			p := str(ev, "path")
			for _, d := range defaultDestinations {
				if strings.HasSuffix(p, d) {
					return true
				}
			}
			return false
		},
	},
	{
		Name: "runc-device-check",
		Why: "runc init stats each device of the spec inside the rootfs (rootfs/dev/null, ...) before it " +
			"creates or bind-mounts it; ENOENT means it creates it next.",
		match: func(ev *tracer.Event) bool {
			if ev.Proc.Comm != runcInit || !statCall(ev) || !errnoIn(ev, unix.ENOENT) {
				return false
			}
			p := str(ev, "path")
			// A host device given as a bind source starts with /dev/.
			return strings.Contains(p, "/dev/") && !strings.HasPrefix(p, "/dev/")
		},
	},
	{
		Name: "runc-user-lookup",
		Why: "runc init reads the container's /etc/passwd and /etc/group to resolve the user and groups; " +
			"images without them (busybox, distroless) fail with ENOENT and run with numeric ids.",
		match: func(ev *tracer.Event) bool {
			if ev.Proc.Comm != runcInit || !openCall(ev) || !errnoIn(ev, unix.ENOENT) {
				return false
			}
			p := str(ev, "path")
			return p == "/etc/passwd" || p == "/etc/group"
		},
	},
	{
		Name: "runc-cgroup-probe",
		Why: "runc opens cgroup control files to learn which controllers and versions the node has; " +
			"the ones this node lacks fail with ENOENT.",
		match: func(ev *tracer.Event) bool {
			if !strings.HasPrefix(ev.Proc.Comm, "runc") || !openCall(ev) || !errnoIn(ev, unix.ENOENT) {
				return false
			}
			return strings.HasPrefix(fdPath(ev, "dirfd"), "/sys/fs/cgroup") || strings.HasPrefix(str(ev, "path"), "/sys/fs/cgroup/")
		},
	},
	{
		Name: "runtime-existence-check",
		Why: "containerd and its shims stat their state directories before creating them; " +
			"ENOENT means the directory is created next.",
		match: func(ev *tracer.Event) bool {
			return (ev.Proc.Comm == "containerd" || strings.HasPrefix(ev.Proc.Comm, "containerd-shim")) &&
				statCall(ev) && errnoIn(ev, unix.ENOENT)
		},
	},
	{
		Name: "runtime-cleanup-umount",
		Why: "containerd and its shims unmount a task's rootfs when it is deleted, whether or not it is still " +
			"mounted; EINVAL means it was not a mount point any more.",
		match: func(ev *tracer.Event) bool {
			return (ev.Proc.Comm == "containerd" || strings.HasPrefix(ev.Proc.Comm, "containerd-shim")) &&
				ev.Syscall == "umount2" && errnoIn(ev, unix.EINVAL) && strings.HasSuffix(str(ev, "target"), "/rootfs")
		},
	},
	{
		Name: "runtime-remove-probe",
		Why: "runc, its init and the containerd shims remove files with Go's os.Remove and os.RemoveAll, which " +
			"unlink first and remove as a directory second, and keep whichever error fits: EISDIR or ENOTDIR from " +
			"one of the two is how a directory or a file is told apart, ENOTEMPTY makes RemoveAll empty the " +
			"directory and try again, and ENOENT means it is gone already, which is what clean-up wants " +
			"(runc init removes /dev/ptmx before it makes the link; the shim removes its socket). A removal " +
			"refused (EBUSY, EACCES, EPERM, EROFS) is still shown.",
		match: func(ev *tracer.Event) bool {
			return runtimeRemover(ev.Proc.Comm) && (ev.Syscall == "unlinkat" || ev.Syscall == "unlink" || ev.Syscall == "rmdir") &&
				errnoIn(ev, unix.ENOENT, unix.EISDIR, unix.ENOTDIR, unix.ENOTEMPTY)
		},
	},
	{
		Name: "shim-rootfs-mkdir",
		Why: "the containerd shim creates the task bundle's rootfs directory before mounting the snapshot on it; " +
			"containerd has usually made it already with the bundle, and the shim takes EEXIST as done.",
		match: func(ev *tracer.Event) bool {
			return strings.HasPrefix(ev.Proc.Comm, "containerd-shim") && (ev.Syscall == "mkdirat" || ev.Syscall == "mkdir") &&
				errnoIn(ev, unix.EEXIST) && strings.HasSuffix(str(ev, "path"), "/rootfs")
		},
	},
	{
		Name: "runc-process-gone-check",
		Why: "runc reads the container's init process's /proc/PID/stat before it signals or deletes it, to make " +
			"sure the pid still names that process (by its start time); ENOENT means it has exited, which is what " +
			"runc delete expects of a stopped container.",
		match: func(ev *tracer.Event) bool {
			if ev.Proc.Comm != "runc" || !openCall(ev) || !errnoIn(ev, unix.ENOENT) {
				return false
			}
			p := str(ev, "path")
			pid, ok := strings.CutPrefix(p, "/proc/")
			pid, ok2 := strings.CutSuffix(pid, "/stat")
			return ok && ok2 && pid != "" && strings.Trim(pid, "0123456789") == ""
		},
	},
	{
		Name: "runc-state-after-delete",
		Why: "`runc delete` reads the container's state.json to learn whether it still exists; when the shim's " +
			"clean-up deletes a container that an earlier delete removed, 'does not exist' is the answer it expects. " +
			"Only runc delete (by its command line, read in the kernel) is covered: `runc state` or `runc start` " +
			"not finding a container is a real failure.",
		match: func(ev *tracer.Event) bool {
			return ev.Proc.Comm == "runc" && openCall(ev) && errnoIn(ev, unix.ENOENT) &&
				path.Base(str(ev, "path")) == "state.json" && slices.Contains(ev.Proc.Cmdline, "delete")
		},
	},
	{
		Name: "loader-search",
		Why: "the dynamic loader looks for each library in every directory of its search path (glibc-hwcaps " +
			"subdirectories, RPATH, LD_LIBRARY_PATH) and checks /etc/ld.so.preload; misses fail with ENOENT.",
		match: func(ev *tracer.Event) bool {
			if !(openCall(ev) || statCall(ev) || accessCall(ev)) || !errnoIn(ev, unix.ENOENT) {
				return false
			}
			p := str(ev, "path")
			if p == "/etc/ld.so.preload" || strings.Contains(p, "/glibc-hwcaps/") || strings.HasSuffix(p, "/glibc-hwcaps") {
				return true
			}
			b := path.Base(p)
			return strings.HasPrefix(b, "lib") && (strings.HasSuffix(b, ".so") || strings.Contains(b, ".so."))
		},
	},
	{
		Name: "locale-probe",
		Why: "programs linked with glibc look for locale data of the configured locale in several places; " +
			"misses fail with ENOENT and the C locale is used.",
		match: func(ev *tracer.Event) bool {
			if !openCall(ev) || !errnoIn(ev, unix.ENOENT) {
				return false
			}
			p := str(ev, "path")
			return strings.HasPrefix(p, "/usr/lib/locale/") || strings.HasPrefix(p, "/usr/share/locale/") ||
				strings.Contains(p, "/gconv/")
		},
	},
	{
		Name: "runc-existence-check",
		Why: "runc (create, start, delete, state) looks before it acts: it stats its state directory, cgroup " +
			"controllers this node may not have, the container's cgroup before creating it, and newuidmap on " +
			"PATH; ENOENT or EEXIST there is the answer it expected. The failures that stop a container are " +
			"made by runc init (runc:[2:INIT]) and are not covered by this rule.",
		match: func(ev *tracer.Event) bool {
			return ev.Proc.Comm == "runc" && ev.Family == tracer.FamilyRuntime && errnoIn(ev, unix.ENOENT, unix.EEXIST)
		},
	},
	{
		Name: "mount-helper-search",
		Why: "mount(8) first tries to run a helper named mount.TYPE from its search path; ENOENT means there is " +
			"none and it makes the mount(2) call itself.",
		match: func(ev *tracer.Event) bool {
			if ev.Family != tracer.FamilyExec || !errnoIn(ev, unix.ENOENT) {
				return false
			}
			b := path.Base(str(ev, "path"))
			return strings.HasPrefix(b, "mount.") || strings.HasPrefix(b, "umount.")
		},
	},
	{
		Name: "exec-path-search",
		Why: "a program that runs a command by name (a shell, execvp, posix_spawnp) tries each directory of " +
			"PATH in turn, as DIR/NAME with NAME as argv[0]: ENOENT or ENOTDIR in one is the answer it expected, " +
			"and so is EACCES (a directory it may not search, a file of that name it may not run: glibc's execvp, " +
			"as env, xargs or a program spawning by name use it, notes it and tries the next). A command run from " +
			"none is reported by that program " +
			"(\"not found\", \"Permission denied\"), and --show-benign shows each entry it tried, with the " +
			"permission reason of those that refused. An exec refused for another cause (ENOEXEC, E2BIG, an LSM, " +
			"a seccomp filter) stays visible, and so does a path given whole.",
		match: func(ev *tracer.Event) bool {
			if ev.Syscall != "execve" || !errnoIn(ev, unix.ENOENT, unix.ENOTDIR, unix.EACCES) {
				return false
			}
			p, argv := str(ev, "path"), argvOf(ev)
			if len(argv) == 0 || argv[0] == "" || strings.Contains(argv[0], "/") || !path.IsAbs(p) {
				return false
			}
			return path.Base(p) == argv[0]
		},
		// An EACCES carries the entry's permission reason, and for a
		// caller that is not root the DAC capabilities the kernel
		// checked: they say why that entry refused, not that it matters.
		tolerates: func(r tracer.Reason) bool {
			switch r := r.(type) {
			case *permission.Reason:
				return true
			case *tracer.CapabilityReason:
				return r.Cap == "CAP_DAC_OVERRIDE" || r.Cap == "CAP_DAC_READ_SEARCH"
			}
			return false
		},
	},
}

// defaultDestinations are the mount destinations of runc's default spec.
var defaultDestinations = []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/run"}

// Match returns the first rule that says a failed call is harmless.
func Match(ev *tracer.Event) (*Rule, bool) {
	if !ev.Failed() {
		return nil, false
	}
	for i := range Rules {
		if Rules[i].allows(ev.Reasons) && Rules[i].match(ev) {
			return &Rules[i], true
		}
	}
	return nil, false
}

// allows reports whether every reason is one the rule tolerates.
func (r *Rule) allows(rs []tracer.Reason) bool {
	for _, x := range rs {
		if r.tolerates == nil || !r.tolerates(x) {
			return false
		}
	}
	return true
}

func errnoIn(ev *tracer.Event, errs ...unix.Errno) bool {
	for _, e := range errs {
		if ev.Errno == e {
			return true
		}
	}
	return false
}

func statCall(ev *tracer.Event) bool {
	return ev.Syscall == "newfstatat" || ev.Syscall == "statx"
}

func openCall(ev *tracer.Event) bool { return ev.Family == tracer.FamilyOpen }

func accessCall(ev *tracer.Event) bool {
	switch ev.Syscall {
	case "access", "faccessat", "faccessat2":
		return true
	}
	return false
}

// str returns a string argument by name, "" if the call has none.
func str(ev *tracer.Event, name string) string {
	for i := range ev.Args {
		if ev.Args[i].Name == name && ev.Args[i].Kind == tracer.KindString {
			return ev.Args[i].Str
		}
	}
	return ""
}

// argvOf returns the strings of the call's argv argument, nil if it has
// none.
func argvOf(ev *tracer.Event) []string {
	for i := range ev.Args {
		if ev.Args[i].Kind == tracer.KindArgv {
			return ev.Args[i].Argv
		}
	}
	return nil
}

// fdPath returns what a descriptor argument refers to.
func fdPath(ev *tracer.Event, name string) string {
	for i := range ev.Args {
		if ev.Args[i].Name == name && ev.Args[i].Kind == tracer.KindFD {
			return ev.Args[i].Str
		}
	}
	return ""
}
