package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/benign"
	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/tracer"
)

// renderer writes events as text lines or JSON objects, one per line.
type renderer struct {
	json  bool
	color bool
	// explain makes text output say so when no reason was found.
	explain bool
	w       io.Writer
	log     zerolog.Logger
	buf     []byte
}

func newRenderer(format string, w io.Writer, color bool) *renderer {
	r := &renderer{json: format == "json", color: color && format == "text", w: w}
	if r.json {
		r.log = zerolog.New(w)
	}
	return r
}

// event writes one event of a host process; rule is the benign rule it
// matched, or nil.
func (r *renderer) event(ev *tracer.Event, rule *benign.Rule) {
	r.eventIn(ev, rule, nil)
}

// eventIn writes one event of container c (nil: a host process).
func (r *renderer) eventIn(ev *tracer.Event, rule *benign.Rule, c *correlate.Container) {
	if r.json {
		r.jsonEvent(ev, rule, c)
		return
	}
	r.buf = appendText(r.buf[:0], ev, r.color)
	if c != nil {
		r.buf = insertContainer(r.buf, c)
	}
	r.buf = appendReasons(r.buf, ev, r.explain)
	if rule != nil {
		r.buf = append(r.buf, " [benign: "...)
		r.buf = append(r.buf, rule.Name...)
		r.buf = append(r.buf, ']')
	}
	r.buf = append(r.buf, '\n')
	_, _ = r.w.Write(r.buf)
}

const (
	colorBold  = "\x1b[1m"
	colorRed   = "\x1b[31m"
	colorReset = "\x1b[0m"
)

// appendText renders an event as strace does, prefixed with the time and
// the process:
//
//	12:03:04.123456 mount[4242] uid=0 mount("none", "/x", ...) = -1 ENOENT (No such file or directory)
func appendText(b []byte, ev *tracer.Event, color bool) []byte {
	b = ev.Time.AppendFormat(b, "15:04:05.000000")
	b = append(b, ' ')
	b = append(b, ev.Proc.Comm...)
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
		b = append(b, ev.Args[i].String()...)
	}
	b = append(b, ") = "...)
	if !ev.Failed() {
		return strconv.AppendInt(b, ev.Ret, 10)
	}
	b = append(b, "-1 "...)
	if color {
		b = append(b, colorRed...)
	}
	b = append(b, errnoName(ev.Errno)...)
	if color {
		b = append(b, colorReset...)
	}
	b = append(b, " ("...)
	b = append(b, errnoMessage(ev.Errno)...)
	b = append(b, ')')
	return b
}

// errnoMessage is the error's message as strerror(3), and so strace, print
// it: Go's messages are glibc's with the first letter in lower case.
func errnoMessage(e unix.Errno) string {
	m := e.Error()
	if m != "" && m[0] >= 'a' && m[0] <= 'z' {
		m = string(m[0]-'a'+'A') + m[1:]
	}
	return m
}

func errnoName(e unix.Errno) string {
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return "E" + strconv.Itoa(int(e))
}

// jsonEvent writes the documented schema (docs/json-schema.md). Later
// fields may be added; these are never renamed.
func (r *renderer) jsonEvent(ev *tracer.Event, rule *benign.Rule, c *correlate.Container) {
	e := r.log.Log().
		Str("time", ev.Time.Format(time.RFC3339Nano)).
		Str("syscall", ev.Syscall).
		Str("family", string(ev.Family))
	if ev.Failed() {
		e = e.Int64("ret", -1).
			Str("errno", errnoName(ev.Errno)).
			Str("error", errnoMessage(ev.Errno))
	} else {
		e = e.Int64("ret", ev.Ret)
	}
	args := zerolog.Dict()
	var truncated []string
	for i := range ev.Args {
		a := &ev.Args[i]
		if a.Truncated {
			truncated = append(truncated, a.Name)
		}
		if ev.NoArgs || a.Unused {
			continue
		}
		jsonArg(args, a)
	}
	e = e.Dict("args", args)
	if len(truncated) > 0 {
		e = e.Strs("truncated", truncated)
	}
	p := &ev.Proc
	proc := zerolog.Dict().
		Uint32("pid", p.PID).Uint32("tid", p.TID).Uint32("ppid", p.PPID).
		Str("comm", p.Comm).Uint32("uid", p.UID).Uint32("gid", p.GID).
		Uint64("cgroup_id", p.CgroupID)
	if p.Cgroup != "" {
		proc.Str("cgroup", p.Cgroup)
	}
	if p.Cmdline != nil {
		proc.Strs("cmdline", p.Cmdline)
	}
	proc.Uint32("mntns", p.MntNS).Uint32("pidns", p.PidNS).
		Uint32("netns", p.NetNS).Uint32("userns", p.UserNS)
	e = e.Dict("proc", proc).
		Array("reasons", jsonReasons(ev.Reasons)).
		Func(func(e *zerolog.Event) {
			if c == nil {
				e.RawJSON("container", []byte("null"))
			} else {
				e.Dict("container", jsonContainer(c))
			}
		})
	if rule != nil {
		e = e.Bool("benign", true).Str("benign_rule", rule.Name)
	}
	e.Send()
}

func jsonArg(d *zerolog.Event, a *tracer.Arg) {
	switch a.Kind {
	case tracer.KindInt:
		d.Int64(a.Name, a.Int())
	case tracer.KindSize:
		d.Uint64(a.Name, a.Raw)
	case tracer.KindFlags, tracer.KindMode:
		d.Str(a.Name, a.Text)
	case tracer.KindFD:
		fd := zerolog.Dict().Int64("fd", a.Int())
		if a.IsATFDCWD() {
			fd.Bool("at_fdcwd", true)
		} else if a.Str != "" {
			fd.Str("path", a.Str)
		}
		d.Dict(a.Name, fd)
	case tracer.KindString:
		if a.Raw == 0 && !a.After {
			d.RawJSON(a.Name, []byte("null"))
		} else if a.Read && !a.Fault {
			d.Str(a.Name, a.Str)
		} else {
			d.Str(a.Name, a.String())
		}
	case tracer.KindStruct:
		if !a.Read || a.Fault {
			d.Str(a.Name, a.String())
			return
		}
		s := zerolog.Dict()
		for _, f := range a.Fields {
			if f.Text != "" {
				s.Str(f.Name, f.Text)
			} else {
				s.Uint64(f.Name, f.Value)
			}
		}
		d.Dict(a.Name, s)
	case tracer.KindArgv:
		if a.Read {
			d.Strs(a.Name, a.Argv)
		} else {
			d.Str(a.Name, a.String())
		}
	default: // KindPtr, KindBytes
		if a.Raw == 0 && !a.Read {
			d.RawJSON(a.Name, []byte("null"))
		} else {
			d.Str(a.Name, strings.TrimSpace(a.String()))
		}
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
		return append(b, " [no reason found: no seccomp filter, capability check, LSM or kernel log line was involved]"...)
	}
	for i := range ev.Reasons {
		b = append(b, " ["...)
		b = append(b, reasonText(ev, &ev.Reasons[i])...)
		b = append(b, ']')
	}
	return b
}

func reasonText(ev *tracer.Event, r *tracer.Reason) string {
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
	}
	return string(r.Kind)
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
	inner, ok := mapUID(r.CallerUIDMap, ev.Proc.UID)
	who := fmt.Sprintf("caller is uid %d (unmapped)", ev.Proc.UID)
	switch {
	case ok && inner == 0:
		who = "caller is root only"
	case ok:
		who = fmt.Sprintf("caller is uid %d only", inner)
	}
	s := fmt.Sprintf("capability: %s needed in %s; %s in user namespace %d", r.Cap, where, who, r.CallerUserNS)
	if first, _, _ := strings.Cut(r.CallerUIDMap, "\n"); first != "" {
		var in, out, n uint64
		if _, err := fmt.Sscan(first, &in, &out, &n); err == nil {
			s += fmt.Sprintf(" (%d -> %d, %d ids)", in, out, n)
		}
	}
	return s
}

// mapUID maps a uid of the initial user namespace into a user namespace
// whose uid_map is m ("inside outside count" lines).
func mapUID(m string, uid uint32) (uint32, bool) {
	for _, line := range strings.Split(m, "\n") {
		var in, out, n uint64
		if _, err := fmt.Sscan(line, &in, &out, &n); err != nil {
			continue
		}
		if uint64(uid) >= out && uint64(uid) < out+n {
			return uint32(in + uint64(uid) - out), true
		}
	}
	return 0, false
}

func jsonReasons(rs []tracer.Reason) *zerolog.Array {
	a := zerolog.Arr()
	for i := range rs {
		r := &rs[i]
		d := zerolog.Dict().Str("kind", string(r.Kind))
		switch r.Kind {
		case tracer.ReasonCapability:
			d.Str("cap", r.Cap).Uint32("userns", r.UserNS).Bool("init_userns", r.InitUserNS).
				Uint32("userns_owner_uid", r.UserNSOwnerUID).Uint32("caller_userns", r.CallerUserNS).
				Str("caller_uid_map", r.CallerUIDMap)
		case tracer.ReasonKernelLog:
			d.Str("message", r.Message)
		case tracer.ReasonLSM:
			d.Str("hook", r.Hook).Str("lsm", r.LSM).Str("detail", r.Detail)
		}
		a.Dict(d)
	}
	return a
}

// insertContainer puts the container's name between the time and the
// process of a text line that appendText wrote:
//
//	12:03:04.123456 default/test1 runc:[2:INIT][4242] ...
//	12:03:06.000001 shop/web-7d9f/nginx sh[5001] ...
func insertContainer(b []byte, c *correlate.Container) []byte {
	i := len("15:04:05.000000 ")
	if len(b) < i {
		return b
	}
	name := c.String()
	b = append(b, make([]byte, len(name)+1)...)
	copy(b[i+len(name)+1:], b[i:])
	copy(b[i:], name)
	b[i+len(name)] = ' '
	return b
}

// jsonContainer is the event's "container" object, null for a host
// process. id and namespace are always there for a container; the others
// only when containerd told them (image is "" for a container made from a
// rootfs, shim_pid 0 before the task exists), so that a consumer can tell
// "unknown" from "empty" by "known".
func jsonContainer(c *correlate.Container) *zerolog.Event {
	if c == nil {
		return nil
	}
	d := zerolog.Dict().Str("id", c.ID).Str("namespace", c.Namespace).
		Bool("known", c.Known).Str("source", string(c.Source))
	if c.Known {
		d.Str("image", c.Image).Str("runtime", c.Runtime)
	}
	if c.ShimPID != 0 {
		d.Uint32("shim_pid", c.ShimPID)
	}
	if kl := c.KubeLabels(); len(kl) > 0 {
		keys := make([]string, 0, len(kl))
		for k := range kl {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		ld := zerolog.Dict()
		for _, k := range keys {
			ld.Str(k, kl[k])
		}
		d.Dict("labels", ld)
	}
	for _, f := range [][2]string{{"pod", c.Pod}, {"pod_namespace", c.PodNamespace}, {"pod_uid", c.PodUID}, {"container_name", c.ContainerName}} {
		if f[1] != "" {
			d.Str(f[0], f[1])
		}
	}
	return d
}
