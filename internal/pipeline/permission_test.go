package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/permission"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
	"github.com/ctrace-dev/ctrace/tracer"
)

// keep is a Handler that keeps the last event.
type keep struct{ ev *Event }

func (k *keep) Handle(ev *Event) { k.ev = ev }

// A caller gone before the stage looks (ctr run --rm) is looked at
// through its container's rootfs, with the container's id maps; without
// them, or without a container, there is no reason and NoReason says why.
func TestPermissionGoneCaller(t *testing.T) {
	testenv.RequireRoot(t, "makes root-owned trees")
	gone := exec.Command("/bin/true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	rootfs := t.TempDir()
	if err := os.Mkdir(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	seeds := tracer.IDMap{{Inside: 0, Outside: 100000, Count: 65536}}
	event := func() *tracer.Event {
		return &tracer.Event{Syscall: "openat", Family: tracer.FamilyOpen, Errno: unix.EACCES, Ret: -13,
			Proc: tracer.Proc{PID: uint32(gone.Process.Pid), TID: uint32(gone.Process.Pid), Comm: "sh", UID: 100000, GID: 100000,
				MntNS: 4026532901, UserNS: 4026532900},
			Args: []tracer.Arg{
				{Name: "dirfd", Kind: tracer.KindFD, Raw: 0xffffff9c},
				{Name: "path", Kind: tracer.KindString, Raw: 1, Str: "/etc/app.conf", Read: true},
				{Name: "flags", Kind: tracer.KindFlags, Raw: unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC},
			}}
	}
	tests := []struct {
		name string
		c    *correlate.Container
		why  string // "" when a reason is wanted
	}{
		{"container with maps", &correlate.Container{ID: "c1", Known: true, Rootfs: rootfs, UIDMap: seeds, GIDMap: seeds}, ""},
		{"container without maps", &correlate.Container{ID: "c1", Known: true, Rootfs: rootfs}, "maps are not known"},
		{"container without rootfs", &correlate.Container{ID: "c1", Known: true}, "rootfs is not known"},
		{"no container", nil, "no container"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewPermission("/proc", "/", func(*tracer.Event) *correlate.Container { return tt.c }, nil)
			k := &keep{}
			s.Link(Next{h: k})
			ev := event()
			s.Handle(&Event{Event: ev})
			if k.ev == nil {
				t.Fatal("the event was not passed on")
			}
			if tt.why != "" {
				if len(ev.Reasons) != 0 || !strings.Contains(ev.NoReason, tt.why) {
					t.Errorf("reasons %+v, why %q; want none, and why with %q", ev.Reasons, ev.NoReason, tt.why)
				}
				return
			}
			if len(ev.Reasons) != 1 {
				t.Fatalf("reasons %+v (%s)", ev.Reasons, ev.NoReason)
			}
			r, ok := ev.Reasons[0].(*permission.Reason)
			if !ok || r.Path != "/etc" || r.Need != "write" || r.OwnerMapped ||
				r.Via != permission.ViaContainerRootfs || r.CallerUIDMap.String() != "0 100000 65536" {
				t.Errorf("reason %+v", r)
			}
		})
	}
}

// A host process gone before the stage looks (a CLI tool that failed and
// exited) is looked at through the node's root, when it ran in the node's
// mount and user namespaces and the kernel recorded CAP_DAC_OVERRIDE
// denied to it: a set-uid-root program, whose event carries its real uid,
// is never walked as that uid.
func TestPermissionGoneHostCaller(t *testing.T) {
	testenv.RequireRoot(t, "makes root-owned trees")
	gone := exec.Command("/bin/true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	top := t.TempDir()
	closed := filepath.Dir(top) // t.TempDir's own, 0700 and root's: nobody may not search it
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/mnt", &st); err != nil {
		t.Fatal(err)
	}
	hostMnt := uint32(st.Ino)
	denied := &tracer.CapabilityReason{Cap: "CAP_DAC_OVERRIDE", UserNS: permission.InitUserNS, InitUserNS: true}
	tests := []struct {
		name    string
		mntns   uint32
		reasons []tracer.Reason
		why     string // "" when a reason is wanted
	}{
		{"override denied", hostMnt, []tracer.Reason{denied}, ""},
		{"no capability record", hostMnt, nil, "set-uid"},
		{"another mount namespace", 4026532901, []tracer.Reason{denied}, "no container"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewPermission("/proc", "/", func(*tracer.Event) *correlate.Container { return nil }, nil)
			k := &keep{}
			s.Link(Next{h: k})
			ev := &tracer.Event{Syscall: "openat", Family: tracer.FamilyOpen, Errno: unix.EACCES, Ret: -13,
				Proc: tracer.Proc{PID: uint32(gone.Process.Pid), TID: uint32(gone.Process.Pid), Comm: "cat", UID: 65534, GID: 65534,
					MntNS: tt.mntns, UserNS: permission.InitUserNS},
				Reasons: tt.reasons,
				Args: []tracer.Arg{
					{Name: "dirfd", Kind: tracer.KindFD, Raw: 0xffffff9c},
					{Name: "path", Kind: tracer.KindString, Raw: 1, Str: filepath.Join(top, "f"), Read: true},
					{Name: "flags", Kind: tracer.KindFlags, Raw: unix.O_RDONLY},
				}}
			s.Handle(&Event{Event: ev})
			r, _ := tracer.FirstReason[*permission.Reason](ev)
			if tt.why != "" {
				if r != nil || !strings.Contains(ev.NoReason, tt.why) {
					t.Errorf("reason %+v, why %q; want none, and why with %q", r, ev.NoReason, tt.why)
				}
				return
			}
			if r == nil || r.Path != closed || r.Need != "search" || r.Via != permission.ViaHostRoot {
				t.Errorf("reason %+v (%s); want %s refusing search, via host_root", r, ev.NoReason, closed)
			}
		})
	}
}

// BenchmarkPermission is the stage's cost on an event it does not walk
// (ENOENT: most failures) and on an EACCES it walks through /proc (this
// process opening /etc/shadow-like file as its own uid is not possible as
// root, so the walk ends with no reason: the full cost of a walk).
func BenchmarkPermission(b *testing.B) {
	s := NewPermission("/proc", "/", nil, nil)
	s.Link(Next{h: &keep{}})
	self := func(errno unix.Errno) *Event {
		ev := failed("openat", errno, "bench", "path", "/etc/hostname")
		var st unix.Stat_t
		if err := unix.Stat("/proc/self/ns/mnt", &st); err == nil {
			ev.Proc.MntNS = uint32(st.Ino)
		}
		if err := unix.Stat("/proc/self/ns/user", &st); err == nil {
			ev.Proc.UserNS = uint32(st.Ino)
		}
		ev.Proc.UID, ev.Proc.GID = uint32(os.Getuid()), uint32(os.Getgid())
		ev.Args = append([]tracer.Arg{{Name: "dirfd", Kind: tracer.KindFD, Raw: 0xffffff9c}}, ev.Args...)
		ev.Args[1].Raw = 1
		ev.Args = append(ev.Args, tracer.Arg{Name: "flags", Kind: tracer.KindFlags, Raw: unix.O_RDONLY})
		return &Event{Event: ev}
	}
	for _, errno := range []unix.Errno{unix.ENOENT, unix.EACCES} {
		ev := self(errno)
		b.Run(unix.ErrnoName(errno), func(b *testing.B) {
			for range b.N {
				ev.Reasons, ev.NoReason = ev.Reasons[:0], ""
				s.Handle(ev)
			}
		})
	}
}
