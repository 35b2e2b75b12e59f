package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/render"
	"github.com/ctrace-dev/ctrace/tracer"
)

// Record texts as this kernel and the AppArmor and SELinux sources write
// them.
const (
	textLandlock = `audit(1795421403.296:7): domain=1e52eea63 blockers=fs.read_file path="/etc/hostname" dev="vda" ino=611`
	textSyscall  = `audit(1795421403.296:7): arch=c000003e syscall=257 success=no exit=-13 a0=ffffffffffffff9c a1=310e4a686520 a2=80000 a3=0 items=0 ppid=31718 pid=31725 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="audit.test" exe="/tmp/b001/audit.test" key=(null)`
	textAppArmor = `audit(1718000000.500:42): apparmor="DENIED" operation="mount" class="mount" info="failed flags match" error=-13 profile="cri-containerd.apparmor.d" name="/proc/" pid=4242 comm="runc:[2:INIT]" fstype="proc" srcname="proc" flags="rw, nosuid, nodev, noexec"`
	textSELinux  = `audit(1718000001.000:43): avc:  denied  { mount } for  pid=4243 comm="mount" name="/" dev="tmpfs" ino=1 scontext=system_u:system_r:container_t:s0:c1,c2 tcontext=system_u:object_r:tmpfs_t:s0 tclass=filesystem permissive=0`
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name   string
		typ    uint16
		text   string
		serial uint64
		time   time.Time
		fields map[string]string
		words  []string
		err    error
	}{
		{
			name: "landlock access", typ: TypeLandlockAccess, text: textLandlock, serial: 7,
			time:   time.Unix(1795421403, 296e6),
			fields: map[string]string{"blockers": "fs.read_file", "path": "/etc/hostname", "dev": "vda", "ino": "611"},
		},
		{
			name: "syscall", typ: TypeSyscall, text: textSyscall, serial: 7,
			time:   time.Unix(1795421403, 296e6),
			fields: map[string]string{"syscall": "257", "exit": "-13", "pid": "31725", "comm": "audit.test", "key": "(null)", "tty": "(none)"},
		},
		{
			name: "apparmor with spaces in a quoted value", typ: TypeAVC, text: textAppArmor, serial: 42,
			time:   time.Unix(1718000000, 500e6),
			fields: map[string]string{"apparmor": "DENIED", "operation": "mount", "info": "failed flags match", "flags": "rw, nosuid, nodev, noexec", "comm": "runc:[2:INIT]"},
		},
		{
			name: "selinux words before the fields", typ: TypeAVC, text: textSELinux, serial: 43,
			time:   time.Unix(1718000001, 0),
			fields: map[string]string{"pid": "4243", "tclass": "filesystem", "scontext": "system_u:system_r:container_t:s0:c1,c2"},
			words:  []string{"avc:", "denied", "{", "mount", "}", "for"},
		},
		{
			name: "hex-encoded untrusted strings", typ: TypeProctitle, serial: 9,
			text:   `audit(1.000:9): proctitle=2F62696E2F7368002D63 path=2F746D702F6120622E74787400`,
			time:   time.Unix(1, 0),
			fields: map[string]string{"proctitle": "/bin/sh -c", "path": "/tmp/a b.txt"},
		},
		{
			name: "a number is not taken for hex outside string fields", typ: TypePath, serial: 10,
			text:   `audit(1.000:10): item=0 inode=1234 name="12"`,
			time:   time.Unix(1, 0),
			fields: map[string]string{"inode": "1234", "name": "12"},
		},
		{
			name: "user message with a single-quoted msg", typ: 1107, serial: 11,
			text:   `audit(1.000:11): pid=1 uid=0 msg='op=start res=success'` + "\x00",
			time:   time.Unix(1, 0),
			fields: map[string]string{"msg": "op=start res=success"},
		},
		{name: "no header", typ: TypeAVC, text: `type=AVC msg=audit(1.000:1): x=1`, err: ErrNoHeader},
		{name: "header not closed", typ: TypeAVC, text: `audit(1.000:1 x=1`, err: ErrNoHeader},
		{name: "no serial", typ: TypeAVC, text: `audit(1.000): x=1`, err: ErrNoHeader},
		{name: "bad milliseconds", typ: TypeAVC, text: `audit(1.5:1): x=1`, err: ErrNoHeader},
		{name: "negative seconds", typ: TypeAVC, text: `audit(-1.000:1): x=1`, err: ErrNoHeader},
		{name: "empty", typ: TypeAVC, text: ``, err: ErrNoHeader},
		{name: "too large", typ: TypeAVC, text: `audit(1.000:1): ` + string(make([]byte, maxRecordText)), err: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRecord(tt.typ, []byte(tt.text))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRecord: %v", err)
			}
			if r.Type != tt.typ || r.Serial != tt.serial || !r.Time.Equal(tt.time) {
				t.Errorf("header = %d %d %v, want %d %d %v", r.Type, r.Serial, r.Time, tt.typ, tt.serial, tt.time)
			}
			for k, want := range tt.fields {
				if got, ok := r.Get(k); !ok || got != want {
					t.Errorf("%s = %q (present %v), want %q", k, got, ok, want)
				}
			}
			if !slices.Equal(r.Words, tt.words) {
				t.Errorf("words = %q, want %q", r.Words, tt.words)
			}
		})
	}
}

func TestSplitMessages(t *testing.T) {
	one := encodeMessage(TypeAVC, 0, 0, []byte(textAppArmor))
	// The length quirk: the header counts the payload only.
	quirk := encodeMessage(TypeAVC, 0, 0, []byte(textAppArmor))
	quirk[0] -= nlHeaderLen
	two := append(encodeMessage(TypeEOE, 0, 0, []byte("abc")), 0) // aligned to 4
	two = append(two, one...)
	tests := []struct {
		name  string
		b     []byte
		types []uint16
		err   bool
	}{
		{"one", one, []uint16{TypeAVC}, false},
		{"length quirk", quirk, []uint16{TypeAVC}, false},
		{"two, aligned", two, []uint16{TypeEOE, TypeAVC}, false},
		{"short header", one[:10], nil, true},
		{"empty", nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := splitMessages(tt.b)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			var types []uint16
			for _, m := range msgs {
				types = append(types, m.typ)
			}
			if !slices.Equal(types, tt.types) {
				t.Errorf("types = %v, want %v", types, tt.types)
			}
		})
	}
}

// FuzzParse feeds arbitrary datagrams through what the Reader and the
// Joiner do with them (split, parse, keep the denials, match one to a
// failed call) and renders the reasons found as ctrace run does. The
// seeds are the records this kernel and the LSMs write, alone and as the
// datagrams of one audit event (a denial and its SYSCALL record). Nothing
// may panic; a reason is an LSM's; the text line stays one line of
// printable ASCII; the JSON line stays valid JSON.
func FuzzParse(f *testing.F) {
	for _, s := range []string{textLandlock, textSyscall, textAppArmor, textSELinux, `audit(1.000:1): a="b`} {
		f.Add(encodeMessage(TypeAVC, 0, 0, []byte(s)), uint32(4242), true)
		f.Add(encodeMessage(TypeSyscall, 0, 0, []byte(s)), uint32(4242), true)
		f.Add(encodeMessage(TypeLandlockAccess, 0, 0, []byte(s)), uint32(4242), true)
	}
	event := append(encodeMessage(TypeLandlockAccess, 0, 0, []byte(textLandlock)), encodeMessage(TypeSyscall, 0, 0, []byte(textSyscall))...)
	f.Add(event, uint32(31725), true)
	f.Add(encodeMessage(TypeAVC, 0, 0, []byte(textAppArmor)), uint32(4242), false)
	f.Add(encodeMessage(TypeAVC, 0, 0, []byte(textSELinux)), uint32(4243), false)
	hostile := strings.Replace(textLandlock, `path="/etc/hostname"`, `path=2F746D702F1B5B324A0A78`, 1) // "/tmp/\x1b[2J\nx", hex as audit writes it
	f.Add(append(encodeMessage(TypeLandlockAccess, 0, 0, []byte(hostile)), encodeMessage(TypeSyscall, 0, 0, []byte(textSyscall))...), uint32(31725), true)
	f.Fuzz(func(t *testing.T, b []byte, pid uint32, open bool) {
		m := NewMatcher()
		m.now = func() time.Time { return time.Unix(1<<40, 0) } // standalone denials are due
		ev := failedOpen(pid, unix.EACCES)
		ev.Time = time.Time{} // any stamp fits
		if !open {
			ev.Syscall, ev.Family = "mount", tracer.FamilyMount
		}
		msgs, _ := splitMessages(b)
		for _, msg := range msgs {
			r, err := ParseRecord(msg.typ, msg.payload)
			if err != nil {
				continue
			}
			m.Add(r)
		}
		reasons, ok := m.Match(&ev)
		if !ok {
			return
		}
		for _, r := range reasons {
			if r.LSM == "" {
				t.Fatalf("reason %+v: names no LSM", r)
			}
			ev.Reasons = append(ev.Reasons, r)
		}
		var buf bytes.Buffer
		render.New("text", &buf, false).Event(&ev, render.Findings{})
		text := buf.Bytes()
		if bytes.Count(text, []byte("\n")) != 1+bytes.Count(text, []byte("\n  hint: ")) {
			t.Fatalf("text is not the event's line and its hints': %q", text)
		}
		for _, c := range text {
			if (c < ' ' && c != '\n') || c > '~' {
				t.Fatalf("text line holds byte %#x: %q", c, text)
			}
		}
		buf.Reset()
		render.New("json", &buf, false).Event(&ev, render.Findings{})
		if !json.Valid(buf.Bytes()) {
			t.Fatalf("JSON line invalid: %q", buf.Bytes())
		}
	})
}
