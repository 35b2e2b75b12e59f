package exectest

import "debug/elf"

// Loader is the dynamic loader of the node's glibc binaries.
const Loader = "/lib64/ld-linux-x86-64.so.2"

// MissingLoader is the loader a patched copy of a glibc binary asks for:
// as long as Loader, so that the ELF's layout is unchanged, and present
// in no root.
const MissingLoader = "/lib64/ld-nonex-x86-64.so.2"

// foreignMachine is a machine this node's kernel does not run, and
// ForeignMachine its name in the exec reason.
const (
	foreignMachine = elf.EM_AARCH64
	ForeignMachine = "aarch64"
)
