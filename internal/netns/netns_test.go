package netns

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/testing/ctrdtest"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
	"github.com/ctrace-dev/ctrace/tracer"
)

var (
	ctrd   ctrdtest.Shared
	prefix = fmt.Sprintf("ctns%d", os.Getpid()%100000)
)

func TestMain(m *testing.M) { os.Exit(ctrdtest.Main(m, "netns", &ctrd, nil)) }

func TestClassify(t *testing.T) {
	testenv.RequireRoot(t, "ip netns add")
	p := testenv.AddNetNS(t, prefix+"-cls")
	for _, tc := range []struct {
		name string
		do   func() error
		want State
	}{
		{"bind mount in place", func() error { return nil }, StateOK},
		{"bind mount gone", func() error { return unix.Unmount(p, unix.MNT_DETACH) }, StateStale},
		{"file gone", func() error { return os.Remove(p) }, StateMissing},
	} {
		if err := tc.do(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := Classify("", p)
		if err != nil || got != tc.want {
			t.Errorf("%s: Classify(%s) = %q, %v; want %q", tc.name, p, got, err, tc.want)
		}
	}
	if got, err := Classify("", "/proc/self/ns/net"); got != StateOK || err != nil {
		t.Errorf("Classify(/proc/self/ns/net) = %q, %v; want ok", got, err)
	}
}

func TestUnder(t *testing.T) {
	for p, want := range map[string]bool{
		"/run/netns/cni-1":     true,
		"/var/run/netns/x":     true,
		"/run/netns":           false,
		"/run/netns/a/b":       false,
		"/run/netnsx/a":        false,
		"/proc/1/ns/net":       false,
		"/tmp/run/netns/cni-1": false,
	} {
		if got := Under(p); got != want {
			t.Errorf("Under(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestIndexMemory(t *testing.T) {
	now := time.Unix(1000, 0)
	x := NewIndex(IndexOptions{Memory: time.Minute, now: func() time.Time { return now }})
	c := correlate.Container{ID: "a", Namespace: "default", NetNS: "/tmp/no-such-dir/x", Task: correlate.TaskRunning}
	x.Observe(c)
	x.Observe(correlate.Container{ID: "b", Namespace: "default", NetNS: "/proc/1/ns/net"})
	if o, ok := x.Lookup(c.NetNS); !ok || o.State != Running {
		t.Fatalf("Lookup of a running container = %+v, %v", o, ok)
	}
	if _, ok := x.Lookup("/proc/1/ns/net"); ok {
		t.Error("a /proc path was indexed")
	}
	c.Deleted = now
	x.Observe(c)
	now = now.Add(50 * time.Second)
	if o, ok := x.Lookup(c.NetNS); !ok || o.State != Deleted {
		t.Fatalf("Lookup within memory of a deleted container = %+v, %v", o, ok)
	}
	now = now.Add(20 * time.Second)
	if o, ok := x.Lookup(c.NetNS); ok {
		t.Fatalf("Lookup past memory = %+v, want none", o)
	}
}

// TestStaleNetNSOfContainer follows the seeds' case: a container joined
// to a named network namespace whose bind mount is then removed; `ip netns
// exec` fails in setns, and the reason names the file's state and the
// container, running and then deleted.
func TestStaleNetNSOfContainer(t *testing.T) {
	testenv.RequireRoot(t, "containerd, eBPF and ip netns")
	if ctrd.Skip != "" {
		t.Skip(ctrd.Skip)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	idx := NewIndex(IndexOptions{})
	r, err := correlate.Open(ctx, correlate.Options{Address: ctrd.Address, Watch: idx.Observe})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if !r.WaitConnected(wctx) {
		t.Fatal("resolver did not connect")
	}

	name := prefix + "-stale"
	p := testenv.AddNetNS(t, name)
	id := prefix + "-sbx"
	res, err := ctrd.Run(ctx, ctrdtest.RunOptions{ID: id, NetNS: p, Args: []string{"/bin/sleep", "300"}, Keep: true,
		Labels: map[string]string{correlate.LabelPodName: "web-1", correlate.LabelPodNamespace: "shop"}})
	if err == nil && res.StartErr != nil {
		err = res.StartErr
	}
	if err != nil {
		t.Fatalf("run container: %v", err)
	}
	removed := false
	defer func() {
		if !removed {
			_ = ctrd.Remove(context.Background(), "default", id)
		}
	}()
	waitOwner(t, idx, p, Running)

	syscalls, err := tracer.ParseSyscalls([]string{"setns"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tracer.Open(tracer.Options{Syscalls: syscalls})
	if err != nil {
		t.Fatal(err)
	}
	evs := make(chan *tracer.Event, 64)
	tctx, tcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tr.Run(tctx, tracer.Sink{Event: func(ev *tracer.Event) {
			select {
			case evs <- ev.Clone():
			default:
			}
		}})
	}()
	defer func() { tcancel(); <-done; tr.Close() }()
	d := &Diagnoser{Index: idx}

	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	ev := netnsExec(t, name, p, evs)
	assertReason(t, d, ev, p, StateStale, id, Running)

	if err := ctrd.Remove(ctx, "default", id); err != nil {
		t.Fatal(err)
	}
	removed = true
	waitOwner(t, idx, p, Deleted)
	ev = netnsExec(t, name, p, evs)
	assertReason(t, d, ev, p, StateStale, id, Deleted)

	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if st, _ := Classify("", p); st != StateMissing {
		t.Errorf("after rm: %s", st)
	}

	// A failure that names no network namespace file gets no reason.
	other := &tracer.Event{Syscall: "setns", Errno: unix.EINVAL, Args: []tracer.Arg{{Name: "fd", Kind: tracer.KindFD, Raw: 3, Str: "/tmp/x"}}}
	if d.Diagnose(other) {
		t.Errorf("reason for /tmp/x: %+v", other.Reasons)
	}
}

// netnsExec runs `ip netns exec name true`, which must fail, and returns
// its failing setns.
func netnsExec(t *testing.T, name, p string, evs <-chan *tracer.Event) *tracer.Event {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", name, "true")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("ip netns exec %s succeeded on a stale file", name)
	}
	pid := uint32(cmd.Process.Pid)
	deadline := time.After(15 * time.Second)
	for {
		select {
		case ev := <-evs:
			if ev.Proc.PID == pid && ev.Errno == unix.EINVAL && len(ev.Args) > 0 && ev.Args[0].Str == p {
				return ev
			}
		case <-deadline:
			t.Fatalf("no failing setns of pid %d on %s (ip said: %s)", pid, p, out)
		}
	}
}

func assertReason(t *testing.T, d *Diagnoser, ev *tracer.Event, path string, st State, id, cst string) {
	t.Helper()
	if !d.Diagnose(ev) {
		t.Fatalf("no netns reason for %s(%s)", ev.Syscall, ev.Args[0].String())
	}
	r, ok := ev.Reasons[len(ev.Reasons)-1].(*Reason)
	if !ok || r.Path != path || r.State != st {
		t.Errorf("reason = %+v, want netns %s %s", r, path, st)
	}
	if r.Owner == nil || r.Owner.ID != id || r.Owner.Namespace != "default" || r.Owner.State != cst ||
		r.Owner.Pod != "web-1" || r.Owner.PodNamespace != "shop" {
		t.Errorf("owner = %+v, want %s in default, pod shop/web-1, %s", r.Owner, id, cst)
	}
}

func waitOwner(t *testing.T, x *Index, p, state string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if o, ok := x.Lookup(p); ok && o.State == state {
			return
		}
	}
	o, ok := x.Lookup(p)
	t.Fatalf("index: %s is %+v (%v), want %s", p, o, ok, state)
}
