package binfmt

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/permission"
)

// view opens files as the caller would have: absolute paths inside its
// root (RESOLVE_IN_ROOT: ".." and absolute symbolic links stay in it),
// relative ones below its working directory. When its root was an
// overlay that is no longer mounted, layers stands for it: paths are
// looked up in the overlay's layers, as the permission walk does.
type view struct {
	root          permission.Root
	layers        *permission.Layers
	rootFD, cwdFD int
	opened        bool
	files         []*os.File
}

func (v *view) open() error {
	if v.opened {
		return nil
	}
	v.opened = true
	v.rootFD, v.cwdFD = -1, -1
	if v.layers != nil {
		return nil
	}
	fd, err := unix.Open(v.root.Dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open the caller's root %s: %w", v.root.Dir, err)
	}
	v.rootFD = fd
	if v.root.Cwd != "" {
		if fd, err := unix.Open(v.root.Cwd, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			v.cwdFD = fd
		}
	}
	return nil
}

func (v *view) close() {
	for _, f := range v.files {
		f.Close()
	}
	for _, fd := range []int{v.rootFD, v.cwdFD} {
		if fd >= 0 && v.opened {
			unix.Close(fd)
		}
	}
}

// openat opens p in the caller's view with flags.
func (v *view) openat(p string, flags uint64) (int, error) {
	if err := v.open(); err != nil {
		return -1, err
	}
	// openat2 takes no other flags with O_PATH.
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_MAGICLINKS}
	if flags&unix.O_PATH == 0 {
		how.Flags |= unix.O_NOCTTY
	}
	if v.layers != nil {
		if !strings.HasPrefix(p, "/") {
			return -1, fmt.Errorf("%q is relative and the caller's working directory is not known", p)
		}
		return v.layers.Open(p, int(how.Flags))
	}
	dir := v.rootFD
	if strings.HasPrefix(p, "/") {
		how.Resolve |= unix.RESOLVE_IN_ROOT
	} else {
		if v.cwdFD < 0 {
			return -1, fmt.Errorf("%q is relative and the caller's working directory is not known", p)
		}
		// Its ancestors are not known: a path that leaves it (".."
		// or an absolute link) fails with EXDEV, and says nothing.
		dir = v.cwdFD
		how.Resolve |= unix.RESOLVE_BENEATH
	}
	for {
		fd, err := unix.Openat2(dir, p, &how)
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// exists looks interp up as the kernel's open_exec did: nil if it is
// there, ENOENT if it is not.
func (v *view) exists(interp string) error {
	fd, err := v.openat(interp, unix.O_PATH)
	if err != nil {
		return err
	}
	unix.Close(fd)
	return nil
}

// header reads the start of p, and its ELF header when it starts with
// the ELF magic. Only regular files are read: a fifo would block.
func (v *view) header(p string) (*header, error) {
	fd, err := v.openat(p, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), p)
	v.files = append(v.files, f)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("stat: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("not a regular file now (mode %#o)", st.Mode)
	}
	buf := make([]byte, bufSize)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("read: %w", err)
	}
	h := &header{buf: buf[:n]}
	switch {
	case bytes.HasPrefix(h.buf, []byte(elf.ELFMAG)):
		if h.elf, err = elf.NewFile(f); err != nil {
			return nil, fmt.Errorf("ELF header: %w", err)
		}
	case bytes.HasPrefix(h.buf, []byte("#!")):
		h.script = true
	}
	return h, nil
}
