package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/netns"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
	"github.com/ctrace-dev/ctrace/tracer"
)

// reasons is a sink that keeps the reasons of each event, as the renderer
// would see them.
type reasons struct{ got [][]tracer.Reason }

func (r *reasons) Write(ev *Event) {
	r.got = append(r.got, append([]tracer.Reason(nil), ev.Reasons...))
}
func (r *reasons) Close() error { return nil }

// TestNetNSStage runs failures on real files through the stage: a netns
// file that is stale (root: ip netns add, then its bind mount removed),
// one that is missing, named by a container's spec or by nobody, and
// calls that get no reason.
func TestNetNSStage(t *testing.T) {
	missing := filepath.Join(netns.Dirs[0], fmt.Sprintf("ctrace-none-%d", os.Getpid()))
	idx := netns.NewIndex(netns.IndexOptions{})
	idx.Observe(correlate.Container{ID: "3f2a1b2c3d4e5f60", Namespace: "k8s.io", NetNS: missing,
		Task: correlate.TaskRunning, Pod: "web-1", PodNamespace: "shop"})
	setns := func(path string) *tracer.Event {
		ev := failed("setns", unix.EINVAL, "ip")
		ev.Args = []tracer.Arg{{Name: "fd", Kind: tracer.KindFD, Raw: 5, Str: path, Read: true}}
		return ev
	}
	tests := []struct {
		name  string
		ev    func(t *testing.T) *tracer.Event
		want  string // "" for no reason: otherwise path, state, owner
		owner string
	}{
		{"missing, named by a running sandbox", func(*testing.T) *tracer.Event { return setns(missing) },
			"missing", "3f2a1b2c3d4e5f60 k8s.io shop/web-1 running"},
		{"missing, named by nobody", func(*testing.T) *tracer.Event { return setns(missing + "-x") }, "missing", ""},
		{"stale", func(t *testing.T) *tracer.Event {
			testenv.RequireRoot(t, "ip netns add")
			p := testenv.AddNetNS(t, fmt.Sprintf("ctrace-stage-%d", os.Getpid()))
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
				t.Fatal(err)
			}
			return setns(p)
		}, "stale", ""},
		{"open of a missing netns path", func(*testing.T) *tracer.Event {
			return failed("openat", unix.ENOENT, "cni", "path", missing)
		}, "missing", "3f2a1b2c3d4e5f60 k8s.io shop/web-1 running"},
		{"not a netns file", func(*testing.T) *tracer.Event { return setns("/tmp/x") }, "", ""},
		{"a call that names no file", func(*testing.T) *tracer.Event {
			return failed("unshare", unix.EPERM, "unshare")
		}, "", ""},
		{"success", func(*testing.T) *tracer.Event {
			ev := setns(missing)
			ev.Errno, ev.Ret = 0, 0
			return ev
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sink reasons
			p := New([]Stage{NewNetNS("", idx)}, &sink)
			ev := tt.ev(t)
			p.Process(ev)
			_ = p.Close(context.Background())
			if len(sink.got) != 1 {
				t.Fatalf("%d events reached the sink, want 1", len(sink.got))
			}
			rs := sink.got[0]
			if tt.want == "" {
				if len(rs) != 0 {
					t.Errorf("reasons %+v, want none", rs)
				}
				return
			}
			r, ok := netnsReason(rs)
			if !ok {
				t.Fatalf("reasons %+v, want one netns reason", rs)
			}
			if r.Path != ev.Args[0].Str || string(r.State) != tt.want {
				t.Errorf("reason on %s, %s; want %s, %s", r.Path, r.State, ev.Args[0].Str, tt.want)
			}
			owner := ""
			if o := r.Owner; o != nil {
				owner = fmt.Sprintf("%s %s %s/%s %s", o.ID, o.Namespace, o.PodNamespace, o.Pod, o.State)
			}
			if owner != tt.owner {
				t.Errorf("owner %q, want %q", owner, tt.owner)
			}
		})
	}
}

func netnsReason(rs []tracer.Reason) (*netns.Reason, bool) {
	if len(rs) != 1 {
		return nil, false
	}
	r, ok := rs[0].(*netns.Reason)
	return r, ok
}
