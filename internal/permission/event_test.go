package permission

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/tracer"
	"github.com/ctrace-dev/ctrace/tracer/xlat"
)

// notWalked lists the traced syscalls for which Requests names no path,
// and why. A syscall added to the tracer's table must get a case in
// Requests or an entry here (TestRequestsCoverTable): without either,
// EACCES on it silently carries no permission reason.
var notWalked = map[string]string{
	// No path argument.
	"fsopen":  "fsname is a file system type",
	"fsmount": "only a descriptor",
	"setns":   "only a descriptor",
	"unshare": "no path",
	"clone":   "no path",
	"clone3":  "no path",
	// FSCONFIG_SET_PATH and SET_PATH_EMPTY values are handed to the
	// file system, which may look them up (fs_lookup_param): on 6.18
	// every file system tried (ext4's journal_path, overlay, tmpfs,
	// proc, fuse, cgroup2, mqueue, devpts) refuses the value type with
	// EINVAL or ignores the key, also for a path the caller cannot
	// search, so no EACCES of fsconfig comes from a lookup to walk.
	"fsconfig": "no file system looks FSCONFIG_SET_PATH values up as the caller and returns the lookup's EACCES",
}

// synthetic is a failed call of s with EACCES and every argument set:
// absolute paths, AT_FDCWD, zero flags, a read struct with zero fields.
func synthetic(s tracer.Syscall) *tracer.Event {
	ev := &tracer.Event{Syscall: s.Name, Family: s.Family, Errno: unix.EACCES, Ret: -int64(unix.EACCES)}
	for _, a := range s.Args {
		arg := tracer.Arg{Name: a.Name, Kind: a.Kind}
		switch a.Kind {
		case tracer.KindString:
			arg.Str, arg.Read = "/ctrace/"+a.Name, true
		case tracer.KindFD:
			arg.Raw = uint64(uint32(unix.AT_FDCWD & 0xffffffff)) // as the register holds it
		case tracer.KindStruct:
			arg.Read, arg.Fields = true, []xlat.Field{{Name: "flags"}}
		}
		ev.Args = append(ev.Args, arg)
	}
	return ev
}

// TestRequestsCoverTable: every traced syscall either names a path for
// the walk or is listed in notWalked with the reason, never both; and
// docs/permission.md names every syscall that is walked.
func TestRequestsCoverTable(t *testing.T) {
	doc, err := os.ReadFile("../../docs/permission.md")
	if err != nil {
		t.Fatal(err)
	}
	_, walkedDoc, _ := strings.Cut(string(doc), "## What is walked")
	walkedDoc, _, _ = strings.Cut(walkedDoc, "\nEach path is walked")
	for _, s := range tracer.Table() {
		ev := synthetic(s)
		rs, why := Requests(ev), notWalked[s.Name]
		switch {
		case len(rs) == 0 && why == "":
			t.Errorf("%s: Requests (internal/permission/event.go) names no path and notWalked does not say why", s.Name)
		case len(rs) > 0 && why != "":
			t.Errorf("%s: Requests names %v, yet notWalked says %q", s.Name, rs, why)
		case len(rs) > 0 && !Explained(ev):
			t.Errorf("%s: EACCES with paths %v is not Explained", s.Name, rs)
		}
		if len(rs) > 0 && !regexp.MustCompile(`\b`+s.Name+`\b`).MatchString(walkedDoc) {
			t.Errorf("%s is walked, but docs/permission.md's \"What is walked\" does not name it", s.Name)
		}
	}
	for name := range notWalked {
		if tracer.FamilyOf(name) == "" {
			t.Errorf("notWalked lists %s, which is not traced", name)
		}
	}
}
