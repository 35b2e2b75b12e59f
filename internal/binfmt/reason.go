package binfmt

import (
	"github.com/ctrace-dev/ctrace/tracer"
	"github.com/ctrace-dev/ctrace/tracer/jsonw"
)

// The problems an exec reason names (Reason.Problem).
const (
	// InterpreterMissing: ENOENT of a file that exists, because the
	// interpreter its header names (an ELF's PT_INTERP, a script's #!
	// line) does not exist in the caller's view.
	InterpreterMissing = "interpreter_missing"
	// ForeignMachine: ENOEXEC of an ELF built for another machine,
	// which no binfmt_misc handler took.
	ForeignMachine = "foreign_machine"
	// UnknownFormat: ENOEXEC of a file with neither ELF magic nor #!.
	UnknownFormat = "unknown_format"
)

// ViaParent is a Reason's Via when the caller was gone and its parent,
// alive in the caller's mount and user namespaces with its ids (the shell
// that forked it), stood for its root: a caller that chrooted between its
// fork and its exec is not told apart.
const ViaParent = "parent"

// ViaImageLayers is a Reason's Via when runc init's exec of its
// container's command was read through the container's image layers
// alone: the rootfs was unmounted and its upper layer removed with the
// container (ctr run --rm) before ctrace looked. The command never ran, so
// the upper layer held only what the runtime made for the container's
// mounts, never the file or its interpreter.
const ViaImageLayers = "image_layers"

// The formats of a file's header (Reason.Format).
const (
	FormatELF    = "elf"
	FormatScript = "script"
	FormatNone   = "none"
)

// Reason: what the header of the file an execve named says about its
// failure, read after the call in the caller's view (Via).
type Reason struct {
	// Path is the file the call named, in the caller's view (made
	// absolute with the dirfd's path when it was relative to one).
	Path string
	// Problem is InterpreterMissing, ForeignMachine or UnknownFormat.
	Problem string
	// File is the file whose header is at fault: Path, or an
	// interpreter on Path's #! chain (a script run by a python3 whose
	// loader is missing names that python3).
	File string
	// Format is File's: FormatELF, FormatScript or FormatNone.
	Format string
	// Interpreter is the missing interpreter as File's header names it
	// (InterpreterMissing), with a #! line's trailing "\r" kept.
	Interpreter string
	// CRLF: the #! line ends in "\r\n", and the "\r" is part of the
	// interpreter's name to the kernel.
	CRLF bool
	// Machine is the ELF's machine and NodeMachine the node's, as
	// uname -m names them (ForeignMachine).
	Machine, NodeMachine string
	// BinfmtMisc says why no binfmt_misc handler ran the file
	// (ForeignMachine): BinfmtNoHandler, BinfmtNotMounted, BinfmtOff or
	// BinfmtHandlerOff; Handler names the handler that matches.
	BinfmtMisc, Handler string
	// Head is the start of the file (UnknownFormat), at most HeadLen
	// bytes.
	Head string
	// Checked is permission.CheckedAfter; Via how the caller's files
	// were seen (permission.ViaProc, ...).
	Checked, Via string
}

// Kind implements tracer.Reason.
func (*Reason) Kind() tracer.ReasonKind { return tracer.ReasonExec }

// Text says what the header says:
//
//	exec: /app/run.sh is a script whose interpreter /bin/bash\r does not exist (its #! line ends in a carriage return: CRLF line ends) (read after the call)
//	exec: /app/hello is an ELF whose interpreter (PT_INTERP) /lib64/ld-linux-x86-64.so.2 does not exist (read after the call)
//	exec: /app/hello is built for aarch64, and this node is x86_64; no binfmt_misc handler takes it (read after the call)
func (r *Reason) Text(*tracer.Event) string {
	s := "exec: " + r.Path
	if r.File != r.Path {
		s += " runs " + r.File + ", which"
	}
	switch r.Problem {
	case InterpreterMissing:
		if r.Format == FormatELF {
			s += " is an ELF whose interpreter (PT_INTERP) " + r.Interpreter + " does not exist"
		} else {
			s += " is a script whose interpreter " + r.Interpreter + " does not exist"
		}
		if r.CRLF {
			s += " (its #! line ends in a carriage return: CRLF line ends)"
		}
	case ForeignMachine:
		s += " is built for " + r.Machine + ", and this node is " + r.NodeMachine + "; "
		switch r.BinfmtMisc {
		case BinfmtNotMounted:
			s += "binfmt_misc is not mounted"
		case BinfmtOff:
			s += "binfmt_misc is disabled"
		case BinfmtHandlerOff:
			s += "its binfmt_misc handler " + r.Handler + " is disabled"
		default:
			s += "no binfmt_misc handler takes it"
		}
	case UnknownFormat:
		if r.Head == "" {
			s += " is empty: neither an ELF nor a #! script"
		} else {
			// The renderer escapes what is not printable.
			s += " is neither an ELF nor a #! script (it starts \"" + r.Head + "\")"
		}
	}
	if r.Checked != "" {
		s += " (read after the call)"
	}
	return s
}

// AppendJSON implements tracer.Reason.
func (r *Reason) AppendJSON(b []byte) []byte {
	b = jsonw.StrLit(b, `"path":`, r.Path)
	b = jsonw.StrLit(b, `"problem":`, r.Problem)
	b = jsonw.StrLit(b, `"file":`, r.File)
	b = jsonw.StrLit(b, `"format":`, r.Format)
	if r.Interpreter != "" {
		b = jsonw.StrLit(b, `"interpreter":`, r.Interpreter)
	}
	if r.CRLF {
		b = jsonw.BoolLit(b, `"crlf":`, true)
	}
	if r.Machine != "" {
		b = jsonw.StrLit(b, `"machine":`, r.Machine)
		b = jsonw.StrLit(b, `"node_machine":`, r.NodeMachine)
		b = jsonw.StrLit(b, `"binfmt_misc":`, r.BinfmtMisc)
		if r.Handler != "" {
			b = jsonw.StrLit(b, `"handler":`, r.Handler)
		}
	}
	if r.Problem == UnknownFormat {
		b = jsonw.StrLit(b, `"head":`, r.Head)
	}
	b = jsonw.StrLit(b, `"checked":`, r.Checked)
	return jsonw.StrLit(b, `"via":`, r.Via)
}
