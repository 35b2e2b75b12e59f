package main

import (
	"bytes"
	"io"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/benign"
	"github.com/ctrace-dev/ctrace/tracer"
)

// The JSON renderer as it was written with zerolog's event builder: the
// reference that the allocation-free renderer must match byte for byte.
// zerologEvent writes one event as the old renderer did.
func zerologEvent(w io.Writer, ev *tracer.Event, rule *benign.Rule, c *correlate.Container) {
	l := zerolog.New(w)
	e := l.Log().
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
		zlArg(args, a)
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
		Array("reasons", zlReasons(ev.Reasons)).
		Func(func(e *zerolog.Event) {
			if c == nil {
				e.RawJSON("container", []byte("null"))
			} else {
				e.Dict("container", zlContainer(c))
			}
		})
	if rule != nil {
		e = e.Bool("benign", true).Str("benign_rule", rule.Name)
	}
	e.Send()
}

func zlArg(d *zerolog.Event, a *tracer.Arg) {
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

func zlReasons(rs []tracer.Reason) *zerolog.Array {
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

// jsonContainer is the event's "container" object, null for a host
// process. id and namespace are always there for a container; the others
// only when containerd told them (image is "" for a container made from a
// rootfs, shim_pid 0 before the task exists), so that a consumer can tell
// "unknown" from "empty" by "known".
func zlContainer(c *correlate.Container) *zerolog.Event {
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

// TestJSONMatchesZerolog renders varied events, with strings that need
// escaping, invalid UTF-8, and empty or missing parts, with the renderer
// and with the zerolog reference, and wants the same bytes.
func TestJSONMatchesZerolog(t *testing.T) {
	evs := []struct {
		ev   *tracer.Event
		rule *benign.Rule
		c    *correlate.Container
	}{
		{fullEvent(), nil, nil},
		{fullEvent(), &benign.Rule{Name: "runc-masked-paths"}, fullContainer()},
		{benchEvent(), nil, &correlate.Container{ID: "x", Namespace: "default", Source: correlate.SourceProc}},
		{&tracer.Event{}, nil, nil},
		{&tracer.Event{NoArgs: true, Args: []tracer.Arg{strArg("path", "/x")}, Proc: tracer.Proc{Cmdline: []string{}}}, nil, nil},
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		evs = append(evs, struct {
			ev   *tracer.Event
			rule *benign.Rule
			c    *correlate.Container
		}{randomEvent(rnd), randomRule(rnd), randomContainer(rnd)})
	}
	r := newRenderer("json", io.Discard, false)
	for i, e := range evs {
		var want bytes.Buffer
		zerologEvent(&want, e.ev, e.rule, e.c)
		got := r.appendJSON(nil, e.ev, e.rule, e.c)
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("event %d:\n got %s\nwant %s", i, got, want.Bytes())
		}
		var out bytes.Buffer
		r.w = &out
		r.event(e.ev, e.rule)
		if e.c == nil && !bytes.Equal(out.Bytes(), want.Bytes()) {
			t.Fatalf("event %d written:\n got %s\nwant %s", i, out.Bytes(), want.Bytes())
		}
	}
}

// Strings that JSON must escape or that are not UTF-8.
var awkward = []string{
	"", "/etc/passwd", `quote" and \backslash`, "tab\tnew\nline\r\x00\x01\x1f\x7f",
	"\b\f", "caf\xc3\xa9", "\xff\xfe", "trunc\xe2\x82", "\u2028\u2029", "<html>&amp;",
	"😀 emoji", "bad \xed\xa0\x80 surrogate", strings.Repeat("x", 300),
}

func randomString(rnd *rand.Rand) string {
	if rnd.IntN(3) == 0 {
		b := make([]byte, rnd.IntN(20))
		for i := range b {
			b[i] = byte(rnd.IntN(256))
		}
		return string(b)
	}
	return awkward[rnd.IntN(len(awkward))]
}

func randomStrings(rnd *rand.Rand) []string {
	switch rnd.IntN(4) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	s := make([]string, 1+rnd.IntN(3))
	for i := range s {
		s[i] = randomString(rnd)
	}
	return s
}

func randomArg(rnd *rand.Rand) tracer.Arg {
	a := tracer.Arg{
		Name: randomString(rnd), Kind: tracer.ArgKind(rnd.IntN(int(tracer.KindArgv) + 1)),
		Text: randomString(rnd), Str: randomString(rnd),
		Read: rnd.IntN(4) != 0, Truncated: rnd.IntN(4) == 0, Fault: rnd.IntN(6) == 0,
		After: rnd.IntN(8) == 0, Unused: rnd.IntN(8) == 0,
	}
	switch rnd.IntN(4) {
	case 0:
		a.Raw = 0
	case 1:
		a.Raw = uint64(0xffffff9c) // AT_FDCWD
	case 2:
		a.Raw = rnd.Uint64()
	default:
		a.Raw = uint64(rnd.IntN(10))
	}
	if rnd.IntN(3) == 0 {
		a.Name = []string{"path", "flags", "dirfd"}[rnd.IntN(3)]
	}
	a.Argv = randomStrings(rnd)
	if rnd.IntN(2) == 0 {
		a.Bytes = []byte(randomString(rnd))
	}
	// A struct's fields have a type of tracer's own, which only Decode
	// makes: build them by reflection.
	fields := reflect.ValueOf(&a.Fields).Elem()
	for range rnd.IntN(4) {
		f := reflect.New(fields.Type().Elem()).Elem()
		f.FieldByName("Name").SetString(randomString(rnd))
		f.FieldByName("Value").SetUint(rnd.Uint64())
		if rnd.IntN(2) == 0 {
			f.FieldByName("Text").SetString(randomString(rnd))
		}
		fields.Set(reflect.Append(fields, f))
	}
	return a
}

func randomEvent(rnd *rand.Rand) *tracer.Event {
	ev := &tracer.Event{
		Time:    time.Unix(rnd.Int64N(2e9), rnd.Int64N(1e9)).In(time.FixedZone("Z", rnd.IntN(3)*3600-3600)),
		Syscall: randomString(rnd), Family: tracer.Family(randomString(rnd)),
		Ret: rnd.Int64N(10) - 5, NoArgs: rnd.IntN(10) == 0,
		Proc: tracer.Proc{PID: rnd.Uint32(), TID: rnd.Uint32(), PPID: rnd.Uint32(), Comm: randomString(rnd),
			UID: rnd.Uint32(), GID: rnd.Uint32(), CgroupID: rnd.Uint64(), MntNS: rnd.Uint32(), PidNS: rnd.Uint32(),
			NetNS: rnd.Uint32(), UserNS: rnd.Uint32(), Cgroup: randomString(rnd), Cmdline: randomStrings(rnd)},
	}
	switch rnd.IntN(3) {
	case 0:
		ev.Errno = unix.Errno(1 + rnd.IntN(140))
	case 1:
		ev.Errno = unix.Errno(1 + rnd.IntN(4095))
	}
	for range rnd.IntN(6) {
		ev.Args = append(ev.Args, randomArg(rnd))
	}
	kinds := []tracer.ReasonKind{tracer.ReasonSeccomp, tracer.ReasonCapability, tracer.ReasonKernelLog, tracer.ReasonLSM, tracer.ReasonKind(randomString(rnd))}
	for range rnd.IntN(4) {
		ev.Reasons = append(ev.Reasons, tracer.Reason{
			Kind: kinds[rnd.IntN(len(kinds))], Cap: randomString(rnd), UserNS: rnd.Uint32(), InitUserNS: rnd.IntN(2) == 0,
			UserNSOwnerUID: rnd.Uint32(), CallerUserNS: rnd.Uint32(), CallerUIDMap: randomString(rnd),
			Message: randomString(rnd), Hook: randomString(rnd), LSM: randomString(rnd), Detail: randomString(rnd),
		})
	}
	return ev
}

func randomRule(rnd *rand.Rand) *benign.Rule {
	if rnd.IntN(3) != 0 {
		return nil
	}
	return &benign.Rule{Name: randomString(rnd)}
}

func randomContainer(rnd *rand.Rand) *correlate.Container {
	if rnd.IntN(3) == 0 {
		return nil
	}
	c := &correlate.Container{
		ID: randomString(rnd), Namespace: randomString(rnd), Known: rnd.IntN(2) == 0,
		Source: correlate.Source(randomString(rnd)), Image: randomString(rnd), Runtime: randomString(rnd),
		Pod: randomString(rnd), PodNamespace: randomString(rnd), PodUID: randomString(rnd), ContainerName: randomString(rnd),
	}
	if rnd.IntN(2) == 0 {
		c.ShimPID = rnd.Uint32()
	}
	if rnd.IntN(2) == 0 {
		c.Labels = map[string]string{}
		for range rnd.IntN(5) {
			c.Labels[[]string{"io.kubernetes.", "io.cri-containerd.", "other."}[rnd.IntN(3)]+randomString(rnd)] = randomString(rnd)
		}
	}
	return c
}

func TestErrnoMessageTable(t *testing.T) {
	for e := unix.Errno(0); e < 4096; e++ {
		if got, want := errnoMessage(e), makeErrnoMessage(e); got != want {
			t.Fatalf("errno %d: %q, want %q", e, got, want)
		}
	}
	if got := errnoMessage(unix.ENOENT); got != "No such file or directory" {
		t.Fatalf("ENOENT: %q", got)
	}
}
