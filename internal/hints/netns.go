package hints

import (
	"path/filepath"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/netns"
	"github.com/ctrace-dev/ctrace/tracer"
)

// staleNetNS: what to do depends on whose file it is. A live sandbox
// cannot be repaired in place (its pause process has another namespace,
// or none): it is replaced. A deleted one left its file behind.
func staleNetNS(ev *tracer.Event, _ *correlate.Container) string {
	r, ok := tracer.FirstReason[*netns.Reason](ev)
	if !ok || r.State != netns.StateStale {
		return ""
	}
	o := r.Owner
	switch {
	case o == nil:
		return "no container names " + r.Path + " and it holds no namespace: remove it (ip netns delete " + filepath.Base(r.Path) +
			", or rm " + r.Path + ")"
	case o.State == "deleted":
		return "its container " + o.Namespace + "/" + short(o.ID) + " was deleted and left the file behind: remove it (rm " + r.Path + ")"
	case o.Pod != "":
		return "stop and remove the sandbox (crictl stopp " + short(o.ID) + "; crictl rmp " + short(o.ID) +
			"); the kubelet recreates it and the CNI plugin makes a new namespace"
	}
	return "stop and remove container " + o.Namespace + "/" + o.ID + " (ctr -n " + o.Namespace + " task kill " + o.ID +
		"; ctr -n " + o.Namespace + " container rm " + o.ID + ") and create it again with a live namespace"
}

// short is an id as crictl shows it: enough to name a sandbox to crictl,
// which takes any unique prefix. ctr takes whole ids only.
func short(id string) string {
	if len(id) > 13 {
		return id[:13]
	}
	return id
}
