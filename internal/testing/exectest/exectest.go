// Package exectest makes files that execve refuses, each for one cause
// the exec reason names, under a directory that stands for a root (a
// container's rootfs, a chroot, or the node's own /tmp).
package exectest

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Case is one file and what ctrace must say of its exec.
type Case struct {
	// Name names the case in a test; Path is the file in the root's
	// view (DIR/crlf.sh).
	Name, Path string
	// Errno is what execve of Path returns.
	Errno unix.Errno
	// Problem is the exec reason's problem, "" for no reason; File,
	// Interpreter, CRLF and Machine are its other fields that the test
	// checks.
	Problem, File, Interpreter, Machine string
	CRLF                                bool
	// Hint is the hint rule, "" for none.
	Hint string
}

// Build writes the cases' files into dir, a directory in root's view
// ("/x"; the root is "/" for the node's own files), and returns the
// cases, their paths in root's view. The ELF cases are DynamicELF files of
// this node's machine: glibc asks for the node's glibc loader, which
// fails only in a root without it (a busybox image, the kernel matrix's
// guests), and so is a case only there; patched asks for one present in
// no root.
func Build(root, dir string) ([]Case, error) {
	if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
		return nil, err
	}
	_, err := os.Stat(filepath.Join(root, Loader))
	rootHasLoader := err == nil
	files := []struct {
		name string
		data []byte
	}{
		{"crlf.sh", []byte("#!/bin/sh\r\necho hi\r\n")},
		{"nointerp.sh", []byte("#! /nonexistent/interp -x\necho hi\n")},
		{"patched", DynamicELF(MissingLoader)},
		{"chain.sh", []byte("#!" + dir + "/patched\n")},
		{"foreign", ELF(foreignMachine)},
		{"text", []byte("echo hi\n")},
		{"glibc", DynamicELF(Loader)},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(root, dir, f.name), f.data, 0o755); err != nil {
			return nil, err
		}
	}
	cases := []Case{
		{Name: "crlf", Path: dir + "/crlf.sh", Errno: unix.ENOENT, Problem: "interpreter_missing", File: dir + "/crlf.sh",
			Interpreter: "/bin/sh\r", CRLF: true, Hint: "exec-interpreter-missing"},
		{Name: "script-interpreter-missing", Path: dir + "/nointerp.sh", Errno: unix.ENOENT, Problem: "interpreter_missing",
			File: dir + "/nointerp.sh", Interpreter: "/nonexistent/interp", Hint: "exec-interpreter-missing"},
		{Name: "elf-interpreter-missing", Path: dir + "/patched", Errno: unix.ENOENT, Problem: "interpreter_missing",
			File: dir + "/patched", Interpreter: MissingLoader, Hint: "exec-interpreter-missing"},
		{Name: "script-of-elf-without-loader", Path: dir + "/chain.sh", Errno: unix.ENOENT, Problem: "interpreter_missing",
			File: dir + "/patched", Interpreter: MissingLoader, Hint: "exec-interpreter-missing"},
		{Name: "foreign-machine", Path: dir + "/foreign", Errno: unix.ENOEXEC, Problem: "foreign_machine", File: dir + "/foreign",
			Machine: ForeignMachine, Hint: "exec-foreign-machine"},
		{Name: "unknown-format", Path: dir + "/text", Errno: unix.ENOEXEC, Problem: "unknown_format", File: dir + "/text",
			Hint: "exec-unknown-format"},
		// The negative case: ENOENT of a file that is not there is the
		// file's own; no interpreter is to blame.
		{Name: "truly-missing", Path: dir + "/missing", Errno: unix.ENOENT},
	}
	if !rootHasLoader {
		cases = append(cases, Case{Name: "glibc-in-image-without-glibc", Path: dir + "/glibc", Errno: unix.ENOENT,
			Problem: "interpreter_missing", File: dir + "/glibc", Interpreter: Loader, Hint: "exec-interpreter-missing"})
	}
	return cases, nil
}

// ELF is the smallest file the kernel takes for an executable of machine:
// a 64-bit little-endian ELF header and no program headers. A kernel of
// another machine refuses it with ENOEXEC (elf_check_arch) before it
// looks further.
func ELF(machine elf.Machine) []byte {
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* LSB */, 1 /* EV_CURRENT */, 0})
	b.Write(make([]byte, 8))
	for _, v := range []any{
		uint16(2),                              // e_type: ET_EXEC
		uint16(machine),                        // e_machine
		uint32(1),                              // e_version
		uint64(0x400000), uint64(0), uint64(0), // e_entry, e_phoff, e_shoff
		uint32(0),                         // e_flags
		uint16(64), uint16(56), uint16(0), // e_ehsize, e_phentsize, e_phnum
		uint16(64), uint16(0), uint16(0), // e_shentsize, e_shnum, e_shstrndx
	} {
		if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
			panic(err) // writing fixed-size values to a buffer does not fail
		}
	}
	return b.Bytes()
}

// DynamicELF is the smallest executable of this node's machine that asks
// for interp as its loader (PT_INTERP): the kernel opens the loader
// before it maps anything, so a missing one fails the exec with ENOENT,
// as it does for a real dynamic binary. It never runs: its one PT_LOAD
// holds no code.
func DynamicELF(interp string) []byte {
	const ehdr, phdr, base = 64, 56, 0x400000
	name := append([]byte(interp), 0)
	size := uint64(ehdr + 2*phdr + len(name))
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* LSB */, 1 /* EV_CURRENT */, 0})
	b.Write(make([]byte, 8))
	for _, v := range []any{
		uint16(elf.ET_EXEC), uint16(nativeMachine), uint32(1),
		uint64(base + size), uint64(ehdr), uint64(0), // e_entry, e_phoff, e_shoff
		uint32(0),                             // e_flags
		uint16(ehdr), uint16(phdr), uint16(2), // e_ehsize, e_phentsize, e_phnum
		uint16(64), uint16(0), uint16(0), // e_shentsize, e_shnum, e_shstrndx
		// PT_INTERP: the loader's name, after the program headers.
		uint32(elf.PT_INTERP), uint32(elf.PF_R),
		uint64(ehdr + 2*phdr), uint64(base + ehdr + 2*phdr), uint64(base + ehdr + 2*phdr),
		uint64(len(name)), uint64(len(name)), uint64(1),
		// PT_LOAD: the whole file.
		uint32(elf.PT_LOAD), uint32(elf.PF_R | elf.PF_X),
		uint64(0), uint64(base), uint64(base), size, size, uint64(0x1000),
	} {
		if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
			panic(err) // writing fixed-size values to a buffer does not fail
		}
	}
	b.Write(name)
	return b.Bytes()
}

// Exec execs path with argv [path] and returns its errno, 0 if it ran
// (which replaces the process: only for paths that fail).
func Exec(path string) unix.Errno {
	err := unix.Exec(path, []string{path}, nil)
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}
