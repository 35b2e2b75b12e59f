package correlate

import (
	"testing"

	"github.com/ctrace-dev/ctrace/tracer"
)

// TestIdentifyCgroupMemo asks a resolver about events from several
// cgroups, each more than once, and wants what parsing the path says.
func TestIdentifyCgroupMemo(t *testing.T) {
	const id = "3f4e5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081"
	paths := []string{
		"/default/test1", "/k8s.io/" + id, "/default/test1/sub",
		"/kubepods/burstable/pod1a2b3c4d-0000-1111-2222-333344445555/" + id,
		"/kubepods/burstable/pod1a2b3c4d-0000-1111-2222-333344445555",
		"/system.slice/containerd.service", "/user.slice/user-1000.slice/session-2.scope",
	}
	r := &Resolver{byPID: map[uint32]pidEntry{}}
	for round := range 3 {
		for _, p := range paths {
			ev := &tracer.Event{Proc: tracer.Proc{PID: 1, Comm: "cat", Cgroup: p}}
			got, ok := r.identify(ev)
			want, wantOK := fromCgroup(p)
			if ok != wantOK || got != want {
				t.Errorf("round %d: identify(%q) = %+v, %v; want %+v, %v", round, p, got, ok, want, wantOK)
			}
		}
	}
}
