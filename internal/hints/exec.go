package hints

import (
	"fmt"
	"strings"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/binfmt"
	"github.com/ctrace-dev/ctrace/tracer"
)

// where names the image the file came from and the container, when known:
// " in image X (container Y)", " in container Y", "".
func where(c *correlate.Container) string {
	switch {
	case c == nil:
		return ""
	case c.Image != "":
		return " in image " + c.Image + " (container " + c.String() + ")"
	}
	return " in container " + c.String()
}

func execReason(ev *tracer.Event, problem string) *binfmt.Reason {
	r, ok := tracer.FirstReason[*binfmt.Reason](ev)
	if !ok || r.Problem != problem {
		return nil
	}
	return r
}

// execInterpreterMissing: an ELF's loader is the C library's, so a
// missing one means a binary built for another libc; a script's
// interpreter is a program to install, or a line to fix.
func execInterpreterMissing(ev *tracer.Event, c *correlate.Container) string {
	r := execReason(ev, binfmt.InterpreterMissing)
	if r == nil {
		return ""
	}
	switch {
	case r.Format == binfmt.FormatELF:
		libc := ""
		switch {
		case strings.Contains(r.Interpreter, "ld-linux"):
			libc = " (glibc's loader: a glibc binary in a musl or libc-less image, such as Alpine or distroless static)"
		case strings.Contains(r.Interpreter, "ld-musl"):
			libc = " (musl's loader: a musl binary in an image without musl)"
		}
		return fmt.Sprintf("%s was linked against a C library whose loader %s is not there%s%s. Build it for the "+
			"image's C library, or statically (Go: CGO_ENABLED=0), or use a base image that has %s.",
			r.File, r.Interpreter, where(c), libc, r.Interpreter)
	case r.CRLF:
		return fmt.Sprintf("the #! line of %s%s ends in a carriage return (the file has Windows CRLF line ends), which the "+
			"kernel takes as the last character of the interpreter's name. Convert the file to LF line ends (dos2unix) "+
			"where the image is built, and keep it LF (.gitattributes: eol=lf).", r.File, where(c))
	}
	return fmt.Sprintf("the #! line of %s names %s, which is not there%s. Install it in the image, or point the "+
		"#! line at an interpreter the image has (#!/bin/sh, or #!/usr/bin/env NAME to find it on PATH).",
		r.File, r.Interpreter, where(c))
}

func execForeignMachine(ev *tracer.Event, c *correlate.Container) string {
	r := execReason(ev, binfmt.ForeignMachine)
	if r == nil {
		return ""
	}
	variant := "the " + r.NodeMachine + " build"
	if p := binfmt.Platform(r.NodeMachine); p != "" {
		variant = "the image's " + p + " variant (a multi-arch image pulled with --platform " + p + ", or one built for it)"
	}
	emulate := "or register a binfmt_misc handler for " + r.Machine + " (qemu-user-static) to run it emulated."
	switch r.BinfmtMisc {
	case binfmt.BinfmtHandlerOff:
		emulate = "or enable its binfmt_misc handler (echo 1 > /proc/sys/fs/binfmt_misc/" + r.Handler + ")."
	case binfmt.BinfmtNotMounted:
		emulate = "or mount binfmt_misc (mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc) and register a " +
			"handler for " + r.Machine + " (qemu-user-static) to run it emulated."
	case binfmt.BinfmtOff:
		emulate = "or enable binfmt_misc (echo 1 > /proc/sys/fs/binfmt_misc/status) with a handler for " + r.Machine + "."
	}
	return fmt.Sprintf("%s%s is built for %s and this node is %s: run %s, %s", r.File, where(c), r.Machine, r.NodeMachine, variant, emulate)
}

func execUnknownFormat(ev *tracer.Event, c *correlate.Container) string {
	r := execReason(ev, binfmt.UnknownFormat)
	if r == nil {
		return ""
	}
	if r.Head == "" {
		return fmt.Sprintf("%s%s is empty: the image holds a file that was never written (a failed copy or build step); rebuild it.", r.File, where(c))
	}
	return fmt.Sprintf("%s%s has no #! line, and only a shell runs such a file (as a shell script); execve does not. "+
		"Make its first line #!/bin/sh (or its interpreter's), or run it through its interpreter (sh %s).", r.File, where(c), r.File)
}
