package permission

import (
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/tracer"
)

// Explained reports whether the permission walk applies to a failed
// call at all: EACCES or EROFS of a call that names paths.
func Explained(ev *tracer.Event) bool {
	return (ev.Errno == unix.EACCES || ev.Errno == unix.EROFS) && len(Requests(ev)) > 0
}

// Requests lists the paths a call named and what the call needed of each,
// in the order the kernel looks them up.
func Requests(ev *tracer.Event) []Request {
	if ev.NoArgs {
		return nil
	}
	var out []Request
	add := func(r Request, ok bool) {
		if r.Arg == "" {
			r.Arg = "path"
		}
		if ok && r.Path != "" {
			out = append(out, r)
		}
	}
	switch ev.Syscall {
	case "open":
		add(openRequest(ev, "", uint64(uintArg(ev, "flags"))), true)
	case "openat":
		base, ok := base(ev, "dirfd")
		add(openRequest(ev, base, uint64(uintArg(ev, "flags"))), ok)
	case "openat2":
		base, ok := base(ev, "dirfd")
		flags, fok := structField(ev, "how", "flags")
		add(openRequest(ev, base, flags), ok && fok)
	case "execve":
		add(Request{Path: str(ev, "path"), Final: []Need{NeedExec}}, true)
	case "execveat":
		base, ok := base(ev, "dirfd")
		add(Request{Path: str(ev, "path"), Base: base, Final: []Need{NeedExec},
			NoFollow: uintArg(ev, "flags")&unix.AT_SYMLINK_NOFOLLOW != 0}, ok)
	case "chroot", "chdir":
		add(Request{Path: str(ev, "path"), Final: []Need{NeedSearch}}, true)
	case "pivot_root":
		add(Request{Arg: "new_root", Path: str(ev, "new_root")}, true)
		add(Request{Arg: "put_old", Path: str(ev, "put_old")}, true)
	case "mount":
		flags := uintArg(ev, "flags")
		if flags&(unix.MS_BIND|unix.MS_MOVE) != 0 {
			add(Request{Arg: "source", Path: str(ev, "source")}, true)
		}
		add(Request{Arg: "target", Path: str(ev, "target")}, true)
		if str(ev, "fstype") == "overlay" {
			out = append(out, overlayRequests(str(ev, "data"))...)
		}
	case "newfstatat", "statx":
		base, ok := base(ev, "dirfd")
		add(Request{Path: str(ev, "path"), Base: base, NoFollow: uintArg(ev, "flags")&unix.AT_SYMLINK_NOFOLLOW != 0}, ok)
	case "access", "faccessat", "faccessat2":
		base, ok := base(ev, "dirfd")
		if ev.Syscall == "access" {
			ok = true
		}
		add(Request{Path: str(ev, "path"), Base: base, Final: accessNeeds(uintArg(ev, "mode"))}, ok)
	case "mkdir", "mkdirat":
		base, ok := base(ev, "dirfd")
		if ev.Syscall == "mkdir" {
			ok = true
		}
		add(Request{Path: str(ev, "path"), Base: base, Create: true, NoFollow: true}, ok)
	case "symlink", "symlinkat":
		base, ok := base(ev, "newdirfd")
		if ev.Syscall == "symlink" {
			ok = true
		}
		add(Request{Arg: "linkpath", Path: str(ev, "linkpath"), Base: base, Create: true, NoFollow: true}, ok)
	case "rmdir", "unlink":
		add(Request{Path: str(ev, "path"), Remove: true}, true)
	case "unlinkat":
		// AT_REMOVEDIR or not, the parent is checked the same way.
		base, ok := base(ev, "dirfd")
		add(Request{Path: str(ev, "path"), Base: base, Remove: true}, ok)
	case "umount2":
		// The target is looked up before any capability check
		// (ksys_umount, then can_umount): an unprivileged caller gets
		// EACCES from the lookup, EPERM only once it is found.
		add(Request{Arg: "target", Path: str(ev, "target"), NoFollow: uintArg(ev, "flags")&unix.UMOUNT_NOFOLLOW != 0}, true)
	case "fspick":
		// Only looked up; FSPICK_EMPTY_PATH with "" names the
		// descriptor itself, and add skips an empty path.
		add(Request{Path: str(ev, "path"), NoFollow: uintArg(ev, "flags")&unix.FSPICK_SYMLINK_NOFOLLOW != 0},
			mountAPIDirfd(ev, "dirfd", "path"))
	case "open_tree", "mount_setattr":
		add(Request{Path: str(ev, "path"), NoFollow: uintArg(ev, "flags")&unix.AT_SYMLINK_NOFOLLOW != 0},
			mountAPIDirfd(ev, "dirfd", "path"))
	case "move_mount":
		// Recent kernels (6.18 among them) look to_path up first,
		// older ones from_path: the order here is the newer one's,
		// so that when both refuse, the first reason is where 6.18
		// stopped. Links are followed only with
		// MOVE_MOUNT_*_SYMLINKS.
		flags := uintArg(ev, "flags")
		add(Request{Arg: "to_path", Path: str(ev, "to_path"), NoFollow: flags&unix.MOVE_MOUNT_T_SYMLINKS == 0},
			mountAPIDirfd(ev, "to_dirfd", "to_path"))
		add(Request{Arg: "from_path", Path: str(ev, "from_path"), NoFollow: flags&unix.MOVE_MOUNT_F_SYMLINKS == 0},
			mountAPIDirfd(ev, "from_dirfd", "from_path"))
	}
	return out
}

// mountAPIDirfd reports whether a path of the new mount API (open_tree,
// fspick, move_mount, mount_setattr) can be walked: an absolute path, or
// one relative to the working directory. Their descriptors are often
// detached mounts (open_tree(OPEN_TREE_CLONE), fsmount), whose recorded
// path starts at that mount's own root, not at the caller's: walking a
// path relative to one from the caller's root could blame a directory
// the call never looked at.
func mountAPIDirfd(ev *tracer.Event, fdName, pathName string) bool {
	if strings.HasPrefix(str(ev, pathName), "/") {
		return true
	}
	for i := range ev.Args {
		if a := &ev.Args[i]; a.Name == fdName {
			return a.IsATFDCWD()
		}
	}
	return false
}

// openRequest is what open(2) needs: read and/or write by the access
// mode, write to truncate, write on the directory to create.
func openRequest(ev *tracer.Event, base string, flags uint64) Request {
	r := Request{Path: str(ev, "path"), Base: base, NoFollow: flags&unix.O_NOFOLLOW != 0}
	if flags&unix.O_PATH != 0 {
		return r // only looked up
	}
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		r.Final = append(r.Final, NeedRead)
	case unix.O_WRONLY:
		r.Final = append(r.Final, NeedWrite)
	case unix.O_RDWR:
		r.Final = append(r.Final, NeedRead, NeedWrite)
	}
	if flags&unix.O_TRUNC != 0 && flags&unix.O_ACCMODE == unix.O_RDONLY {
		r.Final = append(r.Final, NeedWrite)
	}
	r.Create = flags&unix.O_CREAT != 0
	return r
}

// overlayRequests are the directories an overlay mount's data names: the
// kernel resolves each as the mounter ("failed to resolve '...'").
func overlayRequests(data string) []Request {
	var out []Request
	for _, opt := range splitUnescaped(data, ',') {
		k, v, _ := strings.Cut(opt, "=")
		switch k {
		case "lowerdir":
			for _, d := range splitUnescaped(v, ':') {
				if d != "" {
					out = append(out, Request{Arg: "lowerdir", Path: unescape(d)})
				}
			}
		case "upperdir", "workdir":
			out = append(out, Request{Arg: k, Path: unescape(v)})
		}
	}
	return out
}

// splitUnescaped splits s at sep not preceded by a backslash, as overlayfs
// parses its options.
func splitUnescaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func accessNeeds(mode uint64) []Need {
	var n []Need
	if mode&unix.R_OK != 0 {
		n = append(n, NeedRead)
	}
	if mode&unix.W_OK != 0 {
		n = append(n, NeedWrite)
	}
	if mode&unix.X_OK != 0 {
		n = append(n, NeedExec)
	}
	return n
}

// base returns the caller-view path a dirfd argument stands for: "" for
// AT_FDCWD (the working directory), and false when the descriptor's path
// is unknown or not a directory of the file system.
func base(ev *tracer.Event, name string) (string, bool) {
	for i := range ev.Args {
		a := &ev.Args[i]
		if a.Name != name || a.Kind != tracer.KindFD {
			continue
		}
		if a.IsATFDCWD() {
			return "", true
		}
		if strings.HasPrefix(a.Str, "/") {
			return a.Str, true
		}
		// A relative path needs the directory; an absolute one not.
		return "", strings.HasPrefix(pathArg(ev), "/")
	}
	return "", true
}

func pathArg(ev *tracer.Event) string {
	if p := str(ev, "path"); p != "" {
		return p
	}
	return str(ev, "linkpath")
}

func str(ev *tracer.Event, name string) string {
	for i := range ev.Args {
		a := &ev.Args[i]
		if a.Name == name && a.Kind == tracer.KindString && a.Read && !a.Fault && !a.Truncated {
			return a.Str
		}
	}
	return ""
}

func uintArg(ev *tracer.Event, name string) uint64 {
	for i := range ev.Args {
		if ev.Args[i].Name == name {
			return ev.Args[i].Raw
		}
	}
	return 0
}

func structField(ev *tracer.Event, arg, field string) (uint64, bool) {
	for i := range ev.Args {
		a := &ev.Args[i]
		if a.Name != arg || !a.Read || a.Fault {
			continue
		}
		for _, f := range a.Fields {
			if f.Name == field {
				return f.Value, true
			}
		}
	}
	return 0, false
}
