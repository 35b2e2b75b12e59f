package benign

import (
	"strings"
	"testing"

	"github.com/ctrace-dev/ctrace/tracer"
)

// syscallGroups says, for every traced syscall, which of the rules'
// groups of calls it belongs to: "stat" (statCall), "access"
// (accessCall), "open" (openCall), or "" for none, where rules name the
// call itself if they want it. A syscall added to the tracer's table must
// be placed here (TestSyscallGroups): a new stat- or open-like call left
// out of its group would show the runtime noise its group's rules hide.
var syscallGroups = map[string]string{
	"mount": "", "umount2": "", "fsopen": "", "fsconfig": "", "fsmount": "", "fspick": "",
	"move_mount": "", "open_tree": "", "mount_setattr": "", "pivot_root": "", "chroot": "",
	"open": "open", "openat": "open", "openat2": "open",
	"setns": "", "unshare": "", "clone": "", "clone3": "",
	"execve": "", "execveat": "", // the exec rules match FamilyExec
	"newfstatat": "stat", "statx": "stat",
	"access": "access", "faccessat": "access", "faccessat2": "access",
	"mkdir": "", "mkdirat": "", "symlink": "", "symlinkat": "", "chdir": "",
	"rmdir": "", "unlink": "", "unlinkat": "",
}

func TestSyscallGroups(t *testing.T) {
	for _, name := range tracer.Syscalls() {
		want, ok := syscallGroups[name]
		if !ok {
			t.Errorf("%s: not in syscallGroups (internal/benign/groups_test.go): is it a stat, access or open call?", name)
			continue
		}
		ev := event("x", name, 0)
		var got []string
		for _, g := range []struct {
			name string
			in   func(*tracer.Event) bool
		}{{"stat", statCall}, {"access", accessCall}, {"open", openCall}} {
			if g.in(ev) {
				got = append(got, g.name)
			}
		}
		if strings.Join(got, ",") != want {
			t.Errorf("%s: in groups %v, want %q", name, got, want)
		}
	}
	for name := range syscallGroups {
		if tracer.FamilyOf(name) == "" {
			t.Errorf("syscallGroups lists %s, which is not traced", name)
		}
	}
}
