package tracer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// A syscalls:* tracepoint is attached by its id (perf_event_open's
// config), and only tracefs names it: events/syscalls/<event>/id. A node
// need not have tracefs mounted (minimal hosts, distroless images, a
// container that was not given it), but root can reach it without
// touching the node's mounts. The ways, in order:
//
//  1. a tracefs already mounted where ctrace can see it (mountinfo);
//  2. a detached instance: fsopen/fsmount give a mount that is never
//     attached to any mount tree, read through its file descriptor and
//     gone when that is closed (kernel 5.2 and later, so every kernel
//     ctrace runs on, unless a seccomp profile refuses the calls);
//  3. a mount in a mount namespace of ctrace's own, made on a locked OS
//     thread that ends with it, for where fsopen is refused but
//     unshare and mount are not.
//
// Ways 2 and 3 need CAP_SYS_ADMIN. Both mount the one tracefs superblock
// the kernel keeps, without options: since the 2022 fix "tracefs: Only
// clobber mode/uid/gid on remount if asked" (6.0, and the stable kernels
// from 5.10.142 on) that leaves its root's mode and owner as they are;
// older kernels reset them to 0700 root:root, which is what they are
// unless someone changed them.

// errNoSyscallEvents is why a reachable tracefs names no syscall
// tracepoint: the kernel was built without CONFIG_FTRACE_SYSCALLS.
var errNoSyscallEvents = errors.New("this kernel has no syscall tracepoints (tracefs has no events/syscalls: built without CONFIG_FTRACE_SYSCALLS)")

// eventIDs are the ids of the syscalls:* tracepoints that were asked for
// and exist, by event name ("sys_exit_openat"), and how tracefs was
// reached.
type eventIDs struct {
	how string
	ids map[string]uint64
}

// tracefsWay reaches a tracefs and runs read with its root (a directory
// file descriptor), saying how it was reached.
type tracefsWay struct {
	name string
	with func(read func(root int) error) (how string, err error)
}

// tracefsWays are tried in order; tests name one to try it alone.
var tracefsWays = []tracefsWay{
	{"mounted", withMountedTracefs},
	{"detached", withDetachedTracefs},
	{"namespace", withPrivateTracefs},
}

// syscallEventIDs reads the ids of the named syscalls:* events through
// the first way that reaches a tracefs. An event the kernel lacks has no
// id in the result. The error says why no way worked, each way's reason.
func syscallEventIDs(names []string) (*eventIDs, error) {
	return syscallEventIDsBy(tracefsWays, names)
}

func syscallEventIDsBy(ways []tracefsWay, names []string) (*eventIDs, error) {
	ev := &eventIDs{ids: make(map[string]uint64, len(names))}
	read := func(root int) error {
		clear(ev.ids)
		return readEventIDs(root, names, ev.ids)
	}
	var whys []string
	for _, w := range ways {
		how, err := w.with(read)
		if err == nil {
			ev.how = how
			return ev, nil
		}
		if errors.Is(err, errNoSyscallEvents) {
			// The same kernel behind every way.
			return nil, err
		}
		whys = append(whys, err.Error())
	}
	return nil, fmt.Errorf("no tracefs to read the syscall tracepoints' ids from (mount tracefs, or give ctrace CAP_SYS_ADMIN): %s", strings.Join(whys, "; "))
}

// SyscallEvents says how ctrace reaches the syscalls:* tracepoints on
// this node, or why it cannot: the raw dispatchers are used then.
func SyscallEvents() (string, error) {
	ev, err := syscallEventIDs([]string{"sys_exit_openat"})
	if err != nil {
		return "", err
	}
	if _, ok := ev.ids["sys_exit_openat"]; !ok {
		return "", errNoSyscallEvents
	}
	return ev.how, nil
}

// readEventIDs reads events/syscalls/<name>/id under root for each name.
func readEventIDs(root int, names []string, ids map[string]uint64) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(root, &st); err != nil {
		return fmt.Errorf("statfs: %w", err)
	}
	if st.Type != unix.TRACEFS_MAGIC {
		// A mount point with something else mounted over it.
		return fmt.Errorf("not a tracefs (file system magic %#x)", st.Type)
	}
	dir, err := unix.Openat(root, "events/syscalls", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return errNoSyscallEvents
	}
	if err != nil {
		return fmt.Errorf("open events/syscalls: %w", err)
	}
	defer unix.Close(dir)
	var buf [32]byte
	for _, name := range names {
		fd, err := unix.Openat(dir, name+"/id", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			continue // a syscall this kernel does not have
		}
		if err != nil {
			return fmt.Errorf("open events/syscalls/%s/id: %w", name, err)
		}
		n, err := unix.Read(fd, buf[:])
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("read events/syscalls/%s/id: %w", name, err)
		}
		id, err := strconv.ParseUint(strings.TrimSpace(string(buf[:max(n, 0)])), 10, 64)
		if err != nil {
			return fmt.Errorf("events/syscalls/%s/id: %w", name, err)
		}
		ids[name] = id
	}
	return nil
}

// withMountedTracefs reads through a tracefs mount listed in the calling
// thread's mountinfo, whatever its path (a pod may have the node's at
// /host/sys/kernel/tracing). debugfs's tracing directory is not tried:
// looking into it would automount tracefs there, in the node's tree.
func withMountedTracefs(read func(root int) error) (string, error) {
	points, err := tracefsMounts("/proc/thread-self/mountinfo")
	if err != nil {
		return "", err
	}
	if len(points) == 0 {
		return "", errors.New("tracefs is not mounted here")
	}
	var whys []string
	for _, p := range points {
		root, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			whys = append(whys, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		err = read(root)
		unix.Close(root)
		if err == nil || errors.Is(err, errNoSyscallEvents) {
			return "mounted at " + p, err
		}
		whys = append(whys, fmt.Sprintf("%s: %v", p, err))
	}
	return "", fmt.Errorf("tracefs mounted at %s", strings.Join(whys, ", "))
}

// tracefsMounts lists the mount points of whole tracefs mounts (not binds
// of a directory in one) in a mountinfo file.
func tracefsMounts(mountinfo string) ([]string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, typ := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 5 || len(typ) == 0 || typ[0] != "tracefs" || fields[3] != "/" {
			continue
		}
		points = append(points, unescapeMountinfo(fields[4]))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", mountinfo, err)
	}
	return points, nil
}

// unescapeMountinfo undoes the kernel's octal escapes of space, tab,
// newline and backslash in a mountinfo path.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// withDetachedTracefs reads through a tracefs instance of ctrace's own
// that is never attached to a mount tree: no mount table shows it, and
// closing its descriptor frees it.
func withDetachedTracefs(read func(root int) error) (string, error) {
	return "detached instance (fsopen/fsmount, never attached to the mount tree)", withDetached("tracefs", read)
}

// withDetached runs read with the root of a mount of the file system
// fstype that is never attached to a mount tree, and frees the mount.
func withDetached(fstype string, read func(root int) error) error {
	fs, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen(%s): %w", fstype, err)
	}
	defer unix.Close(fs)
	if err := unix.FsconfigCreate(fs); err != nil {
		return fmt.Errorf("fsconfig(%s, FSCONFIG_CMD_CREATE): %w", fstype, err)
	}
	// Read-only, on this mount only: MOUNT_ATTR_RDONLY does not touch
	// the superblock that the node's mounts of it share (tracefs and
	// securityfs have one each).
	mnt, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC,
		unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return fmt.Errorf("fsmount(%s): %w", fstype, err)
	}
	defer unix.Close(mnt)
	return read(mnt)
}

// SecurityFile reads a file at the root of securityfs ("lsm",
// "lockdown") where the node has it mounted at /sys/kernel/security, or
// else through a securityfs mount of ctrace's own that is never attached
// to a mount tree: a fresh node often has none mounted, and ctrace leaves
// the node's mount table as it found it. The detached way needs
// CAP_SYS_ADMIN.
func SecurityFile(name string) (string, error) {
	b, err := os.ReadFile("/sys/kernel/security/" + name)
	if err != nil {
		err = withDetached("securityfs", func(root int) error {
			fd, oerr := unix.Openat(root, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if oerr != nil {
				return fmt.Errorf("open %s in a detached securityfs: %w", name, oerr)
			}
			f := os.NewFile(uintptr(fd), name)
			defer f.Close()
			b, oerr = io.ReadAll(f)
			return oerr
		})
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// withPrivateTracefs reads through a tracefs mounted in a mount namespace
// that only one OS thread enters, and that ends with that thread.
func withPrivateTracefs(read func(root int) error) (string, error) {
	const point = "/sys/kernel/tracing" // the kernel makes it wherever it has tracefs
	err := onDisposableThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("unshare(CLONE_NEWNS): %w", err)
		}
		// Nothing mounted in the new namespace may propagate back to the
		// node's: make every mount private first.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make the private mount namespace's mounts private: %w", err)
		}
		// No MS_RDONLY: on mount(2) it would reach the shared superblock,
		// and so the node's tracefs mounts.
		// EBUSY: the top mount there is a tracefs already (rare, as
		// the mounted way comes first); it serves as well.
		if err := unix.Mount("tracefs", point, "tracefs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount tracefs at %s in a private mount namespace: %w", point, err)
		}
		root, err := unix.Open(point, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s in a private mount namespace: %w", point, err)
		}
		defer unix.Close(root)
		return read(root)
	})
	return "mounted in a private mount namespace (gone when ctrace has read the ids)", err
}

// onDisposableThread runs fn on an OS thread that ends afterwards, so
// that what fn changes about its thread (a mount namespace) reaches no
// other goroutine. The Go runtime ends a thread whose goroutine returns
// while locked to it, except the main thread, which it keeps, parked, as
// it is: and /proc/self shows the main thread's view. So fn never runs
// there: while the main thread is held, another goroutine cannot get it.
func onDisposableThread(fn func() error) error {
	done := make(chan error, 1)
	go disposable(fn, done)
	return <-done
}

func disposable(fn func() error, done chan<- error) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		inner := make(chan error, 1)
		go disposable(fn, inner)
		err := <-inner
		runtime.UnlockOSThread() // unchanged: fn did not run here
		done <- err
		return
	}
	done <- fn()
	// Returning still locked: the runtime ends the thread.
}

// tracepointLink is a program attached to a tracepoint's perf event.
type tracepointLink struct {
	perf int
	link *link.RawLink // nil where the program was set with an ioctl
}

func (l *tracepointLink) Close() error {
	var err error
	if l.link != nil {
		err = l.link.Close()
	}
	// Closing the event detaches an ioctl-set program too.
	return errors.Join(err, unix.Close(l.perf))
}

// attachTracepoint attaches prog to the tracepoint with this id, as
// link.Tracepoint does, which finds the id itself but only under a
// mounted tracefs: a system-wide perf event on CPU 0 (a tracepoint event
// fires on every CPU), and the program through a BPF link (5.15) or,
// before, the PERF_EVENT_IOC_SET_BPF ioctl.
func attachTracepoint(id uint64, prog *ebpf.Program) (*tracepointLink, error) {
	attr := unix.PerfEventAttr{
		Type:        unix.PERF_TYPE_TRACEPOINT,
		Config:      id,
		Sample_type: unix.PERF_SAMPLE_RAW,
		Sample:      1,
		Wakeup:      1,
	}
	perf, err := unix.PerfEventOpen(&attr, -1, 0, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open the tracepoint's perf event: %w", err)
	}
	l, lerr := link.AttachRawLink(link.RawLinkOptions{Target: perf, Program: prog, Attach: ebpf.AttachPerfEvent})
	if lerr == nil {
		return &tracepointLink{perf: perf, link: l}, nil
	}
	if err := unix.IoctlSetInt(perf, unix.PERF_EVENT_IOC_SET_BPF, prog.FD()); err != nil {
		unix.Close(perf)
		return nil, fmt.Errorf("attach the program (BPF link: %v; ioctl: %w)", lerr, err)
	}
	if err := unix.IoctlSetInt(perf, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
		unix.Close(perf)
		return nil, fmt.Errorf("enable the tracepoint's perf event: %w", err)
	}
	return &tracepointLink{perf: perf}, nil
}

// AttachSyscallEvents attaches prog to each named syscalls:* tracepoint
// ("sys_exit_openat") the way ctrace attaches its own programs, whether or
// not tracefs is mounted, and says how tracefs was reached. Close the
// returned links to detach. It serves programs beside ctrace's, such as
// the benchmark's empty floor programs, which must sit on exactly the
// tracepoints ctrace uses.
func AttachSyscallEvents(prog *ebpf.Program, names []string) (links []io.Closer, how string, err error) {
	ev, err := syscallEventIDs(names)
	if err != nil {
		return nil, "", err
	}
	for _, n := range names {
		id, ok := ev.ids[n]
		if !ok {
			err = fmt.Errorf("syscalls:%s: %w", n, errNoSyscallEvents)
			break
		}
		l, aerr := attachTracepoint(id, prog)
		if aerr != nil {
			err = fmt.Errorf("attach syscalls:%s: %w", n, aerr)
			break
		}
		links = append(links, l)
	}
	if err != nil {
		for _, l := range links {
			l.Close()
		}
		return nil, "", err
	}
	return links, ev.how, nil
}
