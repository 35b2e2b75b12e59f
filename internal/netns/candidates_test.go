package netns

import (
	"path"
	"strings"
	"testing"

	"github.com/ctrace-dev/ctrace/tracer"
)

// netnsArgs says, for every traced syscall, which of its arguments
// Diagnose looks at as a possible network namespace file (candidates), in
// its order; "" for none. A syscall added to the tracer's table must be
// placed here (TestCandidatesCoverTable): one that can name such a file
// and is left out gets no netns reason.
var netnsArgs = map[string]string{
	"setns":   "fd",
	"open":    "path",
	"openat":  "path",
	"openat2": "path",
	"mount":   "target,source", // a bind mount onto or from /run/netns
	"umount2": "target",
	// None: the new mount API, open_tree, move_mount and mount_setattr
	// are not how ip netns and CNI plugins use namespace files; the
	// others take no path, or are the runtime family's probes.
	"fsopen": "", "fsconfig": "", "fsmount": "", "fspick": "", "move_mount": "", "open_tree": "",
	"mount_setattr": "", "pivot_root": "", "chroot": "",
	"unshare": "", "clone": "", "clone3": "", "execve": "", "execveat": "",
	"newfstatat": "", "statx": "", "access": "", "faccessat": "", "faccessat2": "",
	"mkdir": "", "mkdirat": "", "symlink": "", "symlinkat": "", "chdir": "",
	// A netns file that cannot be removed is a busy mount: the Busy
	// stage names who holds it (internal/busy).
	"rmdir": "", "unlink": "", "unlinkat": "",
}

func TestCandidatesCoverTable(t *testing.T) {
	for _, s := range tracer.Table() {
		ev := &tracer.Event{Syscall: s.Name, Family: s.Family}
		for _, a := range s.Args {
			// Each argument names a file of its own name.
			ev.Args = append(ev.Args, tracer.Arg{Name: a.Name, Kind: a.Kind, Str: "/run/netns/" + a.Name, Read: true})
		}
		var buf [2]string
		var got []string
		for _, p := range candidates(ev, &buf) {
			got = append(got, path.Base(p))
		}
		want, ok := netnsArgs[s.Name]
		if !ok {
			t.Errorf("%s: not in netnsArgs (internal/netns/candidates_test.go): can it name a network namespace file?", s.Name)
			continue
		}
		if strings.Join(got, ",") != want {
			t.Errorf("%s: candidates are the arguments %v, netnsArgs says %q (internal/netns/candidates_test.go)", s.Name, got, want)
		}
	}
	for name := range netnsArgs {
		if tracer.FamilyOf(name) == "" {
			t.Errorf("netnsArgs lists %s, which is not traced", name)
		}
	}
}
