// Package render writes events as lines, the last stage of ctrace run:
// text as strace prints a call, prefixed with the time, the container and
// the process, and followed by the reasons; or one JSON object per event
// (docs/json-schema.md). Each line is written once, front to back, into a
// reused buffer. How one argument prints is package xlat's.
package render

import (
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/benign"
	"github.com/ctrace-dev/ctrace/internal/hints"
	"github.com/ctrace-dev/ctrace/tracer"
	"github.com/ctrace-dev/ctrace/tracer/jsonw"
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
	// KernelCounted says that the kernel counted the Repeat calls
	// (--dedup): what is shown of them is the first one's.
	KernelCounted bool
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
	if f.Repeat > 1 || f.KernelCounted {
		b = append(b, " ["...)
		b = strconv.AppendUint(b, f.Repeat, 10)
		b = append(b, " identical calls in "...)
		b = append(b, r.Window.String()...)
		if f.KernelCounted {
			b = append(b, ", counted in the kernel"...)
		}
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
	b = jsonw.StrLit(b, `"syscall":`, ev.Syscall)
	b = jsonw.StrLit(b, `"family":`, string(ev.Family))
	if ev.Failed() {
		b = jsonw.IntLit(b, `"ret":`, -1)
		b = jsonw.StrLit(b, `"errno":`, xlat.ErrnoName(ev.Errno))
		b = jsonw.StrLit(b, `"error":`, xlat.ErrnoMessage(ev.Errno))
	} else {
		b = jsonw.IntLit(b, `"ret":`, ev.Ret)
	}
	b = append(jsonw.KeyLit(b, `"args":`), '{')
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
		b = append(jsonw.KeyLit(b, `"truncated":`), '[')
		n := 0
		for i := range ev.Args {
			if ev.Args[i].Truncated {
				if n > 0 {
					b = append(b, ',')
				}
				b = jsonw.String(b, ev.Args[i].Name)
				n++
			}
		}
		b = append(b, ']')
	}
	p := &ev.Proc
	b = append(jsonw.KeyLit(b, `"proc":`), '{')
	b = jsonw.UintLit(b, `"pid":`, uint64(p.PID))
	b = jsonw.UintLit(b, `"tid":`, uint64(p.TID))
	b = jsonw.UintLit(b, `"ppid":`, uint64(p.PPID))
	b = jsonw.StrLit(b, `"comm":`, p.Comm)
	b = jsonw.UintLit(b, `"uid":`, uint64(p.UID))
	b = jsonw.UintLit(b, `"gid":`, uint64(p.GID))
	b = jsonw.UintLit(b, `"cgroup_id":`, p.CgroupID)
	if p.Cgroup != "" {
		b = jsonw.StrLit(b, `"cgroup":`, p.Cgroup)
	}
	if p.Cmdline != nil {
		b = jsonw.Strs(b, "cmdline", p.Cmdline)
	}
	b = jsonw.UintLit(b, `"mntns":`, uint64(p.MntNS))
	b = jsonw.UintLit(b, `"pidns":`, uint64(p.PidNS))
	b = jsonw.UintLit(b, `"netns":`, uint64(p.NetNS))
	b = jsonw.UintLit(b, `"userns":`, uint64(p.UserNS))
	b = append(b, '}')
	b = jsonReasons(b, ev.Reasons)
	if len(ev.Reasons) == 0 && ev.NoReason != "" && ev.Failed() {
		// What text shows under --explain: why a stage that looked
		// found nothing.
		b = jsonw.StrLit(b, `"no_reason":`, ev.NoReason)
	}
	b = jsonHints(b, f.Hints)
	if c := f.Container; c == nil {
		b = append(jsonw.KeyLit(b, `"container":`), "null"...)
	} else {
		b = r.jsonContainer(b, c)
	}
	if f.Benign != nil {
		b = jsonw.BoolLit(b, `"benign":`, true)
		b = jsonw.StrLit(b, `"benign_rule":`, f.Benign.Name)
	}
	if f.Repeat > 1 || f.KernelCounted {
		b = jsonw.UintLit(b, `"repeat_count":`, f.Repeat)
	}
	if f.KernelCounted {
		b = jsonw.BoolLit(b, `"repeat_counted_in_kernel":`, true)
	}
	return append(b, '}', '\n')
}

func jsonArg(b []byte, a *xlat.Arg) []byte {
	switch a.Kind {
	case xlat.KindInt:
		return jsonw.Int(b, a.Name, a.Int())
	case xlat.KindSize:
		return jsonw.Uint(b, a.Name, a.Raw)
	case xlat.KindFlags, xlat.KindMode:
		return jsonw.Str(b, a.Name, a.Text)
	case xlat.KindFD:
		b = append(jsonw.Key(b, a.Name), '{')
		b = jsonw.IntLit(b, `"fd":`, a.Int())
		if a.IsATFDCWD() {
			b = jsonw.BoolLit(b, `"at_fdcwd":`, true)
		} else if a.Str != "" {
			b = jsonw.StrLit(b, `"path":`, a.Str)
		}
		return append(b, '}')
	case xlat.KindString:
		if a.Raw == 0 && !a.After {
			return jsonw.Null(b, a.Name)
		} else if a.Read && !a.Fault {
			return jsonw.Str(b, a.Name, a.Str)
		}
		return jsonw.Str(b, a.Name, a.String())
	case xlat.KindStruct:
		if !a.Read || a.Fault {
			return jsonw.Str(b, a.Name, a.String())
		}
		b = append(jsonw.Key(b, a.Name), '{')
		for _, f := range a.Fields {
			if f.Text != "" {
				b = jsonw.Str(b, f.Name, f.Text)
			} else {
				b = jsonw.Uint(b, f.Name, f.Value)
			}
		}
		return append(b, '}')
	case xlat.KindArgv:
		if a.Read {
			return jsonw.Strs(b, a.Name, a.Argv)
		}
		return jsonw.Str(b, a.Name, a.String())
	default: // KindPtr, KindBytes
		if a.Raw == 0 && !a.Read {
			return jsonw.Null(b, a.Name)
		}
		return jsonw.Str(b, a.Name, strings.TrimSpace(a.String()))
	}
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
		b = xlat.AppendEscaped(b, ev.Reasons[i].Text(ev))
		b = append(b, ']')
	}
	return b
}

// ReasonText says in words why ev failed, as one reason of the text line
// shows it ("seccomp: blocked by the process's seccomp filter").
// The words are as the node gave them: a text line escapes them
// (xlat.AppendEscaped), JSON quotes them.
func ReasonText(ev *tracer.Event, r tracer.Reason) string { return r.Text(ev) }

// jsonReasons appends the "reasons" list: each reason's kind, then its
// kind's own members.
func jsonReasons(b []byte, rs []tracer.Reason) []byte {
	b = append(jsonw.KeyLit(b, `"reasons":`), '[')
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = jsonw.StrLit(b, `"kind":`, string(r.Kind()))
		b = r.AppendJSON(b)
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
	b = append(jsonw.KeyLit(b, `"hints":`), '[')
	for i, h := range hs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = jsonw.StrLit(b, `"rule":`, h.Rule)
		b = jsonw.StrLit(b, `"text":`, h.Text)
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
	b = append(jsonw.KeyLit(b, `"container":`), '{')
	b = jsonw.StrLit(b, `"id":`, c.ID)
	b = jsonw.StrLit(b, `"namespace":`, c.Namespace)
	b = jsonw.BoolLit(b, `"known":`, c.Known)
	b = jsonw.StrLit(b, `"source":`, string(c.Source))
	if c.Known {
		b = jsonw.StrLit(b, `"image":`, c.Image)
		b = jsonw.StrLit(b, `"runtime":`, c.Runtime)
	}
	if c.ShimPID != 0 {
		b = jsonw.UintLit(b, `"shim_pid":`, uint64(c.ShimPID))
	}
	if kl := c.KubeLabels(); len(kl) > 0 {
		keys := r.keys[:0]
		for k := range kl {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(jsonw.KeyLit(b, `"labels":`), '{')
		for _, k := range keys {
			b = jsonw.Str(b, k, kl[k])
		}
		b = append(b, '}')
		clear(keys)
		r.keys = keys
	}
	for _, f := range [...][2]string{{"pod", c.Pod}, {"pod_namespace", c.PodNamespace}, {"pod_uid", c.PodUID}, {"container_name", c.ContainerName}} {
		if f[1] != "" {
			b = jsonw.Str(b, f[0], f[1])
		}
	}
	return append(b, '}')
}
