package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/benign"
	"github.com/ctrace-dev/ctrace/tracer"
)

// renderer writes events as text lines or JSON objects, one per line.
type renderer struct {
	json  bool
	color bool
	// explain makes text output say so when no reason was found.
	explain bool
	w       io.Writer
	buf     []byte
	keys    []string // scratch for sorting label keys
	clock   clockCache
}

func newRenderer(format string, w io.Writer, color bool) *renderer {
	return &renderer{json: format == "json", color: color && format == "text", w: w}
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
	r.buf = r.clock.appendClock(r.buf[:0], ev.Time)
	r.buf = appendText(r.buf, ev, r.color)
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

// appendText renders an event as strace does, after the time that b ends
// with, and prefixed with the process:
//
//	12:03:04.123456 mount[4242] uid=0 mount("none", "/x", ...) = -1 ENOENT (No such file or directory)
func appendText(b []byte, ev *tracer.Event, color bool) []byte {
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
	if e < unix.Errno(len(errnoMessages)) {
		return errnoMessages[e]
	}
	return makeErrnoMessage(e)
}

// errnoMessages holds the messages of the errnos that exist, so that an
// event does not build its message again.
var errnoMessages = func() (t [256]string) {
	for i := range t {
		t[i] = makeErrnoMessage(unix.Errno(i))
	}
	return t
}()

func makeErrnoMessage(e unix.Errno) string {
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
	r.buf = r.appendJSON(r.buf[:0], ev, rule, c)
	_, _ = r.w.Write(r.buf)
}

func (r *renderer) appendJSON(b []byte, ev *tracer.Event, rule *benign.Rule, c *correlate.Container) []byte {
	b = append(b, `{"time":"`...)
	b = r.clock.appendRFC3339Nano(b, ev.Time) // nothing in it to escape
	b = append(b, '"')
	b = jsonStrLit(b, `"syscall":`, ev.Syscall)
	b = jsonStrLit(b, `"family":`, string(ev.Family))
	if ev.Failed() {
		b = jsonIntLit(b, `"ret":`, -1)
		b = jsonStrLit(b, `"errno":`, errnoName(ev.Errno))
		b = jsonStrLit(b, `"error":`, errnoMessage(ev.Errno))
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
	if c == nil {
		b = append(jsonKeyLit(b, `"container":`), "null"...)
	} else {
		b = r.jsonContainer(b, c)
	}
	if rule != nil {
		b = jsonBoolLit(b, `"benign":`, true)
		b = jsonStrLit(b, `"benign_rule":`, rule.Name)
	}
	return append(b, '}', '\n')
}

func jsonArg(b []byte, a *tracer.Arg) []byte {
	switch a.Kind {
	case tracer.KindInt:
		return jsonInt(b, a.Name, a.Int())
	case tracer.KindSize:
		return jsonUint(b, a.Name, a.Raw)
	case tracer.KindFlags, tracer.KindMode:
		return jsonStr(b, a.Name, a.Text)
	case tracer.KindFD:
		b = append(jsonKey(b, a.Name), '{')
		b = jsonIntLit(b, `"fd":`, a.Int())
		if a.IsATFDCWD() {
			b = jsonBoolLit(b, `"at_fdcwd":`, true)
		} else if a.Str != "" {
			b = jsonStrLit(b, `"path":`, a.Str)
		}
		return append(b, '}')
	case tracer.KindString:
		if a.Raw == 0 && !a.After {
			return jsonNull(b, a.Name)
		} else if a.Read && !a.Fault {
			return jsonStr(b, a.Name, a.Str)
		}
		return jsonStr(b, a.Name, a.String())
	case tracer.KindStruct:
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
	case tracer.KindArgv:
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
			b = jsonStrLit(b, `"caller_uid_map":`, r.CallerUIDMap)
		case tracer.ReasonKernelLog:
			b = jsonStrLit(b, `"message":`, r.Message)
		case tracer.ReasonLSM:
			b = jsonStrLit(b, `"hook":`, r.Hook)
			b = jsonStrLit(b, `"lsm":`, r.LSM)
			b = jsonStrLit(b, `"detail":`, r.Detail)
		}
		b = append(b, '}')
	}
	return append(b, ']')
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

// jsonContainer appends the event's "container" object, for an event of
// a container. id and namespace are always there; the others only when
// containerd told them (image is "" for a container made from a rootfs,
// shim_pid 0 before the task exists), so that a consumer can tell
// "unknown" from "empty" by "known".
func (r *renderer) jsonContainer(b []byte, c *correlate.Container) []byte {
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
