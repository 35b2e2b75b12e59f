// Package binfmt says why the kernel refused to run a file that exists:
// an execve that failed with ENOENT because the interpreter its header
// names is missing (an ELF's PT_INTERP, a glibc binary in a musl image; a
// script's #! line, "python\r" from CRLF line ends), or with ENOEXEC
// because it is an ELF for another machine or has no format the kernel
// knows.
//
// The kernel does not say which file was missing: ctrace reads the
// file's header after the call returned, in the caller's view of the
// file system (its root and working directory, package permission's
// Root), and looks the interpreter up in that same view. The reason says
// so; when the file is gone, cannot be read, or its header does not
// explain the error, there is no reason, and Explain says why.
package binfmt

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/permission"
	"github.com/ctrace-dev/ctrace/tracer"
)

// bufSize is how much of a file the kernel reads to choose its format
// (BINPRM_BUF_SIZE): a #! line longer than that is cut.
const bufSize = 256

// maxDepth is how many interpreters deep the kernel goes (a script whose
// interpreter is a script ...) before it gives up with ELOOP.
const maxDepth = 5

// HeadLen is how much of a file of no known format a reason quotes.
const HeadLen = 16

// Applies reports whether ev is a failure whose file's header may say
// why: an execve or execveat that failed with ENOENT or ENOEXEC and
// named a path ctrace read whole.
func Applies(ev *tracer.Event) bool {
	if ev.Errno != unix.ENOENT && ev.Errno != unix.ENOEXEC {
		return false
	}
	if ev.Syscall != "execve" && ev.Syscall != "execveat" {
		return false
	}
	_, ok := target(ev)
	return ok
}

// Node is what the header is compared with: the node's machine and its
// binfmt_misc handlers.
type Node struct {
	// Machine is the node's, as uname -m names it ("x86_64").
	Machine string
	// BinfmtMisc is the binfmt_misc directory
	// (/proc/sys/fs/binfmt_misc).
	BinfmtMisc string
}

// Explain reads the header of the file ev named in c's view of the
// files (its Root, or its Layers when its root was an overlay no longer
// mounted) and returns the reason it gives, or why there is none. Only
// the files matter, not c's credentials: a header is read whoever the
// caller was. c.Via, how the view was found, is the reason's.
func Explain(ev *tracer.Event, c *permission.Caller, node Node) (*Reason, string) {
	p, _ := target(ev)
	v := &view{root: c.Root, layers: c.Layers}
	defer v.close()
	r, why := explain(ev.Errno, v, p, node)
	if r != nil {
		r.Path, r.Checked, r.Via = p, permission.CheckedAfter, c.Via
	}
	return r, why
}

// target is the path the call named, in the caller's view: absolute, or
// relative to the caller's working directory; a path relative to a dirfd
// is joined to the dirfd's path, and execveat of a descriptor alone
// (AT_EMPTY_PATH) is the descriptor's path.
func target(ev *tracer.Event) (string, bool) {
	if ev.NoArgs {
		return "", false
	}
	var p, dir string
	var pathOK, dirOK, dirCWD bool
	var flags uint64
	for i := range ev.Args {
		a := &ev.Args[i]
		switch {
		case a.Name == "path" && a.Kind == tracer.KindString:
			p, pathOK = a.Str, a.Read && !a.Fault && !a.Truncated
		case a.Name == "dirfd" && a.Kind == tracer.KindFD:
			dirCWD = a.IsATFDCWD()
			dir = strings.TrimSuffix(a.Str, " (deleted)")
			dirOK = a.Read && strings.HasPrefix(dir, "/")
		case a.Name == "flags":
			flags = a.Raw
		}
	}
	switch {
	case !pathOK:
		return "", false
	case p == "" && flags&unix.AT_EMPTY_PATH != 0 && dirOK:
		return dir, true
	case p == "":
		return "", false
	case strings.HasPrefix(p, "/") || ev.Syscall == "execve" || dirCWD:
		return p, true
	case dirOK:
		return path.Join(dir, p), true
	}
	return "", false
}

func explain(errno unix.Errno, v *view, p string, node Node) (*Reason, string) {
	// The caller's root first: a root gone with its exiting caller says
	// nothing about the file (its ENOENT is not the file's).
	if err := v.open(); err != nil {
		return nil, err.Error()
	}
	file := p
	for depth := 0; ; depth++ {
		h, err := v.header(file)
		if err != nil {
			if errors.Is(err, unix.ENOENT) && file == p {
				return nil, fmt.Sprintf("%s does not exist now: the call's own path was missing (or it changed since)", p)
			}
			return nil, fmt.Sprintf("cannot read %s: %v", file, err)
		}
		switch {
		case h.elf != nil && errno == unix.ENOEXEC:
			return foreign(file, h, node)
		case h.elf != nil:
			interp, err := h.interp()
			if err != nil {
				return nil, fmt.Sprintf("%s is an ELF whose program headers ctrace cannot read: %v", file, err)
			}
			if interp == "" {
				return nil, fmt.Sprintf("%s is an ELF without an interpreter (static): its header does not explain ENOENT", file)
			}
			r, why, _ := missing(v, file, FormatELF, interp, false)
			return r, why
		case h.script:
			interp, crlf, ok := shebang(h.buf)
			if !ok {
				return nil, fmt.Sprintf("%s has a #! line that names no interpreter", file)
			}
			if depth+1 >= maxDepth {
				return nil, fmt.Sprintf("%s: more than %d interpreters deep", p, maxDepth)
			}
			if r, why, exists := missing(v, file, FormatScript, interp, crlf); !exists {
				return r, why
			}
			// The interpreter exists: its own header may be the
			// cause (a python3 whose loader is missing).
			file = interp
		case errno == unix.ENOEXEC:
			head := h.buf
			if len(head) > HeadLen {
				head = head[:HeadLen]
			}
			return &Reason{Problem: UnknownFormat, File: file, Format: FormatNone, Head: string(head)}, ""
		default:
			return nil, fmt.Sprintf("%s is neither an ELF nor a #! script: its header does not explain ENOENT", file)
		}
	}
}

// missing returns the reason when interp, named by file's header, is
// missing in the caller's view; exists when it is there.
func missing(v *view, file, format, interp string, crlf bool) (r *Reason, why string, exists bool) {
	err := v.exists(interp)
	switch {
	case errors.Is(err, unix.ENOENT):
		return &Reason{Problem: InterpreterMissing, File: file, Format: format, Interpreter: interp, CRLF: crlf}, "", false
	case err != nil:
		return nil, fmt.Sprintf("cannot look up %s's interpreter %s: %v", file, interp, err), false
	}
	return nil, fmt.Sprintf("%s's interpreter %s exists now", file, interp), true
}

// foreign returns the reason for an ELF the kernel would not run: one for
// another machine. One for this machine was refused for a cause its
// header does not show (a class or program header the kernel rejects).
func foreign(file string, h *header, node Node) (*Reason, string) {
	m := machineName(h.elf)
	if m == node.Machine || node.Machine == "" {
		return nil, fmt.Sprintf("%s is an ELF for this node's machine (%s): its header does not explain ENOEXEC", file, m)
	}
	state, handler := binfmtMisc(node.BinfmtMisc, h.buf)
	if state == binfmtTakes {
		return nil, fmt.Sprintf("%s is an %s binary, which binfmt_misc handler %s takes now (registered since the call?)", file, m, handler)
	}
	return &Reason{Problem: ForeignMachine, File: file, Format: FormatELF, Machine: m, NodeMachine: node.Machine,
		BinfmtMisc: state, Handler: handler}, ""
}

// header is the start of a file, and its ELF header if it has one.
type header struct {
	buf    []byte
	script bool
	elf    *elf.File
}

// interp returns the ELF's PT_INTERP, "" when it has none.
func (h *header) interp() (string, error) {
	for _, p := range h.elf.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		// The kernel takes a PT_INTERP up to PATH_MAX, NUL-terminated.
		if p.Filesz < 2 || p.Filesz > unix.PathMax {
			return "", fmt.Errorf("PT_INTERP of %d bytes", p.Filesz)
		}
		b := make([]byte, p.Filesz)
		if _, err := io.ReadFull(p.Open(), b); err != nil {
			return "", fmt.Errorf("read PT_INTERP: %w", err)
		}
		if b[len(b)-1] != 0 {
			return "", errors.New("PT_INTERP is not NUL-terminated, which the kernel refuses with ENOEXEC")
		}
		return string(b[:bytes.IndexByte(b, 0)]), nil
	}
	return "", nil
}

// shebang parses a #! line as the kernel's load_script does: blanks
// after "#!" skipped, the interpreter up to the next blank or the end of
// the line. Only ' ' and '\t' are blanks to it: a "\r" before the "\n"
// is part of the name.
func shebang(buf []byte) (interp string, crlf, ok bool) {
	line := buf[2:]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	} else if len(buf) == bufSize {
		return "", false, false // cut: the kernel refuses a name it cannot see end
	}
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimLeft(line, " \t")
	if i := bytes.IndexAny(line, " \t"); i >= 0 {
		line = line[:i]
	}
	if len(line) == 0 {
		return "", false, false
	}
	return string(line), bytes.HasSuffix(line, []byte{'\r'}), true
}
