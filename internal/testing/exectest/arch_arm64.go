package exectest

import "debug/elf"

// Loader is the dynamic loader of the node's glibc binaries.
const Loader = "/lib/ld-linux-aarch64.so.1"

// MissingLoader is a loader present in no root.
const MissingLoader = "/lib/ld-nonex-aarch64.so.1"

// nativeMachine is this node's machine, as ELF headers name it.
const nativeMachine = elf.EM_AARCH64

// foreignMachine is a machine this node's kernel does not run, and
// ForeignMachine its name in the exec reason.
const (
	foreignMachine = elf.EM_X86_64
	ForeignMachine = "x86_64"
)
