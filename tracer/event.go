package tracer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/tracer/jsonw"
	"github.com/ctrace-dev/ctrace/tracer/xlat"
)

// Event is one traced syscall exit, decoded.
type Event struct {
	// Time is the wall-clock time of the exit. Decode leaves it zero
	// (records carry boot time); the Tracer fills it in.
	Time time.Time
	// Boot is the time of the exit on CLOCK_BOOTTIME.
	Boot    time.Duration
	Op      Op
	Syscall string
	Family  Family
	// Ret is the raw return value: -errno when the call failed.
	Ret int64
	// Errno is the error of a failed call, 0 when it succeeded.
	Errno unix.Errno
	Proc  Proc
	Args  []Arg
	// NoArgs is set when the kernel could not read the call's registers.
	NoArgs bool
	// Reasons says why the call failed, as far as the kernel told.
	Reasons []Reason
	// NoReason says why a stage after the kernel (the permission walk)
	// found no reason, for --explain; "" when none looked.
	NoReason string
	// Repeats, when set, makes the event a count rather than a call: it
	// stands for that many failures identical to the event with the same
	// AggID (Options.Aggregate), counted in the kernel and never sent.
	// It is a copy of that event, at the time of the last of them: what
	// was learnt about the calls after the fact (the stages of
	// internal/pipeline) is the first one's.
	Repeats uint64
	// AggID links the event whose record opened a count in the kernel
	// with the count's event (Repeats); 0 for other events.
	AggID uint64

	// nlogs is the number of kernel log records sent for the call, which
	// Run attaches as ReasonKernelLog reasons.
	nlogs int
	// aggKey is the kernel's key of the count this event's record opened
	// (aggKey.Hash is 0 when it opened none).
	aggKey bpfAggKey
}

// Calls is the number of calls the event stands for: Repeats for a
// count made in the kernel, 1 for a call.
func (e *Event) Calls() uint64 {
	if e.Repeats > 0 {
		return e.Repeats
	}
	return 1
}

// Proc is the process context of an event, read in the kernel at the time
// of the call, so it holds for processes that are gone when it is read.
type Proc struct {
	PID      uint32 // thread group id
	TID      uint32
	PPID     uint32
	Comm     string
	UID      uint32
	GID      uint32
	CgroupID uint64 // cgroup v2 id
	MntNS    uint32 // namespace inode numbers
	PidNS    uint32
	NetNS    uint32
	UserNS   uint32
	// Cgroup is the path of the task's cgroup v2 below the root, read in
	// the kernel ("/default/web-1"); "" for the root or when unknown.
	Cgroup string
	// Cmdline is the argument vector of container runtime processes
	// (runc, the containerd shims), read in the kernel; nil for others.
	Cmdline []string
}

// Snapshot is a containerd snapshot, as a permission reason names it.
type Snapshot struct {
	Snapshotter string // "overlayfs"
	Key         string
	Kind        string // "active", "committed", "view"
	Container   string // the container's id
	Image       string
	// Labels are the snapshot's labels, with the remap labels
	// (containerd.io/snapshot/uidmapping, gidmapping) when set.
	Labels map[string]string
}

// IDExtent is one line of a user namespace's uid_map: Count ids from
// Inside in the namespace are Outside... in its parent.
type IDExtent struct {
	Inside, Outside, Count uint32
}

// String writes the extent as /proc/PID/uid_map does: "0 100000 65536".
func (x IDExtent) String() string { return string(x.AppendTo(nil)) }

// AppendTo appends the extent as String writes it.
func (x IDExtent) AppendTo(b []byte) []byte {
	b = strconv.AppendUint(b, uint64(x.Inside), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(x.Outside), 10)
	b = append(b, ' ')
	return strconv.AppendUint(b, uint64(x.Count), 10)
}

// Arrow writes the extent as a reason's text does: "0 -> 100000, 65536 ids".
func (x IDExtent) Arrow() string {
	return fmt.Sprintf("%d -> %d, %d ids", x.Inside, x.Outside, x.Count)
}

// IDMap is a user namespace's uid_map (or gid_map), extent by extent.
type IDMap []IDExtent

// String writes the map as /proc/PID/uid_map does, one extent per line,
// without the last newline.
func (m IDMap) String() string {
	var b []byte
	for i, x := range m {
		if i > 0 {
			b = append(b, '\n')
		}
		b = x.AppendTo(b)
	}
	return string(b)
}

// Inside maps an id of the parent namespace into the namespace; false
// when no extent covers it.
// AppendJSON appends the map under a key given quoted with its colon
// (`"caller_uid_map":`), as the string /proc/PID/uid_map holds, without
// building it first: its digits and spaces need no escaping, and its
// newlines are written escaped.
func (m IDMap) AppendJSON(b []byte, quotedKey string) []byte {
	b = append(jsonw.KeyLit(b, quotedKey), '"')
	for i, x := range m {
		if i > 0 {
			b = append(b, `\n`...)
		}
		b = x.AppendTo(b)
	}
	return append(b, '"')
}

func (m IDMap) Inside(id uint32) (uint32, bool) {
	for _, x := range m {
		// In 64 bits: an extent may reach 2^32.
		if uint64(id) >= uint64(x.Outside) && uint64(id) < uint64(x.Outside)+uint64(x.Count) {
			return x.Inside + (id - x.Outside), true
		}
	}
	return 0, false
}

// Clone returns a copy of e that shares nothing a Tracer reuses for the
// next record: what a sink keeps after Sink.Event returns. Strings and
// the slices inside arguments are never changed once decoded, and are
// shared.
func (e *Event) Clone() *Event {
	c := *e
	c.Args = slices.Clone(e.Args)
	c.Reasons = slices.Clone(e.Reasons)
	return &c
}

// Failed reports whether the call failed.
func (e *Event) Failed() bool { return e.Errno != 0 }

// Arg is one decoded syscall argument; xlat prints it as strace does.
type Arg = xlat.Arg

// Errors of Decode. A malformed record is reported and skipped; it never
// stops the tracer.
var (
	ErrShortRecord = errors.New("record shorter than its header")
	ErrUnknownOp   = errors.New("unknown syscall op")
	ErrBadField    = errors.New("malformed field")
	ErrNotEvent    = errors.New("not a syscall event record")
)

var (
	capSize   = int(unsafe.Sizeof(bpfCtraceCap{}))
	lsmSize   = int(unsafe.Sizeof(bpfCtraceLsm{}))
	logHead   = int(unsafe.Offsetof(bpfCtraceLog{}.Msg))
	eventSize = int(unsafe.Sizeof(bpfCtraceEvent{}))
	fieldSize = int(unsafe.Sizeof(bpfCtraceField{}))
	fileSize  = int(unsafe.Sizeof(bpfCtraceFile{}))
)

// Decode turns one raw ring-buffer record into an Event. It checks every
// length before it reads and returns an error, never panics, on a
// malformed or truncated record.
func Decode(raw []byte) (Event, error) {
	var ev Event
	err := (*decoder)(nil).decode(raw, &ev)
	return ev, err
}

// decoder decodes one record after another into the same Event, keeping
// what the next record is likely to need again, so that a storm of
// failures is decoded without allocating more than its strings.
type decoder struct {
	// comms holds the names of the processes seen, by the kernel's
	// bytes: a storm comes from a few processes.
	comms map[[len(bpfCtraceEvent{}.Comm)]int8]string
	// cgroups holds cgroup paths by the kernel's bytes: a storm comes
	// from a few cgroups.
	cgroups map[string]string
	// known holds the paths of the cgroups the kernel no longer sends;
	// nil decodes records as they are.
	known *cgroupPaths
	// texts holds the last rendering of each flag or mode argument of
	// each call: a process that fails repeats its flags.
	texts [bpfCtraceOpCTRACE_OP_MAX][len(bpfCtraceEvent{}.Args)]argText
}

type argText struct {
	raw  uint64
	text string
	set  bool
}

// maxComms and maxCgroups bound decoder.comms and decoder.cgroups; past
// that, they start again.
const (
	maxComms   = 1024
	maxCgroups = 1024
)

// decode decodes raw into ev, reusing ev's slices. A nil decoder keeps
// nothing and reuses nothing that ev holds.
func (d *decoder) decode(raw []byte, ev *Event) error {
	var args []Arg
	var reasons []Reason
	if d != nil {
		args, reasons = ev.Args[:0], ev.Reasons[:0]
	}
	*ev = Event{}
	if len(raw) < eventSize {
		return fmt.Errorf("%w: %d bytes, want at least %d", ErrShortRecord, len(raw), eventSize)
	}
	var h bpfCtraceEvent
	// The kernel writes the header in host byte order and layout, which
	// bpf2go's struct reproduces (structs.HostLayout).
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&h)), eventSize), raw)
	if h.Type != uint16(bpfCtraceRecordTypeCTRACE_REC_EVENT) {
		return fmt.Errorf("%w: record type %d", ErrNotEvent, h.Type)
	}
	op := Op(h.Op)
	if !validOp(op) {
		return fmt.Errorf("%w %d", ErrUnknownOp, h.Op)
	}
	if int(h.Size) != len(raw)-eventSize {
		return fmt.Errorf("%w: header says %d bytes of fields, record has %d", ErrBadField, h.Size, len(raw)-eventSize)
	}
	spec := &ops[op]
	*ev = Event{
		Boot:    time.Duration(h.TsNs),
		Op:      op,
		Syscall: spec.name,
		Family:  spec.family,
		Ret:     h.Ret,
		NoArgs:  h.Flags&uint16(bpfCtraceEventFlagCTRACE_EV_NO_ARGS) != 0,
		Proc: Proc{
			PID: h.Pid, TID: h.Tid, PPID: h.Ppid,
			Comm: d.comm(&h.Comm),
			UID:  h.Uid, GID: h.Gid, CgroupID: h.CgroupId,
			MntNS: h.Mntns, PidNS: h.Pidns, NetNS: h.Netns, UserNS: h.Userns,
		},
		Reasons: reasons,
	}
	if h.Ret < 0 && h.Ret >= -4095 {
		ev.Errno = unix.Errno(-h.Ret)
	}
	if h.Flags&uint16(bpfCtraceEventFlagCTRACE_EV_SECCOMP) != 0 {
		ev.Reasons = append(ev.Reasons, SeccompReason{})
	}
	ev.nlogs = int(h.Nlogs)
	if h.AggHash != 0 {
		ev.aggKey = bpfAggKey{Hash: h.AggHash, Epoch: h.AggEpoch}
	}
	if cap(args) >= len(spec.args) {
		ev.Args = args[:len(spec.args)]
		clear(ev.Args)
	} else {
		ev.Args = make([]Arg, len(spec.args))
	}
	for i, as := range spec.args {
		a := &ev.Args[i]
		a.Name, a.Kind, a.Raw = as.name, as.kind, h.Args[i]
		if as.kind == KindFlags || as.kind == KindMode {
			a.Text = d.argText(op, i, as, a.Raw)
		}
	}
	markUnused(ev)
	data := raw[eventSize:]
	for n := 0; n < int(h.Nfields); n++ {
		if len(data) < fieldSize {
			return fmt.Errorf("%w %d: %d bytes left, want a %d-byte header", ErrBadField, n, len(data), fieldSize)
		}
		var f bpfCtraceField
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&f)), fieldSize), data)
		end := fieldSize + int(f.Len)
		if end > len(data) {
			return fmt.Errorf("%w %d: length %d past the record's end", ErrBadField, n, f.Len)
		}
		switch {
		case f.Arg == argNone:
			if err := d.decodeContext(ev, f, data[fieldSize:end]); err != nil {
				return fmt.Errorf("%w %d: %v", ErrBadField, n, err)
			}
		case int(f.Arg) >= len(ev.Args):
			return fmt.Errorf("%w %d: argument %d, %s has %d", ErrBadField, n, f.Arg, spec.name, len(ev.Args))
		default:
			if err := decodeField(&ev.Args[f.Arg], spec.args[f.Arg], f, data[fieldSize:end]); err != nil {
				return fmt.Errorf("%w %d (%s): %v", ErrBadField, n, ev.Args[f.Arg].Name, err)
			}
		}
		pad := (end + 7) &^ 7
		if pad > len(data) {
			pad = len(data)
		}
		data = data[pad:]
	}
	if ev.Proc.Cgroup == "" && d != nil && d.known != nil {
		ev.Proc.Cgroup = d.known.byID[ev.Proc.CgroupID]
	}
	return nil
}

// maxKnownCgroups is the size of the kernel's cgroups_known map.
const maxKnownCgroups = 4096

// cgroupPaths holds cgroup paths by id for the kernel side, which leaves
// the path out of the records of a cgroup in its cgroups_known map:
// walking the cgroup's names cost every failing call's record a
// probe-read per level. An id goes into the map only after its path is
// here, and never leaves either (cgroup ids are not reused), so a record
// without the path always finds it; once the map is full, the kernel
// sends the paths of new cgroups as before.
type cgroupPaths struct {
	byID map[uint64]string
	// tell adds an id to the kernel's map.
	tell func(id uint64) error
	full bool
}

// learn keeps the path of cgroup id, read from a record, and tells the
// kernel it need not send it again.
func (c *cgroupPaths) learn(id uint64, path string) {
	if c.full || c.tell == nil {
		return
	}
	if _, ok := c.byID[id]; ok {
		return
	}
	if c.byID == nil {
		c.byID = map[uint64]string{}
	}
	if len(c.byID) >= maxKnownCgroups {
		c.full = true
		return
	}
	c.byID[id] = path
	if err := c.tell(id); err != nil {
		// The kernel goes on sending it: nothing is lost.
		delete(c.byID, id)
		c.full = true
	}
}

// comm returns the process name in a kernel comm array.
func (d *decoder) comm(c *[len(bpfCtraceEvent{}.Comm)]int8) string {
	if d == nil {
		return cString(unsafe.Slice((*byte)(unsafe.Pointer(&c[0])), len(c)))
	}
	if s, ok := d.comms[*c]; ok {
		return s
	}
	if d.comms == nil || len(d.comms) >= maxComms {
		d.comms = make(map[[len(bpfCtraceEvent{}.Comm)]int8]string)
	}
	s := cString(unsafe.Slice((*byte)(unsafe.Pointer(&c[0])), len(c)))
	d.comms[*c] = s
	return s
}

// cgroup returns the path of a CTRACE_FIELD_CGROUP field.
func (d *decoder) cgroup(b []byte) string {
	if d == nil {
		return cgroupPath(b)
	}
	if s, ok := d.cgroups[string(b)]; ok {
		return s
	}
	if d.cgroups == nil || len(d.cgroups) >= maxCgroups {
		d.cgroups = make(map[string]string)
	}
	s := cgroupPath(b)
	d.cgroups[string(b)] = s
	return s
}

// cgroupPath joins the components of a cgroup field, which arrive leaf
// first and NUL-terminated: "web-1\x00default\x00" is /default/web-1.
func cgroupPath(b []byte) string {
	comps := splitNUL(b)
	var sb strings.Builder
	for i := len(comps) - 1; i >= 0; i-- {
		sb.WriteByte('/')
		sb.WriteString(comps[i])
	}
	return sb.String()
}

// argText renders argument i of op, a flag set or a mode.
func (d *decoder) argText(op Op, i int, as argSpec, raw uint64) string {
	var t *argText
	if d != nil {
		if t = &d.texts[op][i]; t.set && t.raw == raw {
			return t.text
		}
	}
	var s string
	if as.kind == KindFlags {
		s = as.format(raw)
	} else {
		s = xlat.FileMode.Format(raw)
	}
	if t != nil {
		*t = argText{raw: raw, text: s, set: true}
	}
	return s
}

// argNone is ctrace_field.arg of fields that belong to no argument
// (CTRACE_ARG_NONE).
const argNone = 0xff

// decodeContext decodes a field about the call rather than an argument.
func (d *decoder) decodeContext(ev *Event, f bpfCtraceField, b []byte) error {
	switch bpfCtraceFieldKind(f.Kind) {
	case bpfCtraceFieldKindCTRACE_FIELD_CAP:
		if len(b) != capSize {
			return fmt.Errorf("capability field of %d bytes, want %d", len(b), capSize)
		}
		var c bpfCtraceCap
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&c)), capSize), b)
		ev.Reasons = append(ev.Reasons, capReason(&c))
	case bpfCtraceFieldKindCTRACE_FIELD_LSM:
		if len(b) != lsmSize {
			return fmt.Errorf("LSM field of %d bytes, want %d", len(b), lsmSize)
		}
		var l bpfCtraceLsm
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&l)), lsmSize), b)
		hook := lsmHookName(bpfCtraceLsmHook(l.Hook))
		ev.Reasons = append(ev.Reasons, &LSMReason{
			Hook:   hook,
			Detail: fmt.Sprintf("security_%s returned %s", hook, errnoText(l.Ret)),
		})
	case bpfCtraceFieldKindCTRACE_FIELD_CGROUP:
		ev.Proc.Cgroup = d.cgroup(b)
		if d != nil && d.known != nil && f.Flags == 0 {
			d.known.learn(ev.Proc.CgroupID, ev.Proc.Cgroup)
		}
	case bpfCtraceFieldKindCTRACE_FIELD_CMDLINE:
		ev.Proc.Cmdline = splitNUL(b)
	default:
		return fmt.Errorf("unknown field kind %d for no argument", f.Kind)
	}
	return nil
}

// lsmHooks names the hooks of enum ctrace_lsm_hook, as the kernel does
// without the security_ prefix.
var lsmHooks = map[bpfCtraceLsmHook]string{
	bpfCtraceLsmHookCTRACE_LSM_SB_MOUNT:     "sb_mount",
	bpfCtraceLsmHookCTRACE_LSM_SB_UMOUNT:    "sb_umount",
	bpfCtraceLsmHookCTRACE_LSM_MOVE_MOUNT:   "move_mount",
	bpfCtraceLsmHookCTRACE_LSM_SB_PIVOTROOT: "sb_pivotroot",
	bpfCtraceLsmHookCTRACE_LSM_FILE_OPEN:    "file_open",
	bpfCtraceLsmHookCTRACE_LSM_BPRM_CHECK:   "bprm_check",
}

func lsmHookName(h bpfCtraceLsmHook) string {
	if n, ok := lsmHooks[h]; ok {
		return n
	}
	return fmt.Sprintf("hook%d", h)
}

// errnoText renders a -errno return value: "-EACCES".
func errnoText(ret int32) string {
	if ret < 0 {
		if n, ok := xlat.ErrnoNameOK(unix.Errno(-ret)); ok {
			return "-" + n
		}
	}
	return strconv.Itoa(int(ret))
}

func capReason(c *bpfCtraceCap) *CapabilityReason {
	var m IDMap
	for _, e := range c.Extents[:min(int(c.Nextents), len(c.Extents))] {
		m = append(m, IDExtent{Inside: e.First, Outside: e.LowerFirst, Count: e.Count})
	}
	return &CapabilityReason{
		Cap:            xlat.CapName(c.Cap),
		UserNS:         c.Userns,
		InitUserNS:     c.UsernsLevel == 0,
		UserNSOwnerUID: c.UsernsOwner,
		CallerUserNS:   c.CallerUserns,
		CallerUIDMap:   m,
	}
}

// decodeLog decodes a CTRACE_REC_LOG record: a kernel log line.
func decodeLog(raw []byte) (tid uint32, boot time.Duration, msg string, err error) {
	if len(raw) < logHead {
		return 0, 0, "", fmt.Errorf("%w: log record of %d bytes, want at least %d", ErrShortRecord, len(raw), logHead)
	}
	var h bpfCtraceLog
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&h)), logHead), raw)
	if int(h.Len) != len(raw)-logHead {
		return 0, 0, "", fmt.Errorf("%w: log record says %d bytes of text, has %d", ErrBadField, h.Len, len(raw)-logHead)
	}
	// printk lines end in a newline; the message is the line. Kernels
	// before 5.15 or so pass the console's text, with its timestamp.
	msg = stripLogTime(strings.TrimRight(string(raw[logHead:]), "\n\x00"))
	return h.Tid, time.Duration(h.TsNs), msg, nil
}

// stripLogTime removes a console timestamp, "[   56.577528] ", from the
// start of a kernel log line.
func stripLogTime(s string) string {
	if !strings.HasPrefix(s, "[") {
		return s
	}
	end := strings.Index(s, "] ")
	if end < 0 {
		return s
	}
	stamp := strings.TrimSpace(s[1:end])
	if _, err := strconv.ParseFloat(stamp, 64); err != nil || !strings.Contains(stamp, ".") {
		return s
	}
	return s[end+2:]
}

// recordType returns the type of a raw ring buffer record (the first
// __u16 of every record), or 0 for a record too short to have one.
func recordType(raw []byte) bpfCtraceRecordType {
	if len(raw) < 2 {
		return 0
	}
	return bpfCtraceRecordType(hostEndian.Uint16(raw))
}

func markUnused(ev *Event) {
	var flags, mode int
	switch ev.Op {
	case bpfCtraceOpCTRACE_OP_OPEN:
		flags, mode = 1, 2
	case bpfCtraceOpCTRACE_OP_OPENAT:
		flags, mode = 2, 3
	default:
		return
	}
	f := ev.Args[flags].Raw
	ev.Args[mode].Unused = f&unix.O_CREAT == 0 && f&unix.O_TMPFILE != unix.O_TMPFILE
}

func decodeField(a *Arg, as argSpec, f bpfCtraceField, b []byte) error {
	a.Read = true
	a.Truncated = f.Flags&uint8(bpfCtraceFieldFlagCTRACE_FIELD_TRUNCATED) != 0
	a.Fault = f.Flags&uint8(bpfCtraceFieldFlagCTRACE_FIELD_FAULT) != 0
	a.After = f.Flags&uint8(bpfCtraceFieldFlagCTRACE_FIELD_AFTER) != 0
	switch bpfCtraceFieldKind(f.Kind) {
	case bpfCtraceFieldKindCTRACE_FIELD_STR:
		a.Kind = KindString
		a.Str = string(b)
	case bpfCtraceFieldKindCTRACE_FIELD_STRUCT:
		if as.decode != nil {
			a.Kind = KindStruct
			a.Fields = as.decode(b)
		} else {
			a.Kind = KindBytes
			a.Bytes = bytes.Clone(b)
		}
	case bpfCtraceFieldKindCTRACE_FIELD_ARGV:
		a.Kind = KindArgv
		a.Argv = splitNUL(b)
	case bpfCtraceFieldKindCTRACE_FIELD_FILE:
		p, err := decodeFile(b)
		if err != nil {
			return err
		}
		if a.After {
			// The path of the executable that a successful exec
			// started: a path, not a descriptor.
			a.Kind = KindString
		} else {
			a.Kind = KindFD
		}
		a.Str = p
	default:
		return fmt.Errorf("unknown field kind %d", f.Kind)
	}
	return nil
}

// decodeFile renders a CTRACE_FIELD_FILE as strace -y does.
func decodeFile(b []byte) (string, error) {
	if len(b) < fileSize {
		return "", fmt.Errorf("file field of %d bytes, want at least %d", len(b), fileSize)
	}
	var h bpfCtraceFile
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&h)), fileSize), b)
	comps := splitNUL(b[fileSize:])
	if len(comps) != int(h.Ncomp) {
		return "", fmt.Errorf("file field has %d path components, header says %d", len(comps), h.Ncomp)
	}
	if h.Flags&uint16(bpfCtraceFileFlagCTRACE_FILE_PSEUDO) != 0 {
		name := ""
		if len(comps) > 0 {
			name = comps[0]
		}
		return pseudoPath(h.Magic, h.Ino, name), nil
	}
	// Components arrive leaf first.
	var sb strings.Builder
	for i := len(comps) - 1; i >= 0; i-- {
		sb.WriteByte('/')
		sb.WriteString(comps[i])
	}
	if sb.Len() == 0 {
		return "/", nil
	}
	return sb.String(), nil
}

// pseudoPath names a file that has no path, as the kernel's d_dname
// callbacks (and so /proc/PID/fd and strace -y) name it.
func pseudoPath(magic uint32, ino uint64, name string) string {
	switch magic {
	case unix.NSFS_MAGIC:
		return fmt.Sprintf("%s:[%d]", name, ino)
	case unix.PIPEFS_MAGIC:
		return fmt.Sprintf("pipe:[%d]", ino)
	case unix.SOCKFS_MAGIC:
		return fmt.Sprintf("socket:[%d]", ino)
	case unix.ANON_INODE_FS_MAGIC:
		return "anon_inode:" + name
	}
	if name == "" {
		return fmt.Sprintf("[%d]", ino)
	}
	return name
}

func splitNUL(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	b = bytes.TrimSuffix(b, []byte{0})
	parts := bytes.Split(b, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// hostEndian is the byte order the kernel writes records in.
var hostEndian = binary.NativeEndian
