package xlat

import (
	"encoding/binary"
	"strconv"

	"golang.org/x/sys/unix"
)

// Field is one decoded field of a structure read from user memory.
type Field struct {
	Name  string // the C field name, e.g. "flags"
	Value uint64 // the raw value
	// Text is how strace prints the value when that is not plain
	// decimal: flag and enum names, an octal mode, a signal name, an
	// address in hex or "NULL". "" means Value in decimal.
	Text string
}

// structMore names the field that ends a structure which user memory held
// only part of; formatStruct prints it as "...".
const structMore = "..."

// u64Fields reads the first n native-endian u64 fields of a structure from
// b, as many as b holds whole.
func u64Fields(b []byte, n int) []uint64 {
	v := make([]uint64, min(len(b)/8, n))
	for i := range v {
		v[i] = binary.NativeEndian.Uint64(b[i*8:])
	}
	return v
}

func endStruct(fs []Field, cut bool) []Field {
	if cut {
		fs = append(fs, Field{Name: structMore})
	}
	return fs
}

// decodeOpenHow decodes openat2(2)'s struct open_how
// (include/uapi/linux/openat2.h). Like strace it leaves mode out when it
// is 0 and the flags create no file.
func decodeOpenHow(b []byte) []Field {
	v := u64Fields(b, 3)
	var fs []Field
	if len(v) > 0 {
		fs = append(fs, Field{"flags", v[0], openFlags64(v[0])})
	}
	if len(v) > 1 && (v[0]&(unix.O_CREAT|oTmpfileBit) != 0 || v[1] != 0) {
		fs = append(fs, Field{"mode", v[1], fileMode64(v[1])})
	}
	if len(v) > 2 {
		fs = append(fs, Field{"resolve", v[2], resolveFlags(v[2])})
	}
	return endStruct(fs, len(b) < unix.SizeofOpenHow)
}

// decodeCloneArgs decodes clone3(2)'s struct clone_args
// (include/uapi/linux/sched.h). Like strace it shows a pointer only when
// a flag makes the kernel use it, set_tid and set_tid_size only when one
// is set, and cgroup only when it is set or CLONE_INTO_CGROUP is.
//
// A copy of at least CLONE_ARGS_SIZE_VER0 bytes is a whole structure of
// an older version: the kernel reads the fields it lacks as 0, and so
// does this.
func decodeCloneArgs(b []byte) []Field {
	const nfields = unix.CLONE_ARGS_SIZE_VER2 / 8
	cut := len(b) < unix.CLONE_ARGS_SIZE_VER0
	v := u64Fields(b, nfields)
	if !cut {
		// What a short copy ends within is zero, as in the kernel's
		// copy_struct_from_user().
		var full [unix.CLONE_ARGS_SIZE_VER2]byte
		copy(full[:], b)
		v = u64Fields(full[:], nfields)
	}
	if len(v) == 0 {
		return endStruct(nil, cut)
	}
	flags := v[0]
	fs := []Field{{"flags", flags, cloneArgsFlags(flags)}}
	has := func(i int) bool { return i < len(v) }
	addr := func(i int, name string) {
		fs = append(fs, Field{name, v[i], ptr(v[i])})
	}
	if has(1) && flags&unix.CLONE_PIDFD != 0 {
		addr(1, "pidfd")
	}
	if has(2) && flags&(unix.CLONE_CHILD_SETTID|unix.CLONE_CHILD_CLEARTID) != 0 {
		addr(2, "child_tid")
	}
	if has(3) && flags&unix.CLONE_PARENT_SETTID != 0 {
		addr(3, "parent_tid")
	}
	if has(4) {
		sig, _ := signalNameOK(v[4])
		fs = append(fs, Field{"exit_signal", v[4], sig})
	}
	if has(5) {
		addr(5, "stack")
	}
	if has(6) {
		fs = append(fs, Field{"stack_size", v[6], hexValue(v[6])})
	}
	if has(7) && flags&unix.CLONE_SETTLS != 0 {
		addr(7, "tls")
	}
	if cut {
		return endStruct(fs, cut)
	}
	if v[8] != 0 || v[9] != 0 {
		addr(8, "set_tid")
		fs = append(fs, Field{"set_tid_size", v[9], ""})
	}
	// Only a copy that reaches cgroup shows it, even as 0.
	if len(b) > unix.CLONE_ARGS_SIZE_VER1 && (v[10] != 0 || flags&unix.CLONE_INTO_CGROUP != 0) {
		fs = append(fs, Field{"cgroup", v[10], ""})
	}
	return fs
}

// decodeMountAttr decodes mount_setattr(2)'s struct mount_attr
// (include/uapi/linux/mount.h).
func decodeMountAttr(b []byte) []Field {
	v := u64Fields(b, 4)
	var fs []Field
	for i, name := range []string{"attr_set", "attr_clr", "propagation", "userns_fd"}[:len(v)] {
		var text string
		switch i {
		case 0, 1:
			text = mountAttrFlags64(v[i])
		case 2:
			text = mountPropagation(v[i])
		}
		fs = append(fs, Field{name, v[i], text})
	}
	return endStruct(fs, len(b) < unix.MOUNT_ATTR_SIZE_VER0)
}

// formatStruct prints decoded fields as strace prints a structure:
// "{flags=O_RDONLY|O_CLOEXEC, resolve=RESOLVE_BENEATH}", with a "..." where
// user memory ran out.
func formatStruct(fs []Field) string { return string(AppendFields(nil, fs)) }

// AppendFields appends decoded fields as strace prints a structure.
func AppendFields(b []byte, fs []Field) []byte {
	b = append(b, '{')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ", "...)
		}
		if f.Name == structMore {
			b = append(b, structMore...)
			continue
		}
		b = append(b, f.Name...)
		b = append(b, '=')
		if f.Text != "" {
			b = append(b, f.Text...)
		} else {
			b = strconv.AppendUint(b, f.Value, 10)
		}
	}
	return append(b, '}')
}
