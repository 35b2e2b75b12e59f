// Package nsfork makes the few system calls that a Go process, which
// always has several threads, cannot make itself: it forks a copy of the
// process that has one thread, as the runtime does before an exec, and
// that copy makes only raw system calls before it exits.
//
// What needs it: joining a user namespace (setns(CLONE_NEWUSER) refuses
// a caller with more than one thread), to read the sysctls that are
// per user namespace (/proc/sys/user/max_*: a reader sees the values of
// its own user namespace, whatever /proc it reads them through); and a
// user namespace of ctrace's own, which a descriptor then holds.
package nsfork

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// recSize is the size of one result the child sends: a status byte, a
// length or errno byte, and the file's first bytes (a sysctl's value).
const recSize = 32

// Self marks, in ReadInUserNS's chain, ctrace's own user namespace: read
// there without a setns, which the kernel refuses for the namespace one
// is in already.
const Self = -1

// Result is one file read in one user namespace.
type Result struct {
	Value string // the file's content, up to 30 bytes
	Err   error  // why it could not be read
}

// ReadInUserNS reads each of paths as a process in each user namespace of
// chain reads it, and returns the results by namespace, then by path.
// chain holds descriptors of user namespaces (or Self), outermost first:
// the child enters them in that order, each a descendant of the last, as
// only root of an ancestor may.
func ReadInUserNS(chain []int, paths []string) ([][]Result, error) {
	ps := make([]*byte, len(paths))
	for i, p := range paths {
		b, err := unix.BytePtrFromString(p)
		if err != nil {
			return nil, fmt.Errorf("path %q: %w", p, err)
		}
		ps[i] = b
	}
	fds := make([]uintptr, len(chain))
	for i, fd := range chain {
		fds[i] = uintptr(fd) // Self becomes ^0
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	defer unix.Close(p[0])
	pid, err := fork(func() (uintptr, syscall.Errno) { return readChild(fds, ps, uintptr(p[1])) })
	unix.Close(p[1])
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(chain)*len(paths)*recSize)
	n, rerr := readFull(p[0], out)
	werr := reap(pid)
	if rerr != nil {
		return nil, fmt.Errorf("reading the child's results: %w", rerr)
	}
	res := make([][]Result, len(chain))
	for i := range res {
		res[i] = make([]Result, len(paths))
		for j := range res[i] {
			k := (i*len(paths) + j) * recSize
			if k+recSize > n {
				// The child stopped early: it could not enter
				// this namespace (its status says why).
				e := werr
				if e == nil {
					e = errors.New("the child sent no result")
				}
				res[i][j] = Result{Err: e}
				continue
			}
			r := out[k : k+recSize]
			if r[0] != 0 {
				res[i][j] = Result{Err: syscall.Errno(r[1])}
				continue
			}
			res[i][j] = Result{Value: string(r[2 : 2+min(int(r[1]), recSize-2)])}
		}
	}
	return res, nil
}

// NewUserNS returns a descriptor of a new user namespace, child of
// ctrace's own, which maps one id (root there, the overflow uid and gid
// outside): a forked child is made in it, opened
// through /proc and ended. The descriptor alone keeps it.
func NewUserNS() (int, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return -1, fmt.Errorf("pipe: %w", err)
	}
	defer unix.Close(p[0])
	pid, err := fork(func() (uintptr, syscall.Errno) { return holdChild(uintptr(p[0]), uintptr(p[1])) })
	if err != nil {
		unix.Close(p[1])
		return -1, err
	}
	// One id each, the overflow ids: the kernel makes no idmapped mount
	// with a namespace that maps nothing.
	merr := os.WriteFile(fmt.Sprintf("/proc/%d/uid_map", pid), []byte("0 65534 1\n"), 0)
	if merr == nil {
		merr = os.WriteFile(fmt.Sprintf("/proc/%d/gid_map", pid), []byte("0 65534 1\n"), 0)
	}
	fd, oerr := unix.Open(fmt.Sprintf("/proc/%d/ns/user", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if oerr == nil && merr != nil {
		unix.Close(fd)
		oerr = fmt.Errorf("mapping ids: %w", merr)
	}
	unix.Close(p[1]) // the child's read sees the end: it exits
	if err := reap(pid); err != nil && oerr == nil {
		unix.Close(fd)
		return -1, err
	}
	if oerr != nil {
		return -1, fmt.Errorf("opening the new user namespace: %w", oerr)
	}
	return fd, nil
}

// fork runs clone on one thread with every signal blocked, which the
// child inherits: no signal handler runs in the child, whose Go runtime
// has no other thread to serve it.
func fork(do func() (uintptr, syscall.Errno)) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	all, old := ^uint64(0), uint64(0)
	if _, _, e := syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK,
		uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		return 0, fmt.Errorf("blocking signals: %w", e)
	}
	pid, e := do()
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	if e != 0 {
		return 0, fmt.Errorf("clone: %w", e)
	}
	return int(pid), nil
}

// reap waits for the child and says how it ended when not well.
func reap(pid int) error {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait: %w", err)
		}
		break
	}
	if ws.Exited() && ws.ExitStatus() == 0 {
		return nil
	}
	if ws.Exited() && ws.ExitStatus() > 1 {
		// readChild's status: setns refused with this errno.
		return fmt.Errorf("entering the user namespace: %w", syscall.Errno(ws.ExitStatus()))
	}
	return fmt.Errorf("the child ended with status %v", ws)
}

func readFull(fd int, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Read(fd, b[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

// readChild forks; the child enters each namespace of fds in turn and
// sends recSize bytes for each path read there. It exits 0 when done, or
// with setns's errno (at least 2).
//
// The child runs on a copy of the calling goroutine's stack, with no
// runtime behind it: from the clone on, it calls only nosplit code (no
// stack growth, no preemption point), allocates nothing, and exits.
//
//go:noinline
//go:norace
//go:nocheckptr
//go:nosplit
func readChild(fds []uintptr, paths []*byte, w uintptr) (uintptr, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 || r != 0 {
		return r, e
	}
	var rec [recSize]byte
	for i := 0; i < len(fds); i++ {
		if fds[i] != ^uintptr(0) {
			if _, _, e := syscall.RawSyscall6(unix.SYS_SETNS, fds[i], unix.CLONE_NEWUSER, 0, 0, 0, 0); e != 0 {
				code := uintptr(e)
				if code < 2 {
					code = 255
				}
				syscall.RawSyscall6(unix.SYS_EXIT_GROUP, code, 0, 0, 0, 0, 0)
			}
		}
		for j := 0; j < len(paths); j++ {
			for k := 0; k < recSize; k++ {
				rec[k] = 0
			}
			fd, _, e := syscall.RawSyscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(paths[j])),
				unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
			if e != 0 {
				rec[0], rec[1] = 1, byte(e)
			} else {
				n, _, e := syscall.RawSyscall6(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&rec[2])), recSize-2, 0, 0, 0)
				if e != 0 {
					rec[0], rec[1] = 1, byte(e)
				} else {
					rec[1] = byte(n)
				}
				syscall.RawSyscall6(unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
			}
			syscall.RawSyscall6(unix.SYS_WRITE, w, uintptr(unsafe.Pointer(&rec[0])), recSize, 0, 0, 0)
		}
	}
	syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 0, 0, 0, 0, 0, 0)
	return 0, 0
}

// holdChild forks a child in a new user namespace that waits until the
// pipe's write end is closed, then exits.
//
//go:noinline
//go:norace
//go:nocheckptr
//go:nosplit
func holdChild(rd, w uintptr) (uintptr, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD|unix.CLONE_NEWUSER), 0, 0, 0, 0, 0)
	if e != 0 || r != 0 {
		return r, e
	}
	syscall.RawSyscall6(unix.SYS_CLOSE, w, 0, 0, 0, 0, 0)
	var b [1]byte
	for {
		_, _, e := syscall.RawSyscall6(unix.SYS_READ, rd, uintptr(unsafe.Pointer(&b[0])), 1, 0, 0, 0)
		if e != syscall.EINTR {
			break
		}
	}
	syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 0, 0, 0, 0, 0, 0)
	return 0, 0
}

// atFDCWD is AT_FDCWD as a register holds it.
const atFDCWD = ^uintptr(99) // -100
