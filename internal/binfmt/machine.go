package binfmt

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// NodeMachine is this node's machine as uname -m names it.
func NodeMachine() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Machine[:])
}

// machineName names an ELF's machine as uname -m would on a node of it,
// so that it compares with NodeMachine.
func machineName(f *elf.File) string {
	is64 := f.Class == elf.ELFCLASS64
	switch f.Machine {
	case elf.EM_X86_64:
		return "x86_64"
	case elf.EM_386:
		return "i386"
	case elf.EM_AARCH64:
		return "aarch64"
	case elf.EM_ARM:
		return "arm"
	case elf.EM_RISCV:
		if is64 {
			return "riscv64"
		}
		return "riscv32"
	case elf.EM_PPC64:
		if f.Data == elf.ELFDATA2LSB {
			return "ppc64le"
		}
		return "ppc64"
	case elf.EM_S390:
		if is64 {
			return "s390x"
		}
		return "s390"
	case elf.EM_LOONGARCH:
		return "loongarch64"
	case elf.EM_MIPS:
		if is64 {
			return "mips64"
		}
		return "mips"
	}
	return strings.ToLower(strings.TrimPrefix(f.Machine.String(), "EM_"))
}

// Platform is the OCI platform of a machine as uname -m names it
// ("linux/arm64" for aarch64), "" when ctrace does not know it.
func Platform(machine string) string {
	if a, ok := map[string]string{
		"x86_64": "amd64", "i386": "386", "aarch64": "arm64", "arm": "arm", "riscv64": "riscv64",
		"ppc64le": "ppc64le", "s390x": "s390x", "loongarch64": "loong64", "mips64": "mips64",
	}[machine]; ok {
		return "linux/" + a
	}
	return ""
}

// What binfmt_misc did with a file (Reason.BinfmtMisc).
const (
	// BinfmtNoHandler: no registered handler matches the file.
	BinfmtNoHandler = "no_handler"
	// BinfmtNotMounted: binfmt_misc is not mounted, so it runs nothing.
	BinfmtNotMounted = "not_mounted"
	// BinfmtOff: binfmt_misc is disabled as a whole (its status file).
	BinfmtOff = "disabled"
	// BinfmtHandlerOff: a handler matches, and is disabled.
	BinfmtHandlerOff = "handler_disabled"
	// binfmtTakes: an enabled handler matches now; not a reason.
	binfmtTakes = "takes"
)

// binfmtMisc says whether a handler registered in dir (the node's
// /proc/sys/fs/binfmt_misc, the initial user namespace's set) takes a
// file that starts with buf, by magic and mask. Handlers by extension
// are not matched: an ELF by name is rare, and the kernel would have
// tried them as well.
func binfmtMisc(dir string, buf []byte) (state, handler string) {
	var st unix.Statfs_t
	if dir == "" || unix.Statfs(dir, &st) != nil || st.Type != unix.BINFMTFS_MAGIC {
		return BinfmtNotMounted, ""
	}
	if b, err := os.ReadFile(filepath.Join(dir, "status")); err == nil && strings.TrimSpace(string(b)) == "disabled" {
		return BinfmtOff, ""
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return BinfmtNoHandler, ""
	}
	state = BinfmtNoHandler
	for _, e := range entries {
		if e.Name() == "status" || e.Name() == "register" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		enabled, ok := handlerMatches(string(b), buf)
		switch {
		case ok && enabled:
			return binfmtTakes, e.Name()
		case ok:
			state, handler = BinfmtHandlerOff, e.Name()
		}
	}
	return state, handler
}

// handlerMatches parses a binfmt_misc handler's file ("enabled",
// "offset 0", "magic 7f454c46...", "mask ffffff...") and reports whether
// its magic matches buf, and whether it is enabled.
func handlerMatches(text string, buf []byte) (enabled, match bool) {
	var offset int
	var magic, mask []byte
	for _, line := range strings.Split(text, "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "enabled":
			enabled = true
		case "offset":
			offset, _ = strconv.Atoi(v)
		case "magic":
			magic, _ = hex.DecodeString(v)
		case "mask":
			mask, _ = hex.DecodeString(v)
		}
	}
	if len(magic) == 0 || offset < 0 || offset+len(magic) > len(buf) {
		return enabled, false
	}
	got := bytes.Clone(buf[offset : offset+len(magic)])
	want := bytes.Clone(magic)
	if len(mask) == len(magic) {
		for i := range got {
			got[i] &= mask[i]
			want[i] &= mask[i]
		}
	}
	return enabled, bytes.Equal(got, want)
}
