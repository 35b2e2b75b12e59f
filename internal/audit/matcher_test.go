package audit

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctrace-dev/ctrace/tracer"
	"golang.org/x/sys/unix"
)

// mustParse parses a record text of the tests.
func mustParse(t *testing.T, typ uint16, text string) Record {
	t.Helper()
	r, err := ParseRecord(typ, []byte(text))
	if err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	return r
}

// syscallText is a SYSCALL record of serial for pid's call nr.
// nativeArchHex is the arch= of this architecture's SYSCALL records,
// the only ones the matcher takes (c000003e on amd64, c00000b7 on arm64).
var nativeArchHex = strconv.FormatUint(uint64(nativeArch), 16)

func syscallText(serial, nr, exit, pid int, arch string) string {
	return "audit(1718000000.500:" + strconv.Itoa(serial) + "): arch=" + arch + " syscall=" + strconv.Itoa(nr) +
		" success=no exit=" + strconv.Itoa(exit) + " items=1 ppid=1 pid=" + strconv.Itoa(pid) + ` comm="runc:[2:INIT]" key=(null)`
}

func TestMatcher(t *testing.T) {
	stamp := time.Unix(1718000000, 500e6)
	mountEv := func(pid uint32, errno unix.Errno) tracer.Event {
		return tracer.Event{Time: stamp.Add(2 * time.Millisecond), Syscall: "mount", Ret: -int64(errno), Errno: errno,
			Proc: tracer.Proc{PID: pid, TID: pid}}
	}
	aa := strings.Replace(textAppArmor, ":42)", ":50)", 1)
	tests := []struct {
		name    string
		recs    [][2]any // type, text
		ev      tracer.Event
		elapsed time.Duration // time since the records arrived
		want    *tracer.LSMReason
		detail  []string // substrings of the detail
	}{
		{
			name: "apparmor mount denial with its syscall",
			recs: [][2]any{{TypeAVC, aa}, {TypeSyscall, syscallText(50, unix.SYS_MOUNT, -13, 4242, nativeArchHex)}},
			ev:   mountEv(4242, unix.EACCES),
			want: &tracer.LSMReason{LSM: LSMAppArmor, Hook: "mount"},
			detail: []string{"profile=cri-containerd.apparmor.d", "operation=mount", `info="failed flags match"`,
				`name="/proc/"`, `flags="rw, nosuid, nodev, noexec"`, "error=-13"},
		},
		{
			name: "wrong exit code",
			recs: [][2]any{{TypeAVC, aa}, {TypeSyscall, syscallText(50, unix.SYS_MOUNT, -1, 4242, nativeArchHex)}},
			ev:   mountEv(4242, unix.EACCES),
		},
		{
			name: "wrong syscall",
			recs: [][2]any{{TypeAVC, aa}, {TypeSyscall, syscallText(50, unix.SYS_UMOUNT2, -13, 4242, nativeArchHex)}},
			ev:   mountEv(4242, unix.EACCES),
		},
		{
			name: "compat syscall numbers",
			recs: [][2]any{{TypeAVC, aa}, {TypeSyscall, syscallText(50, unix.SYS_MOUNT, -13, 4242, "40000003")}},
			ev:   mountEv(4242, unix.EACCES),
		},
		{
			name: "event far later than the stamp",
			recs: [][2]any{{TypeAVC, aa}, {TypeSyscall, syscallText(50, unix.SYS_MOUNT, -13, 4242, nativeArchHex)}},
			ev: func() tracer.Event {
				e := mountEv(4242, unix.EACCES)
				e.Time = stamp.Add(maxCallDuration + time.Second)
				return e
			}(),
		},
		{
			name: "apparmor complain mode allows",
			recs: [][2]any{{TypeAVC, strings.Replace(aa, "DENIED", "ALLOWED", 1)},
				{TypeSyscall, syscallText(50, unix.SYS_MOUNT, -13, 4242, nativeArchHex)}},
			ev: mountEv(4242, unix.EACCES),
		},
		{
			name:    "standalone selinux denial after the grace period",
			recs:    [][2]any{{TypeAVC, textSELinux}},
			ev:      func() tracer.Event { e := mountEv(4243, unix.EACCES); e.Time = time.Unix(1718000001, 1e6); return e }(),
			elapsed: standaloneGrace,
			want:    &tracer.LSMReason{LSM: LSMSELinux, Hook: "mount"},
			detail:  []string{"denied { mount }", "scontext=system_u:system_r:container_t:s0:c1,c2", "tclass=filesystem", `name="/"`},
		},
		{
			name: "standalone denial within the grace period waits for its syscall record",
			recs: [][2]any{{TypeAVC, textSELinux}},
			ev:   func() tracer.Event { e := mountEv(4243, unix.EACCES); e.Time = time.Unix(1718000001, 1e6); return e }(),
		},
		{
			name:    "selinux permissive denial did not refuse",
			recs:    [][2]any{{TypeAVC, strings.Replace(textSELinux, "permissive=0", "permissive=1", 1)}},
			ev:      func() tracer.Event { e := mountEv(4243, unix.EACCES); e.Time = time.Unix(1718000001, 1e6); return e }(),
			elapsed: standaloneGrace,
		},
		{
			name: "syscall record of an event without a denial is not kept",
			recs: [][2]any{{TypeSyscall, syscallText(51, unix.SYS_MOUNT, -13, 4242, nativeArchHex)}},
			ev:   mountEv(4242, unix.EACCES),
		},
		{
			name: "landlock without a syscall record has no pid to match",
			recs: [][2]any{{TypeLandlockAccess, textLandlock}},
			ev:   failedOpen(31725, unix.EACCES),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Now()
			m := NewMatcher()
			m.now = func() time.Time { return now }
			for _, r := range tt.recs {
				m.Add(mustParse(t, uint16(r[0].(int)), r[1].(string)))
			}
			now = now.Add(tt.elapsed)
			reasons, ok := m.Match(&tt.ev)
			if tt.want == nil {
				if ok {
					t.Fatalf("matched %+v, want no match", reasons)
				}
				return
			}
			if !ok || len(reasons) != 1 {
				t.Fatalf("Match = %+v, %v; want one reason", reasons, ok)
			}
			got := reasons[0]
			if got.LSM != tt.want.LSM || got.Hook != tt.want.Hook {
				t.Errorf("reason = %+v, want %+v", got, *tt.want)
			}
			for _, d := range tt.detail {
				if !strings.Contains(got.Detail, d) {
					t.Errorf("detail %q lacks %q", got.Detail, d)
				}
			}
		})
	}
}

// TestMatcherBounds checks that a storm of denials keeps memory bounded
// and that repeated identical failures pair up oldest first.
func TestMatcherBounds(t *testing.T) {
	m := NewMatcher()
	for i := range maxGroups + 100 {
		m.Add(mustParse(t, TypeLandlockAccess, "audit(1795421403.296:"+strconv.Itoa(i)+"): domain=1 blockers=fs.read_file path=\"/f"+strconv.Itoa(i)+"\""))
		m.Add(mustParse(t, TypeSyscall, syscallText(i, unix.SYS_OPENAT, -13, 7, nativeArchHex)))
	}
	if len(m.groups) != maxGroups {
		t.Fatalf("%d groups kept, want %d", len(m.groups), maxGroups)
	}
	ev := failedOpen(7, unix.EACCES)
	ev.Time = time.Unix(1795421403, 300e6)
	reasons, ok := m.Match(&ev)
	if !ok || !strings.Contains(reasons[0].Detail, `path="/f100"`) {
		t.Errorf("first match = %+v, %v; want the oldest kept denial, /f100", reasons, ok)
	}
}
