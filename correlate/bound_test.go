package correlate

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestPIDsBounded: a container that takes one exec after another keeps
// only its live processes; the exited ones are resolved for the grace
// time and then forgotten; where exits go unseen, the oldest processes
// past maxPIDsPerContainer expire as if they had exited.
func TestPIDsBounded(t *testing.T) {
	r, err := Open(context.Background(), Options{Address: filepath.Join(t.TempDir(), "none.sock"), Grace: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	k := key{"default", "probe"}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.put(Container{ID: k.id, Namespace: k.ns, Known: true})
	r.addPID(k, 1) // the task
	r.addPID(k, 1) // listed again by a resync
	for pid := uint32(100); pid < 5100; pid++ {
		r.addPID(k, pid)
		r.exitPID(k, pid, now)
	}
	if got := r.byKey[k].pids; len(got) != 1 || got[0] != 1 {
		t.Errorf("pids after 5000 execs that exited: %v, want the task's [1]", got)
	}
	if pe := r.byPID[4000]; pe.k != k || pe.expires.IsZero() {
		t.Errorf("an exited exec within its grace time: %+v, want %v expiring", pe, k)
	}
	r.prune(now.Add(2 * time.Minute))
	if len(r.byPID) != 1 {
		t.Errorf("%d pids known after the grace time, want the task's", len(r.byPID))
	}

	for pid := uint32(10000); pid < 10000+2*maxPIDsPerContainer; pid++ {
		r.addPID(k, pid) // exits never seen
	}
	if n := len(r.byKey[k].pids); n != maxPIDsPerContainer {
		t.Errorf("%d pids kept without exits, want the bound %d", n, maxPIDsPerContainer)
	}
	r.prune(time.Now().Add(2 * time.Minute))
	if len(r.byPID) != maxPIDsPerContainer {
		t.Errorf("%d pids known after the grace time, want the %d newest", len(r.byPID), maxPIDsPerContainer)
	}
	if st := r.statsLocked(); st.MaxContainerPIDs != maxPIDsPerContainer || st.Containers != 1 {
		t.Errorf("stats %+v", st)
	}
}
