package exectest

import "debug/elf"

// Loader is the dynamic loader of the node's glibc binaries.
const Loader = "/lib64/ld-linux-x86-64.so.2"

// MissingLoader is a loader present in no root.
const MissingLoader = "/lib64/ld-nonex-x86-64.so.2"

// nativeMachine is this node's machine, as ELF headers name it.
const nativeMachine = elf.EM_X86_64

// foreignMachine is a machine this node's kernel does not run, and
// ForeignMachine its name in the exec reason.
const (
	foreignMachine = elf.EM_AARCH64
	ForeignMachine = "aarch64"
)
