// Package render writes events as lines, the last stage of ctrace run:
// text as strace prints a call, prefixed with the time, the container and
// the process, and followed by the reasons; or one JSON object per event
// (docs/json-schema.md). Each line is written once, front to back, into a
// reused buffer. How one argument prints is package xlat's.
package render

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/benign"
	"github.com/ctrace-dev/ctrace/internal/hints"
	"github.com/ctrace-dev/ctrace/tracer"
	"github.com/ctrace-dev/ctrace/tracer/xlat"
)

// Renderer writes events as text lines or JSON objects, one per line.
type Renderer struct {
	json  bool
	color bool
	// Explain makes text output say so when no reason was found.
	Explain bool
	w       io.Writer
	buf     []byte
	keys    []string // scratch for sorting label keys
	clock   clockCache
	// Window is --dedup-window, which text lines name with a count.
	Window time.Duration
}

// New returns a renderer of format "text" or "json" that writes to w;
// color (text only) makes the syscall bold and the error red.
func New(format string, w io.Writer, color bool) *Renderer {
	return &Renderer{json: format == "json", color: color && format == "text", w: w}
}

// Findings is what the stages before the renderer found about an event
// (package pipeline): the zero value is a host process's event about
// which nothing was found. The renderer only writes them: it diagnoses
// nothing itself.
type Findings struct {
	// Container is the event's container, nil for a host process.
	Container *correlate.Container
	// Benign is the known-harmless rule the event matched, or nil.
	Benign *benign.Rule
	// Hints are what to do about the failure (package hints): a line
	// each below the text line, the JSON "hints" list.
	Hints []hints.Hint
	// Repeat, when more than 1, makes the event stand for that many
	// identical calls within Window (--dedup): text ends with
	// "[N identical calls in 10s]", JSON has "repeat_count": N.
	Repeat uint64
}

// Event writes one event with what was found about it.
func (r *Renderer) Event(ev *tracer.Event, f Findings) {
	if r.json {
		r.buf = r.appendJSON(r.buf[:0], ev, &f)
	} else {
		r.buf = r.appendText(r.buf[:0], ev, &f)
	}
	_, _ = r.w.Write(r.buf)
}

// appendText appends an event's text line, and below it a line for each
// hint (package hints), indented so that it reads as the event's. Every
// string in them that comes from the traced node (the process name, the
// container's, the reasons with their paths and kernel log lines, what a
// hint quotes) goes through xlat's escaping, as the arguments do: a line
// is one line, and holds no control character but the colours ctrace
// itself writes.
//
//	12:03:04.123456 default/test1 runc:[2:INIT][4242/4243] uid=0 mount("none", "/x", ...) = -1 ENOENT (No such file or directory) [reason] [benign: rule]
//	12:03:06.000001 shop/web-7d9f/nginx sh[5001] ...
//	  hint: what to do
func (r *Renderer) appendText(b []byte, ev *tracer.Event, f *Findings) []byte {
	b = r.clock.appendClock(b, ev.Time)
	if c := f.Container; c != nil {
		b = append(b, ' ')
		b = xlat.AppendEscaped(b, c.String())
	}
	b = appendCall(b, ev, r.color)
	b = appendReasons(b, ev, r.Explain)
	if f.Benign != nil {
		b = append(b, " [benign: "...)
		b = append(b, f.Benign.Name...)
		b = append(b, ']')
	}
	if f.Repeat > 1 {
		b = append(b, " ["...)
		b = strconv.AppendUint(b, f.Repeat, 10)
		b = append(b, " identical calls in "...)
		b = append(b, r.Window.String()...)
		b = append(b, ']')
	}
	b = append(b, '\n')
	for _, h := range f.Hints {
		b = append(b, "  hint: "...)
		b = xlat.AppendEscaped(b, h.Text)
		b = append(b, '\n')
	}
	return b
}

const (
	colorBold  = "\x1b[1m"
	colorRed   = "\x1b[31m"
	colorReset = "\x1b[0m"
)

// appendCall appends the process and the call as strace prints it:
//
//	mount[4242] uid=0 mount("none", "/x", ...) = -1 ENOENT (No such file or directory)
func appendCall(b []byte, ev *tracer.Event, color bool) []byte {
	b = append(b, ' ')
	b = xlat.AppendEscaped(b, ev.Proc.Comm)
	b = append(b, '[')
	b = strconv.AppendUint(b, uint64(ev.Proc.PID), 10)
	if ev.Proc.TID != ev.Proc.PID {
		b = append(b, '/')
		b = strconv.AppendUint(b, uint64(ev.Proc.TID), 10)
	}
	b = append(b, "] uid="...)
	b = strconv.AppendUint(b, uint64(ev.Proc.UID), 10)
	b = append(b, ' ')
	if color {
		b = append(b, colorBold...)
	}
	b = append(b, ev.Syscall...)
	if color {
		b = append(b, colorReset...)
	}
	b = append(b, '(')
	if ev.NoArgs {
		b = append(b, "?"...)
	}
	for i := range ev.Args {
		if ev.NoArgs {
			break
		}
		if ev.Args[i].Unused {
			continue
		}
		if i > 0 {
			b = append(b, ", "...)
		}
		b = ev.Args[i].AppendTo(b)
	}
	b = append(b, ") = "...)
	if !ev.Failed() {
		return strconv.AppendInt(b, ev.Ret, 10)
	}
	b = append(b, "-1 "...)
	if color {
		b = append(b, colorRed...)
	}
	b = append(b, xlat.ErrnoName(ev.Errno)...)
	if color {
		b = append(b, colorReset...)
	}
	b = append(b, " ("...)
	b = append(b, xlat.ErrnoMessage(ev.Errno)...)
	b = append(b, ')')
	return b
}

// appendJSON appends an event in the documented schema
// (docs/json-schema.md). Later fields may be added; these are never
// renamed.
func (r *Renderer) appendJSON(b []byte, ev *tracer.Event, f *Findings) []byte {
	b = append(b, `{"time":"`...)
	b = r.clock.appendRFC3339Nano(b, ev.Time) // nothing in it to escape
	b = append(b, '"')
	b = jsonStrLit(b, `"syscall":`, ev.Syscall)
	b = jsonStrLit(b, `"family":`, string(ev.Family))
	if ev.Failed() {
		b = jsonIntLit(b, `"ret":`, -1)
		b = jsonStrLit(b, `"errno":`, xlat.ErrnoName(ev.Errno))
		b = jsonStrLit(b, `"error":`, xlat.ErrnoMessage(ev.Errno))
	} else {
		b = jsonIntLit(b, `"ret":`, ev.Ret)
	}
	b = append(jsonKeyLit(b, `"args":`), '{')
	truncated := false
	for i := range ev.Args {
		a := &ev.Args[i]
		truncated = truncated || a.Truncated
		if ev.NoArgs || a.Unused {
			continue
		}
		b = jsonArg(b, a)
	}
	b = append(b, '}')
	if truncated {
		b = append(jsonKeyLit(b, `"truncated":`), '[')
		n := 0
		for i := range ev.Args {
			if ev.Args[i].Truncated {
				if n > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, ev.Args[i].Name)
				n++
			}
		}
		b = append(b, ']')
	}
	p := &ev.Proc
	b = append(jsonKeyLit(b, `"proc":`), '{')
	b = jsonUintLit(b, `"pid":`, uint64(p.PID))
	b = jsonUintLit(b, `"tid":`, uint64(p.TID))
	b = jsonUintLit(b, `"ppid":`, uint64(p.PPID))
	b = jsonStrLit(b, `"comm":`, p.Comm)
	b = jsonUintLit(b, `"uid":`, uint64(p.UID))
	b = jsonUintLit(b, `"gid":`, uint64(p.GID))
	b = jsonUintLit(b, `"cgroup_id":`, p.CgroupID)
	if p.Cgroup != "" {
		b = jsonStrLit(b, `"cgroup":`, p.Cgroup)
	}
	if p.Cmdline != nil {
		b = jsonStrs(b, "cmdline", p.Cmdline)
	}
	b = jsonUintLit(b, `"mntns":`, uint64(p.MntNS))
	b = jsonUintLit(b, `"pidns":`, uint64(p.PidNS))
	b = jsonUintLit(b, `"netns":`, uint64(p.NetNS))
	b = jsonUintLit(b, `"userns":`, uint64(p.UserNS))
	b = append(b, '}')
	b = jsonReasons(b, ev.Reasons)
	b = jsonHints(b, f.Hints)
	if c := f.Container; c == nil {
		b = append(jsonKeyLit(b, `"container":`), "null"...)
	} else {
		b = r.jsonContainer(b, c)
	}
	if f.Benign != nil {
		b = jsonBoolLit(b, `"benign":`, true)
		b = jsonStrLit(b, `"benign_rule":`, f.Benign.Name)
	}
	if f.Repeat > 1 {
		b = jsonUintLit(b, `"repeat_count":`, f.Repeat)
	}
	return append(b, '}', '\n')
}

func jsonArg(b []byte, a *xlat.Arg) []byte {
	switch a.Kind {
	case xlat.KindInt:
		return jsonInt(b, a.Name, a.Int())
	case xlat.KindSize:
		return jsonUint(b, a.Name, a.Raw)
	case xlat.KindFlags, xlat.KindMode:
		return jsonStr(b, a.Name, a.Text)
	case xlat.KindFD:
		b = append(jsonKey(b, a.Name), '{')
		b = jsonIntLit(b, `"fd":`, a.Int())
		if a.IsATFDCWD() {
			b = jsonBoolLit(b, `"at_fdcwd":`, true)
		} else if a.Str != "" {
			b = jsonStrLit(b, `"path":`, a.Str)
		}
		return append(b, '}')
	case xlat.KindString:
		if a.Raw == 0 && !a.After {
			return jsonNull(b, a.Name)
		} else if a.Read && !a.Fault {
			return jsonStr(b, a.Name, a.Str)
		}
		return jsonStr(b, a.Name, a.String())
	case xlat.KindStruct:
		if !a.Read || a.Fault {
			return jsonStr(b, a.Name, a.String())
		}
		b = append(jsonKey(b, a.Name), '{')
		for _, f := range a.Fields {
			if f.Text != "" {
				b = jsonStr(b, f.Name, f.Text)
			} else {
				b = jsonUint(b, f.Name, f.Value)
			}
		}
		return append(b, '}')
	case xlat.KindArgv:
		if a.Read {
			return jsonStrs(b, a.Name, a.Argv)
		}
		return jsonStr(b, a.Name, a.String())
	default: // KindPtr, KindBytes
		if a.Raw == 0 && !a.Read {
			return jsonNull(b, a.Name)
		}
		return jsonStr(b, a.Name, strings.TrimSpace(a.String()))
	}
}

// jsonIDMap appends a uid map as the string /proc/PID/uid_map holds,
// without building it first: its digits and spaces need no escaping, and
// its newlines are written escaped.
func jsonIDMap(b []byte, quoted string, m tracer.IDMap) []byte {
	b = append(jsonKeyLit(b, quoted), '"')
	for i, x := range m {
		if i > 0 {
			b = append(b, `\n`...)
		}
		b = x.AppendTo(b)
	}
	return append(b, '"')
}

// appendReasons appends why the call failed, one bracket per reason:
//
//	[capability: CAP_SYS_ADMIN needed in the initial user namespace; caller is root only in user namespace 4026532201 (0 -> 100000, 65536 ids)]
func appendReasons(b []byte, ev *tracer.Event, explain bool) []byte {
	if !ev.Failed() {
		return b
	}
	if len(ev.Reasons) == 0 && explain {
		b = append(b, " [no reason found: no seccomp filter, capability check, LSM or kernel log line was involved"...)
		if ev.NoReason != "" {
			b = append(b, "; "...)
			b = append(b, ev.NoReason...)
		}
		return append(b, ']')
	}
	for i := range ev.Reasons {
		b = append(b, " ["...)
		b = xlat.AppendEscaped(b, ReasonText(ev, &ev.Reasons[i]))
		b = append(b, ']')
	}
	return b
}

// ReasonText says in words why ev failed, as one reason of the text line
// shows it ("seccomp: blocked by the process's seccomp filter").
// The words are as the node gave them: a text line escapes them
// (xlat.AppendEscaped), JSON quotes them.
func ReasonText(ev *tracer.Event, r *tracer.Reason) string {
	switch r.Kind {
	case tracer.ReasonSeccomp:
		return "seccomp: blocked by the process's seccomp filter"
	case tracer.ReasonKernelLog:
		return "kernel: " + r.Message
	case tracer.ReasonLSM:
		s := "lsm: " + r.LSM + " denied " + r.Hook
		if r.Detail != "" {
			s += ": " + r.Detail
		}
		return s
	case tracer.ReasonCapability:
		return capabilityText(ev, r)
	case tracer.ReasonNetNS:
		return netnsText(r)
	case tracer.ReasonPermission:
		return permissionText(r)
	}
	return string(r.Kind)
}

// netnsText says what the namespace file is now and whose it was:
//
//	netns: /run/netns/cni-8d1c is stale (its bind mount is gone); network namespace of sandbox 3f2a1b2c3d4e5 (pod shop/web-1), still running
func netnsText(r *tracer.Reason) string {
	s := "netns: " + r.Path
	switch r.State {
	case "stale":
		s += " is stale (its bind mount is gone)"
	case "missing":
		s += " is missing (no such file)"
	case "ok":
		s += " is a live network namespace (the failure has another cause)"
	}
	o := r.Owner
	if o == nil {
		return s + "; no container names it"
	}
	// 13 characters, as crictl shows ids and the stale-netns hint
	// writes them.
	id := o.ID
	if len(id) > 13 {
		id = id[:13]
	}
	if o.Pod != "" {
		s += "; network namespace of sandbox " + id + " (pod " + o.PodNamespace + "/" + o.Pod + ")"
	} else {
		s += "; network namespace of container " + o.Namespace + "/" + id
	}
	switch o.State {
	case "running":
		return s + ", still running"
	case "deleted":
		return s + ", deleted by containerd"
	}
	return s + ", " + o.State
}

// jsonSnapshot appends a permission reason's "snapshot" object, its
// labels sorted by key; "of":"argument" when it is the snapshot the
// argument leads into rather than the component's.
func jsonSnapshot(b []byte, sn *tracer.Snapshot, ofArg bool) []byte {
	b = append(jsonKeyLit(b, `"snapshot":`), '{')
	b = jsonStrLit(b, `"snapshotter":`, sn.Snapshotter)
	b = jsonStrLit(b, `"key":`, sn.Key)
	b = jsonStrLit(b, `"kind":`, sn.Kind)
	b = jsonStrLit(b, `"container":`, sn.Container)
	b = jsonStrLit(b, `"image":`, sn.Image)
	if ofArg {
		b = jsonStrLit(b, `"of":`, "argument")
	}
	if len(sn.Labels) > 0 {
		keys := make([]string, 0, len(sn.Labels))
		for k := range sn.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(jsonKeyLit(b, `"labels":`), '{')
		for _, k := range keys {
			b = jsonStr(b, k, sn.Labels[k])
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendOctal4 appends permission bits (07777 at most) as four octal
// digits, "0755".
func appendOctal4(b []byte, mode uint32) []byte {
	for i := 9; i >= 0; i -= 3 {
		b = append(b, byte('0'+mode>>uint(i)&7))
	}
	return b
}

// LabelUIDMapping is the snapshot label that asks a snapshotter to shift
// a snapshot's files to a user namespace's ids.
const LabelUIDMapping = "containerd.io/snapshot/uidmapping"

// permissionText says which path component refused what, and why:
//
//	permission: /etc is 0:0 0755, owner not mapped in the caller's user namespace (0 -> 100000, 65536 ids): write denied (checked after the call)
//	permission: /srv/key is 0:0 0600: read denied to uid 65534 (checked after the call)
func permissionText(r *tracer.Reason) string {
	s := "permission: " + r.Path
	switch {
	case r.MountRO:
		s += " is on a read-only mount"
	case r.MountNoexec:
		s += " is on a noexec mount"
	default:
		s += fmt.Sprintf(" is %d:%d %04o", r.OwnerUID, r.OwnerGID, r.Mode)
		if !r.OwnerMapped {
			s += ", owner not mapped in the caller's user namespace"
			if len(r.CallerUIDMap) > 0 {
				x := r.CallerUIDMap[0]
				s += fmt.Sprintf(" (%d -> %d, %d ids)", x.Inside, x.Outside, x.Count)
			}
		}
	}
	s += ": " + r.Need + " denied"
	if r.OwnerMapped && !r.MountRO && !r.MountNoexec {
		s += fmt.Sprintf(" to uid %d", r.CallerUID)
	}
	if r.Idmapped {
		s += " (idmapped mount)"
	}
	if sn := r.Snapshot; sn != nil {
		if r.SnapshotOfArg {
			s += "; " + r.Arg + " leads into " + sn.Snapshotter + " snapshot " + sn.Key
		} else {
			s += "; in " + sn.Snapshotter + " snapshot " + sn.Key
		}
		if sn.Container == "" && sn.Image != "" {
			s += " (a layer of " + sn.Image + ")"
		}
		if m := sn.Labels[LabelUIDMapping]; m != "" {
			s += " (uidmapping label " + m + ")"
		}
	}
	if r.Checked == "after" {
		// Found by looking after the call returned: say so.
		s += " (checked after the call)"
	}
	return s
}

// capabilityText says which capability was missing where, and what the
// caller is in its own user namespace: that tells "not root" from "root,
// but only in a container's user namespace".
func capabilityText(ev *tracer.Event, r *tracer.Reason) string {
	where := "the initial user namespace"
	if !r.InitUserNS {
		where = fmt.Sprintf("user namespace %d (owner uid %d)", r.UserNS, r.UserNSOwnerUID)
	}
	if r.CallerUserNS == r.UserNS {
		return fmt.Sprintf("capability: %s missing in %s (caller uid %d)", r.Cap, where, ev.Proc.UID)
	}
	inner, ok := r.CallerUIDMap.Inside(ev.Proc.UID)
	who := fmt.Sprintf("caller is uid %d (unmapped)", ev.Proc.UID)
	switch {
	case ok && inner == 0:
		who = "caller is root only"
	case ok:
		who = fmt.Sprintf("caller is uid %d only", inner)
	}
	s := fmt.Sprintf("capability: %s needed in %s; %s in user namespace %d", r.Cap, where, who, r.CallerUserNS)
	if len(r.CallerUIDMap) > 0 {
		// The first extent: for a container, the one that maps its root.
		x := r.CallerUIDMap[0]
		s += fmt.Sprintf(" (%d -> %d, %d ids)", x.Inside, x.Outside, x.Count)
	}
	return s
}

func jsonReasons(b []byte, rs []tracer.Reason) []byte {
	b = append(jsonKeyLit(b, `"reasons":`), '[')
	for i := range rs {
		r := &rs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = jsonStrLit(b, `"kind":`, string(r.Kind))
		switch r.Kind {
		case tracer.ReasonCapability:
			b = jsonStrLit(b, `"cap":`, r.Cap)
			b = jsonUintLit(b, `"userns":`, uint64(r.UserNS))
			b = jsonBoolLit(b, `"init_userns":`, r.InitUserNS)
			b = jsonUintLit(b, `"userns_owner_uid":`, uint64(r.UserNSOwnerUID))
			b = jsonUintLit(b, `"caller_userns":`, uint64(r.CallerUserNS))
			b = jsonIDMap(b, `"caller_uid_map":`, r.CallerUIDMap)
		case tracer.ReasonKernelLog:
			b = jsonStrLit(b, `"message":`, r.Message)
		case tracer.ReasonLSM:
			b = jsonStrLit(b, `"hook":`, r.Hook)
			b = jsonStrLit(b, `"lsm":`, r.LSM)
			b = jsonStrLit(b, `"detail":`, r.Detail)
		case tracer.ReasonPermission:
			b = jsonStrLit(b, `"path":`, r.Path)
			b = jsonStrLit(b, `"arg":`, r.Arg)
			b = jsonStrLit(b, `"need":`, r.Need)
			b = jsonUintLit(b, `"owner_uid":`, uint64(r.OwnerUID))
			b = jsonUintLit(b, `"owner_gid":`, uint64(r.OwnerGID))
			b = append(jsonKeyLit(b, `"mode":`), '"')
			b = appendOctal4(b, r.Mode)
			b = append(b, '"')
			b = jsonBoolLit(b, `"owner_mapped":`, r.OwnerMapped)
			b = jsonUintLit(b, `"caller_uid":`, uint64(r.CallerUID))
			if len(r.CallerUIDMap) > 0 {
				b = jsonUintLit(b, `"caller_userns":`, uint64(r.CallerUserNS))
				b = jsonIDMap(b, `"caller_uid_map":`, r.CallerUIDMap)
			}
			if r.MountRO {
				b = jsonBoolLit(b, `"mount_ro":`, true)
			}
			if r.MountNoexec {
				b = jsonBoolLit(b, `"mount_noexec":`, true)
			}
			if r.Idmapped {
				b = jsonBoolLit(b, `"idmapped":`, true)
			}
			b = jsonStrLit(b, `"checked":`, r.Checked)
			b = jsonStrLit(b, `"via":`, r.Via)
			if r.Snapshot != nil {
				b = jsonSnapshot(b, r.Snapshot, r.SnapshotOfArg)
			}
		case tracer.ReasonNetNS:
			b = jsonStrLit(b, `"path":`, r.Path)
			b = jsonStrLit(b, `"state":`, r.State)
			if o := r.Owner; o != nil {
				b = append(jsonKeyLit(b, `"container":`), '{')
				b = jsonStrLit(b, `"id":`, o.ID)
				b = jsonStrLit(b, `"namespace":`, o.Namespace)
				if o.Pod != "" {
					b = jsonStrLit(b, `"pod":`, o.Pod)
					b = jsonStrLit(b, `"pod_namespace":`, o.PodNamespace)
				}
				b = append(b, '}')
				b = jsonStrLit(b, `"container_state":`, o.State)
			}
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// jsonHints appends the "hints" list, [{"rule":...,"text":...}], when
// there are any: events without one print as they did before hints.
func jsonHints(b []byte, hs []hints.Hint) []byte {
	if len(hs) == 0 {
		return b
	}
	b = append(jsonKeyLit(b, `"hints":`), '[')
	for i, h := range hs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = jsonStrLit(b, `"rule":`, h.Rule)
		b = jsonStrLit(b, `"text":`, h.Text)
		b = append(b, '}')
	}
	return append(b, ']')
}

// jsonContainer appends the event's "container" object, for an event of
// a container. id and namespace are always there; the others only when
// containerd told them (image is "" for a container made from a rootfs,
// shim_pid 0 before the task exists), so that a consumer can tell
// "unknown" from "empty" by "known".
func (r *Renderer) jsonContainer(b []byte, c *correlate.Container) []byte {
	b = append(jsonKeyLit(b, `"container":`), '{')
	b = jsonStrLit(b, `"id":`, c.ID)
	b = jsonStrLit(b, `"namespace":`, c.Namespace)
	b = jsonBoolLit(b, `"known":`, c.Known)
	b = jsonStrLit(b, `"source":`, string(c.Source))
	if c.Known {
		b = jsonStrLit(b, `"image":`, c.Image)
		b = jsonStrLit(b, `"runtime":`, c.Runtime)
	}
	if c.ShimPID != 0 {
		b = jsonUintLit(b, `"shim_pid":`, uint64(c.ShimPID))
	}
	if kl := c.KubeLabels(); len(kl) > 0 {
		keys := r.keys[:0]
		for k := range kl {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(jsonKeyLit(b, `"labels":`), '{')
		for _, k := range keys {
			b = jsonStr(b, k, kl[k])
		}
		b = append(b, '}')
		clear(keys)
		r.keys = keys
	}
	for _, f := range [...][2]string{{"pod", c.Pod}, {"pod_namespace", c.PodNamespace}, {"pod_uid", c.PodUID}, {"container_name", c.ContainerName}} {
		if f[1] != "" {
			b = jsonStr(b, f[0], f[1])
		}
	}
	return append(b, '}')
}
