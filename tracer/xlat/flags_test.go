package xlat

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// The expected strings below are what strace prints for the same values.

// flagCase is one value and its rendering.
type flagCase struct {
	name string
	in   uint64
	want string
}

func runFlagCases(t *testing.T, render func(uint64) string, cases []flagCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := render(tc.in); got != tc.want {
				t.Errorf("%#x: got %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestFlagTables checks what formatFlags relies on in every table: no zero
// entry, no name twice, and an entry that covers several bits listed
// before any entry whose bits it contains (else the composite would never
// print).
func TestFlagTables(t *testing.T) {
	tables := map[string][]flagName{
		"mount": mountFlagNames, "umount": umountFlagNames, "open": openFlagNames,
		"resolve": resolveFlagNames, "clone": cloneFlagNames, "cloneArgs": cloneArgsFlagNames,
		"unshare": unshareFlagNames, "nsType": nsTypeNames, "moveMount": moveMountFlagNames,
		"fsopen": fsopenFlagNames, "fsmount": fsmountFlagNames, "fspick": fspickFlagNames,
		"mountAttr": mountAttrFlagNames, "fsmountAttr": fsmountAttrFlagNames,
		"openTree": openTreeFlagNames, "at": atFlagNames,
	}
	for name, table := range tables {
		t.Run(name, func(t *testing.T) {
			seen := map[string]bool{}
			for i, f := range table {
				if f.val == 0 {
					t.Errorf("%s is 0", f.name)
				}
				if seen[f.name] {
					t.Errorf("%s listed twice", f.name)
				}
				seen[f.name] = true
				for _, g := range table[:i] {
					if g.val != f.val && g.val&f.val == g.val {
						t.Errorf("%s (%#x) comes after %s (%#x), which it contains", f.name, f.val, g.name, g.val)
					}
				}
			}
		})
	}
	// An enum must not name a value twice.
	for name, table := range map[string][]flagName{"fsconfig": fsconfigCmdNames, "propagation": propagationNames} {
		t.Run(name, func(t *testing.T) {
			seen := map[uint64]string{}
			for _, f := range table {
				if other, ok := seen[f.val]; ok {
					t.Errorf("%s and %s are both %#x", other, f.name, f.val)
				}
				seen[f.val] = f.name
			}
		})
	}
}

// testTable has a composite entry ahead of the bits it contains, as
// O_TMPFILE and MOUNT_ATTR__ATIME are.
var testTable = []flagName{
	{0x3, "T_BOTH"},
	{0x1, "T_ONE"},
	{0x2, "T_TWO"},
	{0x8, "T_EIGHT"},
	{1 << 63, "T_TOP"},
}

func TestFormatFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      uint64
		unknown string
		want    string
	}{
		{"zero", 0, "T_???", "0"},
		{"zero without comment", 0, "", "0"},
		{"single", 0x8, "T_???", "T_EIGHT"},
		{"part of a composite", 0x1, "T_???", "T_ONE"},
		{"composite", 0x3, "T_???", "T_BOTH"},
		{"composite and more", 0xb, "T_???", "T_BOTH|T_EIGHT"},
		{"part and more", 0xa, "T_???", "T_TWO|T_EIGHT"},
		{"known and unknown", 0x19, "T_???", "T_ONE|T_EIGHT|0x10"},
		{"unknown only", 0x10, "T_???", "0x10 /* T_??? */"},
		{"unknown only, no comment", 0x30, "", "0x30"},
		{"bit 63", 1<<63 | 1, "T_???", "T_ONE|T_TOP"},
		{"unknown high bits", 1<<62 | 2, "T_???", "T_TWO|0x4000000000000000"},
		{"all bits", ^uint64(0), "T_???", "T_BOTH|T_EIGHT|T_TOP|0x7ffffffffffffff4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatFlags(tc.in, testTable, tc.unknown); got != tc.want {
				t.Errorf("formatFlags(%#x) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestFormatEnum(t *testing.T) {
	withZero := []flagName{{0, "E_ZERO"}, {1, "E_ONE"}, {0x20, "E_BIG"}}
	for _, tc := range []struct {
		name    string
		table   []flagName
		in      uint64
		unknown string
		want    string
	}{
		{"named zero", withZero, 0, "E_???", "E_ZERO"},
		{"named", withZero, 1, "E_???", "E_ONE"},
		{"named, not a bit", withZero, 0x20, "E_???", "E_BIG"},
		{"no bit matching", withZero, 0x21, "E_???", "0x21 /* E_??? */"},
		{"unknown", withZero, 2, "E_???", "0x2 /* E_??? */"},
		{"unknown, no comment", withZero, 2, "", "0x2"},
		{"unnamed zero", testTable, 0, "E_???", "0 /* E_??? */"},
		{"64 bits", withZero, 1 << 40, "E_???", "0x10000000000 /* E_??? */"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatEnum(tc.in, tc.table, tc.unknown); got != tc.want {
				t.Errorf("formatEnum(%#x) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMountFlags(t *testing.T) {
	runFlagCases(t, mountFlags, []flagCase{
		{"zero", 0, "0"},
		{"single", unix.MS_NOSUID, "MS_NOSUID"},
		{"combination", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "MS_NOSUID|MS_NODEV|MS_NOEXEC"},
		{"bit 31 is MS_NOUSER", unix.MS_RDONLY | unix.MS_NOSUID | 0x80000000, "MS_RDONLY|MS_NOSUID|MS_NOUSER"},
		{"unknown bit with known", unix.MS_RDONLY | unix.MS_NOSUID | 0x200, "MS_RDONLY|MS_NOSUID|0x200"},
		{"unknown bit alone", 0x200, "0x200 /* MS_??? */"},
		{"bits above 32 kept", unix.MS_BIND | 1<<40, "MS_BIND|0x10000000000"},
		{"bit 15 is MS_SILENT", unix.MS_NOSYMFOLLOW | unix.MS_SILENT | unix.MS_LAZYTIME, "MS_NOSYMFOLLOW|MS_SILENT|MS_LAZYTIME"},
		{"remount bind read-only", unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY, "MS_RDONLY|MS_REMOUNT|MS_BIND"},
		{"recursive bind", unix.MS_BIND | unix.MS_REC, "MS_BIND|MS_REC"},
		{"move", unix.MS_MOVE, "MS_MOVE"},
		{"shared", unix.MS_SHARED, "MS_SHARED"},
		{"private", unix.MS_PRIVATE, "MS_PRIVATE"},
		{"recursive private", unix.MS_PRIVATE | unix.MS_REC, "MS_REC|MS_PRIVATE"},
		{"recursive slave", unix.MS_SLAVE | unix.MS_REC, "MS_REC|MS_SLAVE"},
		{"recursive shared", unix.MS_SHARED | unix.MS_REC, "MS_REC|MS_SHARED"},
		{"unbindable", unix.MS_UNBINDABLE, "MS_UNBINDABLE"},
		{"atime flags", unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME,
			"MS_NOATIME|MS_NODIRATIME|MS_RELATIME|MS_STRICTATIME"},
		{"kernel-internal flags", unix.MS_KERNMOUNT | unix.MS_SUBMOUNT | unix.MS_NOREMOTELOCK | unix.MS_NOSEC | unix.MS_BORN | unix.MS_ACTIVE,
			"MS_KERNMOUNT|MS_SUBMOUNT|MS_NOREMOTELOCK|MS_NOSEC|MS_BORN|MS_ACTIVE"},
		{"magic alone", unix.MS_MGC_VAL, "MS_MGC_VAL"},
		{"magic and flags", unix.MS_MGC_VAL | unix.MS_RDONLY | unix.MS_NOSUID, "MS_MGC_VAL|MS_RDONLY|MS_NOSUID"},
		{"magic and an unknown bit", unix.MS_MGC_VAL | 0x200, "MS_MGC_VAL|0x200 /* MS_??? */"},
		{"magic drops bits above 32", unix.MS_MGC_VAL | unix.MS_BIND | 1<<40, "MS_MGC_VAL|MS_BIND"},
		{"magic with only high bits", unix.MS_MGC_VAL | 1<<32, "MS_MGC_VAL"},
		// One bit off the magic: these are flags, bits 16-31 named.
		{"not the magic", 0xc0ec0000, "MS_PRIVATE|MS_SLAVE|MS_RELATIME|MS_KERNMOUNT|MS_I_VERSION|MS_ACTIVE|MS_NOUSER"},
	})
}

func TestUmountFlags(t *testing.T) {
	runFlagCases(t, umountFlags, []flagCase{
		{"zero", 0, "0"},
		{"single", unix.MNT_DETACH, "MNT_DETACH"},
		{"combination", unix.MNT_FORCE | unix.MNT_DETACH | unix.UMOUNT_NOFOLLOW, "MNT_FORCE|MNT_DETACH|UMOUNT_NOFOLLOW"},
		{"expire", unix.MNT_EXPIRE, "MNT_EXPIRE"},
		{"known and unknown", unix.MNT_EXPIRE | 0x10, "MNT_EXPIRE|0x10"},
		{"unknown alone", 0x100, "0x100 /* MNT_??? */"},
		{"an int: bits above 32 ignored", 1<<32 | unix.MNT_FORCE, "MNT_FORCE"},
	})
}

func TestOpenFlags(t *testing.T) {
	runFlagCases(t, openFlags, []flagCase{
		{"zero is O_RDONLY", 0, "O_RDONLY"},
		{"O_WRONLY", unix.O_WRONLY, "O_WRONLY"},
		{"O_RDWR", unix.O_RDWR, "O_RDWR"},
		{"access mode 3", unix.O_ACCMODE, "O_ACCMODE"},
		{"read, close-on-exec", unix.O_RDONLY | unix.O_CLOEXEC, "O_RDONLY|O_CLOEXEC"},
		{"create", unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC, "O_WRONLY|O_CREAT|O_TRUNC"},
		{"exclusive create", unix.O_RDWR | unix.O_CREAT | unix.O_EXCL, "O_RDWR|O_CREAT|O_EXCL"},
		{"O_PATH", unix.O_PATH, "O_RDONLY|O_PATH"},
		{"O_PATH with more", unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW, "O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_PATH"},
		{"O_WRONLY|O_PATH", unix.O_WRONLY | unix.O_PATH, "O_WRONLY|O_PATH"},
		{"O_RDWR|O_PATH", unix.O_RDWR | unix.O_PATH, "O_RDWR|O_PATH"},
		{"O_ACCMODE|O_PATH", unix.O_ACCMODE | unix.O_PATH, "O_ACCMODE|O_PATH"},
		{"O_TMPFILE", unix.O_RDWR | unix.O_TMPFILE, "O_RDWR|O_TMPFILE"},
		{"O_TMPFILE with O_EXCL", unix.O_WRONLY | unix.O_TMPFILE | unix.O_EXCL, "O_WRONLY|O_EXCL|O_TMPFILE"},
		{"__O_TMPFILE without O_DIRECTORY", unix.O_WRONLY | oTmpfileBit, "O_WRONLY|__O_TMPFILE"},
		{"O_DIRECTORY", unix.O_DIRECTORY, "O_RDONLY|O_DIRECTORY"},
		{"O_DIRECTORY|O_CLOEXEC", unix.O_DIRECTORY | unix.O_CLOEXEC, "O_RDONLY|O_CLOEXEC|O_DIRECTORY"},
		{"O_SYNC", unix.O_SYNC, "O_RDONLY|O_SYNC"},
		{"O_DSYNC", unix.O_DSYNC, "O_RDONLY|O_DSYNC"},
		{"__O_SYNC without O_DSYNC", oSyncBit, "O_RDONLY|__O_SYNC"},
		{"O_LARGEFILE", 0o100000, "O_RDONLY|O_LARGEFILE"},
		{"O_ASYNC is FASYNC", unix.O_ASYNC | unix.O_NONBLOCK, "O_RDONLY|O_NONBLOCK|FASYNC"},
		{"many", unix.O_RDWR | unix.O_APPEND | unix.O_NOCTTY | unix.O_DIRECT | unix.O_NOATIME,
			"O_RDWR|O_NOCTTY|O_APPEND|O_DIRECT|O_NOATIME"},
		{"unknown bit", 0x4000000, "O_RDONLY|0x4000000"},
		{"known and unknown bits", unix.O_WRONLY | unix.O_CREAT | 0x4000000, "O_WRONLY|O_CREAT|0x4000000"},
		{"an int: bits above 32 ignored", 1<<33 | unix.O_WRONLY, "O_WRONLY"},
	})
}

func TestOpenFlags64(t *testing.T) {
	runFlagCases(t, openFlags64, []flagCase{
		{"zero", 0, "O_RDONLY"},
		{"O_TMPFILE", unix.O_RDWR | unix.O_TMPFILE, "O_RDWR|O_TMPFILE"},
		{"bits above 32 kept", 1<<40 | unix.O_RDWR, "O_RDWR|0x10000000000"},
		{"bit 33 kept", 1<<33 | unix.O_RDONLY, "O_RDONLY|0x200000000"},
	})
}

func TestOpenMode(t *testing.T) {
	runFlagCases(t, fileMode, []flagCase{
		{"zero", 0, "000"},
		{"one digit", 0o7, "007"},
		{"two digits", 0o70, "070"},
		{"0644", 0o644, "0644"},
		{"0640", 0o640, "0640"},
		{"setuid", 0o4755, "04755"},
		{"sticky", 0o1777, "01777"},
		{"a umode_t: 16 bits", 0x1ffff, "0177777"},
		{"bits above 16 ignored", 1<<32 | 0o644, "0644"},
	})
	runFlagCases(t, fileMode64, []flagCase{
		{"64-bit zero", 0, "000"},
		{"64-bit 0755", 0o755, "0755"},
		{"64 bits kept", 1<<32 | 0o644, "040000000644"},
	})
}

func TestResolveFlags(t *testing.T) {
	runFlagCases(t, resolveFlags, []flagCase{
		{"zero", 0, "0"},
		{"single", unix.RESOLVE_BENEATH, "RESOLVE_BENEATH"},
		{"combination", unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS, "RESOLVE_NO_MAGICLINKS|RESOLVE_IN_ROOT"},
		{"cached, and unknown", unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV | 0x20 | 0x40,
			"RESOLVE_NO_XDEV|RESOLVE_NO_SYMLINKS|RESOLVE_CACHED|0x40"},
		{"unknown alone", 0x80, "0x80 /* RESOLVE_??? */"},
		{"64 bits", 1 << 50, "0x4000000000000 /* RESOLVE_??? */"},
	})
}

func TestCloneFlags(t *testing.T) {
	runFlagCases(t, cloneFlags, []flagCase{
		{"zero", 0, "0"},
		{"signal only", uint64(unix.SIGCHLD), "SIGCHLD"},
		{"flag only", unix.CLONE_SIGHAND, "CLONE_SIGHAND"},
		{"flag and signal", unix.CLONE_SIGHAND | uint64(unix.SIGCHLD), "CLONE_SIGHAND|SIGCHLD"},
		{"namespaces", unix.CLONE_NEWNS | unix.CLONE_NEWNET, "CLONE_NEWNS|CLONE_NEWNET"},
		{"namespaces and signal", unix.CLONE_SIGHAND | unix.CLONE_NEWNS | unix.CLONE_NEWNET | uint64(unix.SIGCHLD),
			"CLONE_SIGHAND|CLONE_NEWNS|CLONE_NEWNET|SIGCHLD"},
		{"thread", unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD |
			unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID,
			"CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID"},
		{"fork as glibc does it", unix.CLONE_CHILD_SETTID | unix.CLONE_CHILD_CLEARTID | uint64(unix.SIGCHLD),
			"CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"},
		{"vfork", unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD), "CLONE_VM|CLONE_VFORK|SIGCHLD"},
		{"CLONE_DETACHED is unknown", 0x400000 | uint64(unix.SIGCHLD), "0x400000 /* CLONE_??? */|SIGCHLD"},
		{"unknown alone", 0x400000, "0x400000 /* CLONE_??? */"},
		{"known, unknown and a real-time signal", unix.CLONE_NEWNS | unix.CLONE_FS | 0x400000 | 1<<40 | 34,
			"CLONE_FS|CLONE_NEWNS|0x10000400000|SIGRT_2"},
		{"SIGRTMIN", unix.CLONE_SIGHAND | 32, "CLONE_SIGHAND|SIGRTMIN"},
		{"SIGRT_1", unix.CLONE_SIGHAND | 33, "CLONE_SIGHAND|SIGRT_1"},
		{"SIGRT_32", unix.CLONE_SIGHAND | 64, "CLONE_SIGHAND|SIGRT_32"},
		{"signal 65", unix.CLONE_SIGHAND | 65, "CLONE_SIGHAND|65"},
		{"signal 255", unix.CLONE_SIGHAND | 0xff, "CLONE_SIGHAND|255"},
		// CLONE_NEWTIME's bit is in the signal byte of clone(2).
		{"CLONE_NEWTIME's bit", unix.CLONE_NEWNS | unix.CLONE_FS | unix.CLONE_NEWTIME, "CLONE_FS|CLONE_NEWNS|128"},
		{"clone3-only flags", unix.CLONE_INTO_CGROUP | uint64(unix.SIGCHLD), "0x200000000 /* CLONE_??? */|SIGCHLD"},
	})
}

func TestCloneArgsFlags(t *testing.T) {
	runFlagCases(t, cloneArgsFlags, []flagCase{
		{"zero", 0, "0"},
		{"single", unix.CLONE_NEWUSER, "CLONE_NEWUSER"},
		{"no signal byte: CLONE_NEWTIME", unix.CLONE_NEWNS | unix.CLONE_NEWTIME, "CLONE_NEWNS|CLONE_NEWTIME"},
		{"clone3-only flags", unix.CLONE_SIGHAND | unix.CLONE_NEWTIME | unix.CLONE_CLEAR_SIGHAND | unix.CLONE_INTO_CGROUP,
			"CLONE_SIGHAND|CLONE_NEWTIME|CLONE_CLEAR_SIGHAND|CLONE_INTO_CGROUP"},
		{"known and unknown", unix.CLONE_PIDFD | 1<<40, "CLONE_PIDFD|0x10000000000"},
		{"low byte unknown", 0x11, "0x11 /* CLONE_??? */"},
	})
}

func TestCloneSignalName(t *testing.T) {
	names := []string{"0",
		"SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
		"SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT",
		"SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU",
		"SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS", "SIGRTMIN",
	}
	var cases []flagCase
	for n, name := range names {
		cases = append(cases, flagCase{name, uint64(n), name})
	}
	cases = append(cases,
		flagCase{"SIGRT_1", 33, "SIGRT_1"},
		flagCase{"SIGRT_3", 35, "SIGRT_3"},
		flagCase{"SIGRT_32", 64, "SIGRT_32"},
		flagCase{"past _NSIG", 65, "65"},
		flagCase{"large", 1 << 40, "1099511627776"},
	)
	runFlagCases(t, signalName, cases)
}

func TestUnshareFlags(t *testing.T) {
	runFlagCases(t, unshareFlags, []flagCase{
		{"zero", 0, "0"},
		{"single", unix.CLONE_NEWNS, "CLONE_NEWNS"},
		{"combination", unix.CLONE_NEWNS | unix.CLONE_NEWNET, "CLONE_NEWNS|CLONE_NEWNET"},
		{"CLONE_NEWTIME first", unix.CLONE_NEWTIME | unix.CLONE_NEWUSER, "CLONE_NEWTIME|CLONE_NEWUSER"},
		{"non-namespace flags", unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SYSVSEM | unix.CLONE_NEWCGROUP,
			"CLONE_FS|CLONE_FILES|CLONE_SYSVSEM|CLONE_NEWCGROUP"},
		{"all namespaces", unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
			unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWTIME,
			"CLONE_NEWTIME|CLONE_NEWNS|CLONE_NEWCGROUP|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET"},
		{"known and unknown", unix.CLONE_NEWNS | unix.CLONE_NEWNET | 1, "CLONE_NEWNS|CLONE_NEWNET|0x1"},
		{"unknown alone", 1, "0x1 /* CLONE_??? */"},
		{"an unsigned long: 64 bits", 1<<32 | unix.CLONE_NEWNS, "CLONE_NEWNS|0x100000000"},
		{"high unknown alone", 1 << 40, "0x10000000000 /* CLONE_??? */"},
		{"not a clone-only flag", unix.CLONE_PIDFD, "0x1000 /* CLONE_??? */"},
	})
}

func TestNsTypeFlags(t *testing.T) {
	runFlagCases(t, nsType, []flagCase{
		{"zero is any type", 0, "0"},
		{"net", unix.CLONE_NEWNET, "CLONE_NEWNET"},
		{"uts", unix.CLONE_NEWUTS, "CLONE_NEWUTS"},
		{"time", unix.CLONE_NEWTIME, "CLONE_NEWTIME"},
		{"pidfd's combination", unix.CLONE_NEWNS | unix.CLONE_NEWPID, "CLONE_NEWNS|CLONE_NEWPID"},
		{"unknown alone", 1, "0x1 /* CLONE_NEW??? */"},
		{"known and unknown", unix.CLONE_NEWUTS | 0x100, "CLONE_NEWUTS|0x100"},
		{"an int: bits above 32 ignored", 1<<32 | unix.CLONE_NEWIPC, "CLONE_NEWIPC"},
	})
}

func TestMoveMountFlags(t *testing.T) {
	runFlagCases(t, moveMountFlags, []flagCase{
		{"zero", 0, "0"},
		{"single", unix.MOVE_MOUNT_F_EMPTY_PATH, "MOVE_MOUNT_F_EMPTY_PATH"},
		{"combination", unix.MOVE_MOUNT_F_SYMLINKS | unix.MOVE_MOUNT_T_AUTOMOUNTS | unix.MOVE_MOUNT_T_EMPTY_PATH,
			"MOVE_MOUNT_F_SYMLINKS|MOVE_MOUNT_T_AUTOMOUNTS|MOVE_MOUNT_T_EMPTY_PATH"},
		{"beneath", unix.MOVE_MOUNT_F_SYMLINKS | unix.MOVE_MOUNT_T_AUTOMOUNTS | 0x200,
			"MOVE_MOUNT_F_SYMLINKS|MOVE_MOUNT_T_AUTOMOUNTS|MOVE_MOUNT_BENEATH"},
		{"set group and unknown", unix.MOVE_MOUNT_SET_GROUP | 0x400, "MOVE_MOUNT_SET_GROUP|0x400"},
		{"unknown alone", 0x8, "0x8 /* MOVE_MOUNT_??? */"},
	})
}

func TestMountFsconfigCmd(t *testing.T) {
	runFlagCases(t, fsconfigCmd, []flagCase{
		{"zero is FSCONFIG_SET_FLAG", 0, "FSCONFIG_SET_FLAG"},
		{"string", 1, "FSCONFIG_SET_STRING"},
		{"binary", 2, "FSCONFIG_SET_BINARY"},
		{"path", 3, "FSCONFIG_SET_PATH"},
		{"empty path", 4, "FSCONFIG_SET_PATH_EMPTY"},
		{"fd", 5, "FSCONFIG_SET_FD"},
		{"create", 6, "FSCONFIG_CMD_CREATE"},
		{"reconfigure", 7, "FSCONFIG_CMD_RECONFIGURE"},
		{"exclusive create", 8, "FSCONFIG_CMD_CREATE_EXCL"},
		{"unknown", 9, "0x9 /* FSCONFIG_??? */"},
		{"an int: bits above 32 ignored", 1<<32 | 1, "FSCONFIG_SET_STRING"},
	})
}

func TestMountFsopenFlags(t *testing.T) {
	runFlagCases(t, fsopenFlags, []flagCase{
		{"zero", 0, "0"},
		{"cloexec", unix.FSOPEN_CLOEXEC, "FSOPEN_CLOEXEC"},
		{"unknown alone", 2, "0x2 /* FSOPEN_??? */"},
		{"known and unknown", 3, "FSOPEN_CLOEXEC|0x2"},
	})
}

func TestMountFsmountFlags(t *testing.T) {
	runFlagCases(t, fsmountFlags, []flagCase{
		{"zero", 0, "0"},
		{"cloexec", unix.FSMOUNT_CLOEXEC, "FSMOUNT_CLOEXEC"},
		{"unknown alone", 4, "0x4 /* FSMOUNT_??? */"},
		{"known and unknown", 5, "FSMOUNT_CLOEXEC|0x4"},
	})
}

func TestMountFspickFlags(t *testing.T) {
	runFlagCases(t, fspickFlags, []flagCase{
		{"zero", 0, "0"},
		{"combination", unix.FSPICK_CLOEXEC | unix.FSPICK_EMPTY_PATH, "FSPICK_CLOEXEC|FSPICK_EMPTY_PATH"},
		{"known and unknown", unix.FSPICK_SYMLINK_NOFOLLOW | unix.FSPICK_NO_AUTOMOUNT | 0x20,
			"FSPICK_SYMLINK_NOFOLLOW|FSPICK_NO_AUTOMOUNT|0x20"},
		{"unknown alone", 0x10, "0x10 /* FSPICK_??? */"},
	})
}

// TestMountAttrFlags covers fsmount(2)'s attr_flags.
func TestMountAttrFlags(t *testing.T) {
	runFlagCases(t, mountAttrFlags, []flagCase{
		{"zero", 0, "0"},
		{"combination", unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID, "MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOSUID"},
		{"noatime", unix.MOUNT_ATTR_NOATIME | unix.MOUNT_ATTR_NODEV, "MOUNT_ATTR_NODEV|MOUNT_ATTR_NOATIME"},
		{"the atime field", unix.MOUNT_ATTR__ATIME, "MOUNT_ATTR__ATIME"},
		{"strictatime, nosymfollow", unix.MOUNT_ATTR_STRICTATIME | unix.MOUNT_ATTR_NOSYMFOLLOW,
			"MOUNT_ATTR_STRICTATIME|MOUNT_ATTR_NOSYMFOLLOW"},
		// fsmount cannot idmap: strace leaves the name out of this table.
		{"idmap is unknown here", unix.MOUNT_ATTR_IDMAP, "0x100000 /* MOUNT_ATTR_??? */"},
		{"idmap with known", unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_IDMAP, "MOUNT_ATTR_RDONLY|0x100000"},
		{"unknown alone", 0x400000, "0x400000 /* MOUNT_ATTR_??? */"},
		{"an int: bits above 32 ignored", 1<<32 | unix.MOUNT_ATTR_NOEXEC, "MOUNT_ATTR_NOEXEC"},
	})
}

// TestMountAttrFlags64 covers mount_attr's attr_set and attr_clr.
func TestMountAttrFlags64(t *testing.T) {
	runFlagCases(t, mountAttrFlags64, []flagCase{
		{"zero", 0, "0"},
		{"read-only", unix.MOUNT_ATTR_RDONLY, "MOUNT_ATTR_RDONLY"},
		{"the atime field", unix.MOUNT_ATTR__ATIME, "MOUNT_ATTR__ATIME"},
		{"the atime field and more", unix.MOUNT_ATTR__ATIME | unix.MOUNT_ATTR_NOEXEC, "MOUNT_ATTR_NOEXEC|MOUNT_ATTR__ATIME"},
		{"part of the atime field", unix.MOUNT_ATTR_NOATIME | 0x40, "MOUNT_ATTR_NOATIME|0x40"},
		{"noatime and strictatime", unix.MOUNT_ATTR_NOATIME | unix.MOUNT_ATTR_STRICTATIME,
			"MOUNT_ATTR_NOATIME|MOUNT_ATTR_STRICTATIME"},
		{"relatime is 0", unix.MOUNT_ATTR_RELATIME, "0"},
		{"idmap", unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_NOSYMFOLLOW, "MOUNT_ATTR_IDMAP|MOUNT_ATTR_NOSYMFOLLOW"},
		{"noexec, nodiratime", unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODIRATIME, "MOUNT_ATTR_NOEXEC|MOUNT_ATTR_NODIRATIME"},
		{"64 bits", unix.MOUNT_ATTR_NOATIME | 1<<40, "MOUNT_ATTR_NOATIME|0x10000000000"},
		{"unknown alone", 0x40000000, "0x40000000 /* MOUNT_ATTR_??? */"},
	})
}

func TestOpenTreeFlags(t *testing.T) {
	runFlagCases(t, openTreeFlags, []flagCase{
		{"zero", 0, "0"},
		{"clone, cloexec", unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC, "OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC"},
		{"recursive clone", unix.OPEN_TREE_CLONE | unix.AT_RECURSIVE | unix.AT_EMPTY_PATH,
			"OPEN_TREE_CLONE|AT_EMPTY_PATH|AT_RECURSIVE"},
		{"known and unknown", unix.AT_SYMLINK_NOFOLLOW | unix.AT_NO_AUTOMOUNT | 0x4,
			"AT_SYMLINK_NOFOLLOW|AT_NO_AUTOMOUNT|0x4"},
		{"unknown alone", 0x2, "0x2 /* OPEN_TREE_??? */"},
	})
}

func TestAtFlags(t *testing.T) {
	runFlagCases(t, atFlags, []flagCase{
		{"zero", 0, "0"},
		{"recursive", unix.AT_RECURSIVE, "AT_RECURSIVE"},
		{"combination", unix.AT_EMPTY_PATH | unix.AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH"},
		{"automount", unix.AT_NO_AUTOMOUNT | unix.AT_SYMLINK_FOLLOW, "AT_SYMLINK_FOLLOW|AT_NO_AUTOMOUNT"},
		{"execve check", unix.AT_SYMLINK_NOFOLLOW | 0x10000, "AT_SYMLINK_NOFOLLOW|AT_EXECVE_CHECK"},
		{"AT_REMOVEDIR's bit is unnamed", 0x200, "0x200 /* AT_??? */"},
		{"known and unknown", unix.AT_EMPTY_PATH | 0x200, "AT_EMPTY_PATH|0x200"},
		{"an int: bits above 32 ignored", 1<<32 | unix.AT_EMPTY_PATH, "AT_EMPTY_PATH"},
	})
}

func TestMountPropagation(t *testing.T) {
	runFlagCases(t, mountPropagation, []flagCase{
		{"zero leaves it", 0, "0 /* MS_??? */"},
		{"shared", unix.MS_SHARED, "MS_SHARED"},
		{"private", unix.MS_PRIVATE, "MS_PRIVATE"},
		{"slave", unix.MS_SLAVE, "MS_SLAVE"},
		{"unbindable", unix.MS_UNBINDABLE, "MS_UNBINDABLE"},
		// An enum, not flags: MS_REC has no place here.
		{"with MS_REC", unix.MS_SHARED | unix.MS_REC, "0x104000 /* MS_??? */"},
		{"two types", unix.MS_SHARED | unix.MS_SLAVE, "0x180000 /* MS_??? */"},
		{"64 bits", 1<<32 | unix.MS_PRIVATE, "0x100040000 /* MS_??? */"},
	})
}

// le lays out u64 fields as the kernel reads them on x86 (this package
// builds for 386 and amd64 only).
func le(vals ...uint64) []byte {
	b := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(b[i*8:], v)
	}
	return b
}

type structCase struct {
	name string
	raw  []byte
	want string
}

func runStructCases(t *testing.T, decode func([]byte) []Field, cases []structCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatStruct(decode(tc.raw)); got != tc.want {
				t.Errorf("%d bytes:\n got %s\nwant %s", len(tc.raw), got, tc.want)
			}
		})
	}
}

func TestDecodeOpenHow(t *testing.T) {
	runStructCases(t, decodeOpenHow, []structCase{
		{"zero", le(0, 0, 0), "{flags=O_RDONLY, resolve=0}"},
		{"no mode without O_CREAT", le(unix.O_RDONLY|unix.O_CLOEXEC, 0, unix.RESOLVE_BENEATH),
			"{flags=O_RDONLY|O_CLOEXEC, resolve=RESOLVE_BENEATH}"},
		{"O_CREAT shows the mode", le(unix.O_WRONLY|unix.O_CREAT, 0o640, 0),
			"{flags=O_WRONLY|O_CREAT, mode=0640, resolve=0}"},
		{"O_CREAT shows a zero mode", le(unix.O_WRONLY|unix.O_CREAT, 0, 0),
			"{flags=O_WRONLY|O_CREAT, mode=000, resolve=0}"},
		{"a mode without O_CREAT shows", le(unix.O_RDONLY, 0o755, unix.RESOLVE_NO_SYMLINKS|unix.RESOLVE_NO_XDEV|0x20|0x40),
			"{flags=O_RDONLY, mode=0755, resolve=RESOLVE_NO_XDEV|RESOLVE_NO_SYMLINKS|RESOLVE_CACHED|0x40}"},
		{"O_TMPFILE shows the mode", le(unix.O_RDWR|unix.O_TMPFILE, 0, unix.RESOLVE_IN_ROOT|unix.RESOLVE_NO_MAGICLINKS),
			"{flags=O_RDWR|O_TMPFILE, mode=000, resolve=RESOLVE_NO_MAGICLINKS|RESOLVE_IN_ROOT}"},
		{"64-bit flags and resolve", le(1<<40|unix.O_RDWR, 0, 1<<50),
			"{flags=O_RDWR|0x10000000000, resolve=0x4000000000000 /* RESOLVE_??? */}"},
		{"64-bit mode", le(unix.O_CREAT, 1<<32|0o644, 0), "{flags=O_RDONLY|O_CREAT, mode=040000000644, resolve=0}"},
		{"unknown resolve", le(0, 0, 0x80), "{flags=O_RDONLY, resolve=0x80 /* RESOLVE_??? */}"},
		{"longer than v0", append(le(unix.O_PATH, 0, unix.RESOLVE_BENEATH), 0, 0, 0, 0, 0, 0, 0, 0),
			"{flags=O_RDONLY|O_PATH, resolve=RESOLVE_BENEATH}"},
		{"short: flags and mode", le(unix.O_WRONLY|unix.O_CREAT, 0o600), "{flags=O_WRONLY|O_CREAT, mode=0600, ...}"},
		{"short: flags", le(unix.O_RDONLY | unix.O_CLOEXEC), "{flags=O_RDONLY|O_CLOEXEC, ...}"},
		{"short: part of flags", le(unix.O_WRONLY)[:5], "{...}"},
		{"empty", nil, "{...}"},
	})
}

func TestDecodeCloneArgs(t *testing.T) {
	sigchld := uint64(unix.SIGCHLD)
	runStructCases(t, decodeCloneArgs, []structCase{
		{"v0", le(unix.CLONE_SIGHAND, 0, 0, 0, sigchld, 0, 0, 0),
			"{flags=CLONE_SIGHAND, exit_signal=SIGCHLD, stack=NULL, stack_size=0}"},
		{"zero", le(0, 0, 0, 0, 0, 0, 0, 0), "{flags=0, exit_signal=0, stack=NULL, stack_size=0}"},
		{"namespaces", le(unix.CLONE_NEWNS|unix.CLONE_NEWPID|unix.CLONE_NEWNET, 0, 0, 0, sigchld, 0, 0, 0),
			"{flags=CLONE_NEWNS|CLONE_NEWPID|CLONE_NEWNET, exit_signal=SIGCHLD, stack=NULL, stack_size=0}"},
		{"pointers that flags use", le(unix.CLONE_SIGHAND|unix.CLONE_PIDFD|unix.CLONE_CHILD_SETTID|unix.CLONE_PARENT_SETTID|unix.CLONE_SETTLS,
			0x1000, 0x2000, 0x3000, 35, 0x7000, 0x8000, 0x9000),
			"{flags=CLONE_SIGHAND|CLONE_PIDFD|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_SETTID, pidfd=0x1000, child_tid=0x2000, parent_tid=0x3000, exit_signal=SIGRT_3, stack=0x7000, stack_size=0x8000, tls=0x9000}"},
		{"pointers that no flag uses", le(0, 0x1000, 0x2000, 0x3000, 0, 0, 0, 0x9000),
			"{flags=0, exit_signal=0, stack=NULL, stack_size=0}"},
		{"child_tid for CLONE_CHILD_CLEARTID", le(unix.CLONE_CHILD_CLEARTID, 0, 0, 0, 0, 0, 0, 0),
			"{flags=CLONE_CHILD_CLEARTID, child_tid=NULL, exit_signal=0, stack=NULL, stack_size=0}"},
		{"clone3-only flags, set_tid", le(unix.CLONE_SIGHAND|unix.CLONE_NEWTIME|unix.CLONE_CLEAR_SIGHAND|1<<40, 0, 0, 0, 0, 0, 0, 0, 0x5000, 0),
			"{flags=CLONE_SIGHAND|CLONE_NEWTIME|CLONE_CLEAR_SIGHAND|0x10000000000, exit_signal=0, stack=NULL, stack_size=0, set_tid=0x5000, set_tid_size=0}"},
		{"set_tid_size alone", le(0, 0, 0, 0, 0, 0, 0, 0, 0, 2),
			"{flags=0, exit_signal=0, stack=NULL, stack_size=0, set_tid=NULL, set_tid_size=2}"},
		{"v1 without set_tid", le(unix.CLONE_SIGHAND, 0, 0, 0, 0, 0, 0, 0, 0, 0),
			"{flags=CLONE_SIGHAND, exit_signal=0, stack=NULL, stack_size=0}"},
		{"v2, CLONE_INTO_CGROUP shows cgroup 0", le(unix.CLONE_SIGHAND|unix.CLONE_INTO_CGROUP, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
			"{flags=CLONE_SIGHAND|CLONE_INTO_CGROUP, exit_signal=0, stack=NULL, stack_size=0, cgroup=0}"},
		{"v2, a cgroup without the flag", le(unix.CLONE_SIGHAND, 0, 0, 0, 1<<40, 0, 0, 0, 0, 0, 7),
			"{flags=CLONE_SIGHAND, exit_signal=1099511627776, stack=NULL, stack_size=0, cgroup=7}"},
		{"v2 without cgroup", le(0, 0, 0, 0, sigchld, 0, 0, 0, 0, 0, 0),
			"{flags=0, exit_signal=SIGCHLD, stack=NULL, stack_size=0}"},
		{"v1 cannot reach cgroup", le(unix.CLONE_INTO_CGROUP, 0, 0, 0, 0, 0, 0, 0, 0, 0),
			"{flags=CLONE_INTO_CGROUP, exit_signal=0, stack=NULL, stack_size=0}"},
		{"longer than v2", le(unix.CLONE_INTO_CGROUP, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0xffff),
			"{flags=CLONE_INTO_CGROUP, exit_signal=0, stack=NULL, stack_size=0, cgroup=3}"},
		{"between v0 and v1", le(0, 0, 0, 0, 0, 0, 0, 0, 0x5000),
			"{flags=0, exit_signal=0, stack=NULL, stack_size=0, set_tid=0x5000, set_tid_size=0}"},
		{"not a signal", le(unix.CLONE_SIGHAND, 0, 0, 0, 100, 0, 0, 0),
			"{flags=CLONE_SIGHAND, exit_signal=100, stack=NULL, stack_size=0}"},
		{"stack", le(unix.CLONE_VM|unix.CLONE_VFORK, 0, 0, 0, sigchld, 0x7f0000000000, 0x10000, 0),
			"{flags=CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD, stack=0x7f0000000000, stack_size=0x10000}"},
		{"truncated after exit_signal", le(unix.CLONE_SIGHAND, 0, 0, 0, sigchld),
			"{flags=CLONE_SIGHAND, exit_signal=SIGCHLD, ...}"},
		{"truncated in exit_signal", le(unix.CLONE_SIGHAND|unix.CLONE_PIDFD, 0x1000, 0, 0, sigchld)[:36],
			"{flags=CLONE_SIGHAND|CLONE_PIDFD, pidfd=0x1000, ...}"},
		{"truncated before tls", le(unix.CLONE_SETTLS, 0, 0, 0, 0, 0, 0x10, 0x9000)[:60],
			"{flags=CLONE_SETTLS, exit_signal=0, stack=NULL, stack_size=0x10, ...}"},
		{"truncated after flags", le(unix.CLONE_NEWUSER, 0)[:12], "{flags=CLONE_NEWUSER, ...}"},
		{"truncated in flags", le(unix.CLONE_NEWUSER)[:4], "{...}"},
		{"empty", nil, "{...}"},
	})
}

// TestDecodeCloneArgsValues checks the raw values that go with the text,
// which JSON output prints.
func TestDecodeCloneArgsValues(t *testing.T) {
	fs := decodeCloneArgs(le(unix.CLONE_PIDFD|unix.CLONE_INTO_CGROUP, 0x1000, 0, 0, uint64(unix.SIGCHLD), 0x7000, 0x100, 0, 0, 0, 9))
	want := []Field{
		{"flags", unix.CLONE_PIDFD | unix.CLONE_INTO_CGROUP, "CLONE_PIDFD|CLONE_INTO_CGROUP"},
		{"pidfd", 0x1000, "0x1000"},
		{"exit_signal", uint64(unix.SIGCHLD), "SIGCHLD"},
		{"stack", 0x7000, "0x7000"},
		{"stack_size", 0x100, "0x100"},
		{"cgroup", 9, ""},
	}
	if len(fs) != len(want) {
		t.Fatalf("got %d fields %+v, want %d", len(fs), fs, len(want))
	}
	for i := range want {
		if fs[i] != want[i] {
			t.Errorf("field %d: got %+v, want %+v", i, fs[i], want[i])
		}
	}
}

func TestDecodeMountAttr(t *testing.T) {
	runStructCases(t, decodeMountAttr, []structCase{
		// strace 6.1 prints a propagation of 0 (leave it) as
		// "0 /* MS_??? */" too: its table has no name for 0.
		{"zero", le(0, 0, 0, 0), "{attr_set=0, attr_clr=0, propagation=0 /* MS_??? */, userns_fd=0}"},
		{"read-only, atime cleared, private", le(unix.MOUNT_ATTR_RDONLY, unix.MOUNT_ATTR__ATIME, unix.MS_PRIVATE, 0),
			"{attr_set=MOUNT_ATTR_RDONLY, attr_clr=MOUNT_ATTR__ATIME, propagation=MS_PRIVATE, userns_fd=0}"},
		{"set noatime", le(unix.MOUNT_ATTR_NOATIME, unix.MOUNT_ATTR__ATIME, 0, 0),
			"{attr_set=MOUNT_ATTR_NOATIME, attr_clr=MOUNT_ATTR__ATIME, propagation=0 /* MS_??? */, userns_fd=0}"},
		{"unknown bits and propagation", le(unix.MOUNT_ATTR_NOATIME|1<<40, 0, unix.MS_SHARED|unix.MS_REC, 0),
			"{attr_set=MOUNT_ATTR_NOATIME|0x10000000000, attr_clr=0, propagation=0x104000 /* MS_??? */, userns_fd=0}"},
		{"clear, slave", le(0, unix.MOUNT_ATTR_NOEXEC|unix.MOUNT_ATTR_NODIRATIME, unix.MS_SLAVE, 0),
			"{attr_set=0, attr_clr=MOUNT_ATTR_NOEXEC|MOUNT_ATTR_NODIRATIME, propagation=MS_SLAVE, userns_fd=0}"},
		{"idmap", le(unix.MOUNT_ATTR_IDMAP, 0, 0, 5),
			"{attr_set=MOUNT_ATTR_IDMAP, attr_clr=0, propagation=0 /* MS_??? */, userns_fd=5}"},
		{"unknown attr_set alone", le(0x40000000, 0, unix.MS_UNBINDABLE, 0),
			"{attr_set=0x40000000 /* MOUNT_ATTR_??? */, attr_clr=0, propagation=MS_UNBINDABLE, userns_fd=0}"},
		{"longer than v0", le(unix.MOUNT_ATTR_RDONLY, 0, unix.MS_SHARED, 0, 0xff),
			"{attr_set=MOUNT_ATTR_RDONLY, attr_clr=0, propagation=MS_SHARED, userns_fd=0}"},
		{"truncated after attr_clr", le(unix.MOUNT_ATTR_RDONLY, unix.MOUNT_ATTR_NOSUID),
			"{attr_set=MOUNT_ATTR_RDONLY, attr_clr=MOUNT_ATTR_NOSUID, ...}"},
		{"truncated in userns_fd", le(0, 0, unix.MS_PRIVATE, 3)[:30],
			"{attr_set=0, attr_clr=0, propagation=MS_PRIVATE, ...}"},
		{"empty", nil, "{...}"},
	})
}

func TestFormatStruct(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   []Field
		want string
	}{
		{"no fields", nil, "{}"},
		{"decimal when no text", []Field{{"size", 24, ""}}, "{size=24}"},
		{"text", []Field{{"flags", 1, "X_ONE"}, {"n", 1 << 63, ""}}, "{flags=X_ONE, n=9223372036854775808}"},
		{"cut short", []Field{{"flags", 0, "0"}, {Name: structMore}}, "{flags=0, ...}"},
		{"only cut", []Field{{Name: structMore}}, "{...}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatStruct(tc.fs); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestStatxFlags(t *testing.T) {
	tests := map[uint64]string{
		0:                                 "AT_STATX_SYNC_AS_STAT",
		unix.AT_SYMLINK_NOFOLLOW:          "AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW",
		unix.AT_STATX_DONT_SYNC:           "AT_STATX_DONT_SYNC",
		unix.AT_STATX_FORCE_SYNC | 0x1000: "AT_STATX_FORCE_SYNC|AT_EMPTY_PATH",
		atStatxSyncType:                   "0x6000",
	}
	for v, want := range tests {
		if got := statxFlags(v); got != want {
			t.Errorf("statxFlags(%#x) = %q, want %q", v, got, want)
		}
	}
}

func TestAccessMode(t *testing.T) {
	tests := map[uint64]string{0: "F_OK", unix.R_OK: "R_OK", unix.R_OK | unix.W_OK | unix.X_OK: "R_OK|W_OK|X_OK", 8: "0x8"}
	for v, want := range tests {
		if got := accessMode(v); got != want {
			t.Errorf("accessMode(%#x) = %q, want %q", v, got, want)
		}
	}
}
