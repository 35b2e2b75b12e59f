package tracer

import (
	"fmt"
	"strings"

	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"golang.org/x/sys/unix"
)

// record builds a raw record as the kernel side writes it.
type record struct {
	ev     bpfCtraceEvent
	fields []byte
}

func newRecord(op Op, ret int64, args ...uint64) *record {
	r := &record{}
	r.ev.Type = uint16(bpfCtraceRecordTypeCTRACE_REC_EVENT)
	r.ev.Op = uint16(op)
	r.ev.Ret = ret
	r.ev.Pid, r.ev.Tid, r.ev.Ppid = 42, 43, 1
	r.ev.Uid, r.ev.Gid = 1000, 1000
	copy(r.ev.Args[:], args)
	for i, c := range "mount" {
		r.ev.Comm[i] = int8(c)
	}
	return r
}

func (r *record) field(arg int, kind bpfCtraceFieldKind, flags bpfCtraceFieldFlag, data []byte) *record {
	f := bpfCtraceField{Arg: uint8(arg), Kind: uint8(kind), Flags: uint8(flags), Len: uint32(len(data))}
	var b bytes.Buffer
	_ = binary.Write(&b, hostEndian, f)
	b.Write(data)
	for b.Len()%8 != 0 {
		b.WriteByte(0)
	}
	r.fields = append(r.fields, b.Bytes()...)
	r.ev.Nfields++
	return r
}

func (r *record) str(arg int, s string) *record {
	return r.field(arg, bpfCtraceFieldKindCTRACE_FIELD_STR, 0, []byte(s))
}

func (r *record) file(arg int, magic uint32, ino uint64, flags bpfCtraceFileFlag, leafFirst ...string) *record {
	var b bytes.Buffer
	_ = binary.Write(&b, hostEndian, bpfCtraceFile{Ino: ino, Magic: magic, Ncomp: uint16(len(leafFirst)), Flags: uint16(flags)})
	for _, c := range leafFirst {
		b.WriteString(c)
		b.WriteByte(0)
	}
	return r.field(arg, bpfCtraceFieldKindCTRACE_FIELD_FILE, 0, b.Bytes())
}

func (r *record) bytes() []byte {
	r.ev.Size = uint16(len(r.fields))
	var b bytes.Buffer
	_ = binary.Write(&b, hostEndian, r.ev)
	b.Write(r.fields)
	return b.Bytes()
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		want string // the strace rendering of the arguments
		err  error
	}{
		{
			name: "mount with strings",
			raw: newRecord(bpfCtraceOpCTRACE_OP_MOUNT, -int64(unix.ENOENT), 1, 2, 3, unix.MS_NOSUID, 5).
				str(0, "overlay").str(1, "/tmp/m1").str(2, "overlay").str(4, "lowerdir=/a,upperdir=/b").bytes(),
			want: `"overlay", "/tmp/m1", "overlay", MS_NOSUID, "lowerdir=/a,upperdir=/b"`,
		},
		{
			name: "mount with NULL source and a truncated data string",
			raw: newRecord(bpfCtraceOpCTRACE_OP_MOUNT, -int64(unix.EINVAL), 0, 2, 3, 0, 5).
				str(1, "/x").str(2, "tmpfs").
				field(4, bpfCtraceFieldKindCTRACE_FIELD_STR, bpfCtraceFieldFlagCTRACE_FIELD_TRUNCATED, []byte("size=")).bytes(),
			want: `NULL, "/x", "tmpfs", 0, "size="...`,
		},
		{
			name: "openat with AT_FDCWD and an unread bad pointer",
			raw: newRecord(bpfCtraceOpCTRACE_OP_OPENAT, -int64(unix.EFAULT), uint64(0xffffff9c), 0xdead, unix.O_RDONLY, 0).
				field(1, bpfCtraceFieldKindCTRACE_FIELD_STR, bpfCtraceFieldFlagCTRACE_FIELD_FAULT, nil).bytes(),
			want: `AT_FDCWD, 0xdead, O_RDONLY`,
		},
		{
			name: "setns on a file, path from the leaf up",
			raw: newRecord(bpfCtraceOpCTRACE_OP_SETNS, -int64(unix.EINVAL), 5, unix.CLONE_NEWNET).
				file(0, 0x01021994, 77, 0, "cni-8d1c", "netns", "run").bytes(),
			want: `5</run/netns/cni-8d1c>, CLONE_NEWNET`,
		},
		{
			name: "setns on a namespace",
			raw: newRecord(bpfCtraceOpCTRACE_OP_SETNS, -int64(unix.EINVAL), 4, unix.CLONE_NEWUTS).
				file(0, unix.NSFS_MAGIC, 4026531840, bpfCtraceFileFlagCTRACE_FILE_PSEUDO, "net").bytes(),
			want: `4<net:[4026531840]>, CLONE_NEWUTS`,
		},
		{
			name: "fsmount on an anonymous inode",
			raw: newRecord(bpfCtraceOpCTRACE_OP_FSMOUNT, -int64(unix.EINVAL), 3, unix.FSMOUNT_CLOEXEC, 0).
				file(0, unix.ANON_INODE_FS_MAGIC, 9, bpfCtraceFileFlagCTRACE_FILE_PSEUDO, "[fscontext]").bytes(),
			want: `3<anon_inode:[fscontext]>, FSMOUNT_CLOEXEC, 0`,
		},
		{
			name: "root directory",
			raw: newRecord(bpfCtraceOpCTRACE_OP_OPENAT, -int64(unix.ENOENT), 3, 1, unix.O_RDONLY, 0).
				file(0, 0xef53, 2, 0).str(1, "x").bytes(),
			want: `3</>, "x", O_RDONLY`,
		},
		{
			name: "execve argv",
			raw: newRecord(bpfCtraceOpCTRACE_OP_EXECVE, -int64(unix.EACCES), 1, 2, 3).
				str(0, "/bin/x").field(1, bpfCtraceFieldKindCTRACE_FIELD_ARGV, bpfCtraceFieldFlagCTRACE_FIELD_TRUNCATED, []byte("x\x00-a\x00\x00")).bytes(),
			want: `"/bin/x", ["x", "-a", "", ...], 0x3`,
		},
		{name: "empty", raw: nil, err: ErrShortRecord},
		{name: "short header", raw: newRecord(bpfCtraceOpCTRACE_OP_MOUNT, -1).bytes()[:20], err: ErrShortRecord},
		{name: "unknown op", raw: newRecord(Op(200), -1).bytes(), err: ErrUnknownOp},
		{name: "op zero", raw: newRecord(Op(0), -1).bytes(), err: ErrUnknownOp},
		{
			name: "size disagrees with the record",
			raw:  append(newRecord(bpfCtraceOpCTRACE_OP_CHROOT, -2, 1).str(0, "/x").bytes(), 0, 0, 0, 0, 0, 0, 0, 0),
			err:  ErrBadField,
		},
		{
			name: "field past the end",
			raw: func() []byte {
				r := newRecord(bpfCtraceOpCTRACE_OP_CHROOT, -2, 1).str(0, "/abc")
				r.fields[4] = 200 // len
				return r.bytes()
			}(),
			err: ErrBadField,
		},
		{
			name: "field for an argument the syscall lacks",
			raw:  newRecord(bpfCtraceOpCTRACE_OP_CHROOT, -2, 1).str(3, "/x").bytes(),
			err:  ErrBadField,
		},
		{
			name: "more fields announced than sent",
			raw: func() []byte {
				r := newRecord(bpfCtraceOpCTRACE_OP_CHROOT, -2, 1).str(0, "/x")
				r.ev.Nfields = 3
				return r.bytes()
			}(),
			err: ErrBadField,
		},
		{
			name: "unknown field kind",
			raw:  newRecord(bpfCtraceOpCTRACE_OP_CHROOT, -2, 1).field(0, 99, 0, []byte("x")).bytes(),
			err:  ErrBadField,
		},
		{
			name: "file field with too few components",
			raw: func() []byte {
				var b bytes.Buffer
				_ = binary.Write(&b, hostEndian, bpfCtraceFile{Ncomp: 3})
				b.WriteString("a\x00")
				return newRecord(bpfCtraceOpCTRACE_OP_SETNS, -22, 3, 0).field(0, bpfCtraceFieldKindCTRACE_FIELD_FILE, 0, b.Bytes()).bytes()
			}(),
			err: ErrBadField,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode(tt.raw)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got := renderArgs(&ev); got != tt.want {
				t.Errorf("args:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func renderArgs(ev *Event) string {
	var b bytes.Buffer
	for i := range ev.Args {
		if ev.Args[i].Unused {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ev.Args[i].String())
	}
	return b.String()
}

func TestDecodeProcess(t *testing.T) {
	r := newRecord(bpfCtraceOpCTRACE_OP_UNSHARE, -int64(unix.EPERM), unix.CLONE_NEWNS)
	r.ev.TsNs = 5e9
	r.ev.CgroupId, r.ev.Mntns, r.ev.Pidns, r.ev.Netns, r.ev.Userns = 9, 1, 2, 3, 4
	ev, err := Decode(r.bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := Proc{PID: 42, TID: 43, PPID: 1, Comm: "mount", UID: 1000, GID: 1000, CgroupID: 9, MntNS: 1, PidNS: 2, NetNS: 3, UserNS: 4}
	if !reflect.DeepEqual(ev.Proc, want) {
		t.Errorf("proc = %+v, want %+v", ev.Proc, want)
	}
	if ev.Syscall != "unshare" || ev.Family != FamilyNamespace || ev.Errno != unix.EPERM || ev.Ret != -1*int64(unix.EPERM) || ev.Boot.Seconds() != 5 {
		t.Errorf("event = %+v", ev)
	}
}

func TestDecodeContext(t *testing.T) {
	capData := func(c bpfCtraceCap) []byte {
		var b bytes.Buffer
		_ = binary.Write(&b, hostEndian, c)
		return b.Bytes()
	}
	userns := bpfCtraceCap{Cap: 21, Userns: 4026531837, UsernsOwner: 0, UsernsLevel: 0, CallerUserns: 4026532201, Nextents: 2}
	userns.Extents[0].First, userns.Extents[0].LowerFirst, userns.Extents[0].Count = 0, 100000, 65536
	userns.Extents[1].First, userns.Extents[1].LowerFirst, userns.Extents[1].Count = 65536, 1000, 1
	tests := []struct {
		name    string
		rec     *record
		want    func(*Event) bool
		wantErr error
	}{
		{
			name: "capability in another user namespace",
			rec: newRecord(bpfCtraceOpCTRACE_OP_MOUNT, -int64(unix.EPERM)).
				field(argNone, bpfCtraceFieldKindCTRACE_FIELD_CAP, 0, capData(userns)),
			want: func(ev *Event) bool {
				return reflect.DeepEqual(ev.Reasons, []Reason{&CapabilityReason{
					Cap: "CAP_SYS_ADMIN", UserNS: 4026531837, InitUserNS: true,
					CallerUserNS: 4026532201, CallerUIDMap: IDMap{{0, 100000, 65536}, {65536, 1000, 1}},
				}})
			},
		},
		{
			name: "cgroup path and runtime command line",
			rec: newRecord(bpfCtraceOpCTRACE_OP_NEWFSTATAT, -int64(unix.ENOENT)).
				field(argNone, bpfCtraceFieldKindCTRACE_FIELD_CGROUP, 0, []byte("web-1\x00default\x00")).
				field(argNone, bpfCtraceFieldKindCTRACE_FIELD_CMDLINE, 0, []byte("runc\x00init\x00")),
			want: func(ev *Event) bool {
				return ev.Proc.Cgroup == "/default/web-1" && reflect.DeepEqual(ev.Proc.Cmdline, []string{"runc", "init"})
			},
		},
		{
			name: "seccomp flag",
			rec: func() *record {
				r := newRecord(bpfCtraceOpCTRACE_OP_UNSHARE, -int64(unix.EPERM))
				r.ev.Flags = uint16(bpfCtraceEventFlagCTRACE_EV_SECCOMP)
				return r
			}(),
			want: func(ev *Event) bool { return reflect.DeepEqual(ev.Reasons, []Reason{SeccompReason{}}) },
		},
		{
			name: "LSM hook denial",
			rec: newRecord(bpfCtraceOpCTRACE_OP_MOUNT, -int64(unix.EACCES)).
				field(argNone, bpfCtraceFieldKindCTRACE_FIELD_LSM, 0, func() []byte {
					var b bytes.Buffer
					_ = binary.Write(&b, hostEndian, bpfCtraceLsm{Hook: uint32(bpfCtraceLsmHookCTRACE_LSM_SB_MOUNT), Ret: -int32(unix.EACCES)})
					return b.Bytes()
				}()),
			want: func(ev *Event) bool {
				return reflect.DeepEqual(ev.Reasons, []Reason{&LSMReason{Hook: "sb_mount", Detail: "security_sb_mount returned -EACCES"}})
			},
		},
		{
			name:    "short capability",
			rec:     newRecord(bpfCtraceOpCTRACE_OP_MOUNT, -1).field(argNone, bpfCtraceFieldKindCTRACE_FIELD_CAP, 0, []byte{1, 2, 3}),
			wantErr: ErrBadField,
		},
		{
			name:    "argument kind with no argument",
			rec:     newRecord(bpfCtraceOpCTRACE_OP_MOUNT, -1).field(argNone, bpfCtraceFieldKindCTRACE_FIELD_STR, 0, []byte("x")),
			wantErr: ErrBadField,
		},
		{
			name: "not an event",
			rec: func() *record {
				r := newRecord(bpfCtraceOpCTRACE_OP_MOUNT, -1)
				r.ev.Type = uint16(bpfCtraceRecordTypeCTRACE_REC_LOG)
				return r
			}(),
			wantErr: ErrNotEvent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode(tt.rec.bytes())
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(&ev) {
				t.Errorf("event = %+v", ev)
			}
		})
	}
}

func logRecord(tid uint32, msg string) []byte {
	h := bpfCtraceLog{Type: uint16(bpfCtraceRecordTypeCTRACE_REC_LOG), Len: uint16(len(msg)), Tid: tid, TsNs: 7}
	var b bytes.Buffer
	_ = binary.Write(&b, hostEndian, h)
	return append(b.Bytes()[:logHead], msg...)
}

func TestDecodeLog(t *testing.T) {
	tid, boot, msg, err := decodeLog(logRecord(9, "tmpfs: Bad value for 'size'\n"))
	if err != nil || tid != 9 || boot != 7 || msg != "tmpfs: Bad value for 'size'" {
		t.Errorf("decodeLog = %d, %v, %q, %v", tid, boot, msg, err)
	}
	bad := logRecord(9, "abc")
	if _, _, _, err := decodeLog(bad[:len(bad)-1]); !errors.Is(err, ErrBadField) {
		t.Errorf("short text: err = %v, want %v", err, ErrBadField)
	}
	if _, _, _, err := decodeLog(bad[:3]); !errors.Is(err, ErrShortRecord) {
		t.Errorf("short header: err = %v, want %v", err, ErrShortRecord)
	}
}

func TestStripLogTime(t *testing.T) {
	tests := map[string]string{
		"[   56.577528] tmpfs: Bad value for 'size'": "tmpfs: Bad value for 'size'",
		"tmpfs: Bad value for 'size'":                "tmpfs: Bad value for 'size'",
		"[sda] Attached SCSI disk":                   "[sda] Attached SCSI disk",
		"[12.5]":                                     "[12.5]",
	}
	for in, want := range tests {
		if got := stripLogTime(in); got != want {
			t.Errorf("stripLogTime(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPendingLogs(t *testing.T) {
	var p pendingLogs
	p.add(1, 1, "from a call that succeeded")
	p.add(1, 2, "first")
	p.add(1, 3, "second")
	p.add(2, 3, "other thread")
	if got := p.take(1, 2); !reflect.DeepEqual(got, []string{"first", "second"}) {
		t.Errorf("take(1, 2) = %q", got)
	}
	if got := p.take(1, 1); got != nil {
		t.Errorf("lines taken twice: %q", got)
	}
	if got := p.take(2, 0); got != nil {
		t.Errorf("take(2, 0) = %q, want none", got)
	}
	for i := range logThreads + 1 {
		p.add(uint32(i), time.Duration(i), "x")
	}
	if len(p.by) > logThreads {
		t.Errorf("%d threads kept, bound is %d", len(p.by), logThreads)
	}
}

// FuzzDecode: whatever the bytes, Decode returns an event or an error and
// never panics.
func FuzzDecode(f *testing.F) {
	f.Add(newRecord(bpfCtraceOpCTRACE_OP_MOUNT, -2, 1, 2, 3, 0, 5).str(0, "a").str(1, "/b").bytes())
	f.Add(newRecord(bpfCtraceOpCTRACE_OP_SETNS, -22, 5, 0).file(0, unix.NSFS_MAGIC, 1, bpfCtraceFileFlagCTRACE_FILE_PSEUDO, "net").bytes())
	f.Add(newRecord(bpfCtraceOpCTRACE_OP_CLONE3, -22, 1, 64).field(0, bpfCtraceFieldKindCTRACE_FIELD_STRUCT, 0, make([]byte, 64)).bytes())
	f.Add(newRecord(bpfCtraceOpCTRACE_OP_EXECVE, -13, 1, 2).field(1, bpfCtraceFieldKindCTRACE_FIELD_ARGV, 0, []byte("a\x00b\x00")).bytes())
	f.Add(newRecord(bpfCtraceOpCTRACE_OP_MOUNT, -1).field(argNone, bpfCtraceFieldKindCTRACE_FIELD_CAP, 0, make([]byte, capSize)).bytes())
	f.Add(logRecord(1, "overlayfs: failed to resolve '/x': -2"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		if recordType(raw) == bpfCtraceRecordTypeCTRACE_REC_LOG {
			_, _, _, _ = decodeLog(raw)
			return
		}
		ev, err := Decode(raw)
		if err != nil {
			return
		}
		for i := range ev.Args {
			_ = ev.Args[i].String()
		}
	})
}

func TestOpsTable(t *testing.T) {
	names := map[string]bool{}
	for o := Op(1); int(o) < len(ops); o++ {
		s := &ops[o]
		if s.name == "" || s.family == "" || len(s.args) == 0 || len(s.args) > 6 {
			t.Errorf("op %d: incomplete entry %+v", o, s)
			continue
		}
		if names[s.name] {
			t.Errorf("op %d: name %s used twice", o, s.name)
		}
		names[s.name] = true
		for _, a := range s.args {
			if a.kind == KindFlags && a.format == nil {
				t.Errorf("%s: flag argument %s has no formatter", s.name, a.name)
			}
			if a.kind == KindStruct && a.decode == nil {
				t.Errorf("%s: struct argument %s has no decoder", s.name, a.name)
			}
		}
	}
	if len(names) != len(Syscalls()) {
		t.Errorf("Syscalls() lists %d names, table has %d", len(Syscalls()), len(names))
	}
}

// TestOpsGenerated: the objects were built from the table as it is (make
// generate ran after the last change to it): the same ops by the same
// numbers, and the two exit programs of each.
func TestOpsGenerated(t *testing.T) {
	if int(bpfCtraceOpCTRACE_OP_MAX) != len(ops) {
		t.Fatalf("the objects have %d ops, the table %d: run make generate", bpfCtraceOpCTRACE_OP_MAX-1, len(ops)-1)
	}
	spec, err := loadBpf()
	if err != nil {
		t.Fatal(err)
	}
	var enum *btf.Enum
	if err := spec.Types.TypeByName("ctrace_op", &enum); err != nil {
		t.Fatal(err)
	}
	byValue := map[uint64]string{}
	for _, v := range enum.Values {
		byValue[v.Value] = v.Name
	}
	for _, s := range Table() {
		if want := "CTRACE_OP_" + strings.ToUpper(s.Name); byValue[uint64(s.Op)] != want {
			t.Errorf("op %d is %s in the objects, %s in the table: run make generate", s.Op, byValue[uint64(s.Op)], want)
		}
		for _, prog := range []string{"exit_" + s.Name, "tp_exit_" + s.Name} {
			if spec.Programs[prog] == nil {
				t.Errorf("%s: no program %s in bpf/ctrace.bpf.c", s.Name, prog)
			}
		}
	}
}

func TestParseSyscalls(t *testing.T) {
	tests := []struct {
		in          []string
		has, hasNot []string
		err         bool
	}{
		{in: nil, has: Syscalls()},
		{in: []string{"mount", "openat"}, has: []string{"mount", "openat"}, hasNot: []string{"umount2"}},
		{in: []string{"mount", "mount"}, has: []string{"mount"}},
		{in: []string{"%mount"}, has: []string{"mount", "fsconfig", "chroot"}, hasNot: []string{"openat", "setns"}},
		{in: []string{"%open", "%exec"}, has: []string{"open", "openat2", "execve"}, hasNot: []string{"mount", "newfstatat"}},
		{in: []string{"%namespace", "setns"}, has: []string{"setns", "unshare", "clone3"}, hasNot: []string{"execve"}},
		{in: []string{"%runtime"}, has: []string{"newfstatat", "mkdirat", "chdir"}, hasNot: []string{"openat"}},
		{in: []string{"mout"}, err: true},
		{in: []string{"%files"}, err: true},
		{in: []string{""}, err: true},
	}
	for _, tt := range tests {
		got, err := ParseSyscalls(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParseSyscalls(%q) = %v, %v; want error %v", tt.in, got, err, tt.err)
			continue
		}
		names := map[string]int{}
		for _, o := range got {
			names[o.String()]++
		}
		for _, n := range tt.has {
			if names[n] != 1 {
				t.Errorf("ParseSyscalls(%q) = %v: %s %d times, want once", tt.in, got, n, names[n])
			}
		}
		for _, n := range tt.hasNot {
			if names[n] != 0 {
				t.Errorf("ParseSyscalls(%q) = %v: has %s", tt.in, got, n)
			}
		}
		if !tt.err && len(names) != len(got) {
			t.Errorf("ParseSyscalls(%q) = %v: duplicates", tt.in, got)
		}
	}
}

func TestExplainLoad(t *testing.T) {
	ve := &ebpf.VerifierError{Cause: unix.EACCES, Log: []string{
		"0: (79) r1 = *(u64 *)(r1 +0)",
		"R1 invalid mem access 'scalar'",
		"processed 12 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 1",
	}}
	err := explainLoad(fmt.Errorf("program exit_mount: load program: %w", ve))
	for _, want := range []string{"exit_mount", "R1 invalid mem access 'scalar'"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v: does not say %q", err, want)
		}
	}
}

func TestIDMap(t *testing.T) {
	m := IDMap{{0, 100000, 65536}, {65536, 1000, 1}, {70000, 4294967286, 10}}
	if got, want := m.String(), "0 100000 65536\n65536 1000 1\n70000 4294967286 10"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		id, in uint32
		ok     bool
	}{{100000, 0, true}, {165535, 65535, true}, {165536, 0, false}, {1000, 65536, true}, {4294967295, 70009, true}, {5, 0, false}} {
		if in, ok := m.Inside(tc.id); in != tc.in || ok != tc.ok {
			t.Errorf("Inside(%d) = %d, %v; want %d, %v", tc.id, in, ok, tc.in, tc.ok)
		}
	}
	if got := (IDMap{{0, 0, 4294967295}}).String(); got != "0 0 4294967295" {
		t.Errorf("identity map: %q", got)
	}
}

// TestDecoderDropsRestart: a clone the kernel restarts (ERESTARTNOINTR,
// a signal during fork) is not a failure the caller saw: no event, and a
// kernel log line held for it does not go to the next call of its thread.
func TestDecoderDropsRestart(t *testing.T) {
	d := NewDecoder(0, "")
	if ev, err := d.Decode(logRecord(43, "a line during the restarted call")); ev != nil || err != nil {
		t.Fatalf("log record: %v, %v", ev, err)
	}
	restart := newRecord(bpfCtraceOpCTRACE_OP_CLONE, -513)
	restart.ev.Nlogs = 1
	if ev, err := d.Decode(restart.bytes()); ev != nil || err != nil {
		t.Fatalf("ERESTARTNOINTR: event %+v, err %v; want neither", ev, err)
	}
	ev, err := d.Decode(newRecord(bpfCtraceOpCTRACE_OP_CLONE, -int64(unix.EAGAIN)).bytes())
	if err != nil || ev == nil || ev.Errno != unix.EAGAIN || len(ev.Reasons) != 0 {
		t.Fatalf("the next failure: %+v, %v; want EAGAIN with no reason", ev, err)
	}
}
