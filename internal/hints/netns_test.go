package hints

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/netns"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
	"github.com/ctrace-dev/ctrace/tracer"
)

// TestStaleNetNSRule drives the stale-netns rule with the reasons the
// netns stage gives on real files: stale ones (ip netns add, then the bind
// mount removed) named by a running sandbox, a deleted sandbox, a stopped
// container or nobody; a live one and a missing one, which get no hint;
// and calls without the evidence.
func TestStaleNetNSRule(t *testing.T) {
	testenv.RequireRoot(t, "ip netns add")
	prefix := fmt.Sprintf("cthint%d", os.Getpid()%100000)
	stale := func(name string) string {
		p := testenv.AddNetNS(t, prefix+"-"+name)
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sbx, gone, ctr, nobody := stale("sbx"), stale("gone"), stale("ctr"), stale("nobody")
	live := testenv.AddNetNS(t, prefix+"-live")
	missing := filepath.Join(netns.Dirs[0], prefix+"-missing")

	const sandboxID = "3f2a1b2c3d4e5f60718293a4b5c6d7e8"
	idx := netns.NewIndex(netns.IndexOptions{})
	pod := func(id, path string) correlate.Container {
		return correlate.Container{ID: id, Namespace: "k8s.io", NetNS: path, Task: correlate.TaskRunning,
			Pod: "web-1", PodNamespace: "shop"}
	}
	idx.Observe(pod(sandboxID, sbx))
	deleted := pod("9e8d7c6b5a4f3e2d1c0b", gone)
	deleted.Deleted = time.Now()
	idx.Observe(deleted)
	idx.Observe(correlate.Container{ID: "app", Namespace: "default", NetNS: ctr, Task: correlate.TaskStopped})
	idx.Observe(pod("a1", live))
	idx.Observe(pod("m1", missing))
	d := &netns.Diagnoser{Index: idx}

	setns := func(path string, errno unix.Errno) *tracer.Event {
		return &tracer.Event{Syscall: "setns", Family: tracer.FamilyNamespace, Errno: errno, Ret: -int64(errno),
			Args: []tracer.Arg{{Name: "fd", Kind: tracer.KindFD, Raw: 5, Str: path, Read: true}}}
	}
	for _, tc := range []struct {
		name string
		ev   *tracer.Event
		want string // "" for no hint
	}{
		{"stale, running sandbox", setns(sbx, unix.EINVAL),
			"stop and remove the sandbox (crictl stopp 3f2a1b2c3d4e5; crictl rmp 3f2a1b2c3d4e5); the kubelet recreates it and the CNI plugin makes a new namespace"},
		{"stale, deleted sandbox", setns(gone, unix.EINVAL),
			"its container k8s.io/9e8d7c6b5a4f3 was deleted and left the file behind: remove it (rm " + gone + ")"},
		{"stale, stopped container", setns(ctr, unix.EINVAL),
			"stop and remove container default/app (ctr -n default task kill app; ctr -n default container rm app) and create it again with a live namespace"},
		{"stale, no container", setns(nobody, unix.EINVAL),
			"no container names " + nobody + " and it holds no namespace: remove it (ip netns delete " + prefix + "-nobody, or rm " + nobody + ")"},
		{"stale, opened", &tracer.Event{Syscall: "openat", Family: tracer.FamilyOpen, Errno: unix.EACCES, Ret: -13,
			Args: []tracer.Arg{{Name: "path", Kind: tracer.KindString, Str: nobody, Read: true}}},
			"no container names " + nobody + " and it holds no namespace: remove it (ip netns delete " + prefix + "-nobody, or rm " + nobody + ")"},
		// The namespace is alive: the failure has another cause.
		{"live", setns(live, unix.EPERM), ""},
		{"missing", setns(missing, unix.EBADF), ""},
		{"not a netns file", setns("/tmp", unix.EINVAL), ""},
		{"succeeded", setns(sbx, 0), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d.Diagnose(tc.ev)
			hs := For(tc.ev, nil)
			if tc.want == "" {
				if len(hs) != 0 {
					t.Errorf("hints %+v, want none (reasons %+v)", hs, tc.ev.Reasons)
				}
				return
			}
			if len(hs) != 1 || hs[0].Rule != "stale-netns" {
				t.Fatalf("hints %+v, want stale-netns (reasons %+v)", hs, tc.ev.Reasons)
			}
			if hs[0].Text != tc.want {
				t.Errorf("hint\n%s\nwant\n%s", hs[0].Text, tc.want)
			}
		})
	}
}

// TestStaleNetNSNeedsTheReason: the rule reads the netns reason only; a
// stale-looking path without it (the stage did not run, or found no
// state) gives no hint.
func TestStaleNetNSNeedsTheReason(t *testing.T) {
	ev := &tracer.Event{Syscall: "setns", Errno: unix.EINVAL, Ret: -22,
		Args:    []tracer.Arg{{Name: "fd", Kind: tracer.KindFD, Raw: 5, Str: "/run/netns/x", Read: true}},
		Reasons: []tracer.Reason{&tracer.KernelLogReason{Message: "m"}}}
	if hs := For(ev, nil); len(hs) != 0 {
		t.Errorf("hints %+v without a netns reason", hs)
	}
}
