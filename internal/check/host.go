package check

import (
	"strings"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/hostroot"
)

// Host is what the report says about the node's file system as ctrace
// sees it.
type Host struct {
	Root       string `json:"root"`
	How        string `json:"how"`
	Proc       string `json:"proc"`
	BTF        string `json:"btf"`
	Cgroup     string `json:"cgroup"`
	Containerd string `json:"containerd"`
	// OwnMountNS is true when ctrace runs in a mount namespace other than
	// the node's (that of the host's pid 1); null when unknown.
	OwnMountNS *bool `json:"own_mount_ns"`
}

// hostReport describes the host root, with the items that say what was
// found under it; a host root that could not be found is a required item
// that fails.
func hostReport(hr *hostroot.Root, err error) (*Host, []Item) {
	if err != nil || hr == nil {
		it := Item{Name: "host-root", Required: true, Detail: "no host root"}
		if err != nil {
			it.Detail = err.Error()
		}
		return nil, []Item{it}
	}
	h := &Host{Root: hr.Path, How: hr.How, Proc: hr.Proc, BTF: hr.BTF, Cgroup: hr.Cgroup, Containerd: hr.Containerd}
	if hr.MountNSKnown {
		own := !hr.SameMountNS
		h.OwnMountNS = &own
	}
	var items []Item
	ctrd := Item{Name: "containerd", OK: hr.Containerd != "", Mechanism: hr.Containerd}
	if !ctrd.OK {
		ctrd.Detail = "no containerd socket at " + joinUnder(hr, correlate.KnownAddresses) + ": events carry container ids only"
	}
	items = append(items, ctrd)
	cg := Item{Name: "cgroup2", OK: hr.Cgroup != "", Mechanism: hr.Cgroup}
	if !cg.OK {
		cg.Detail = "no cgroup v2 hierarchy found under " + hr.Join("/sys/fs/cgroup")
	}
	items = append(items, cg)
	return h, items
}

// joinUnder is ps, paths on the node, as seen from here, joined by commas.
func joinUnder(hr *hostroot.Root, ps []string) string {
	under := make([]string, len(ps))
	for i, p := range ps {
		under[i] = hr.Join(p)
	}
	return strings.Join(under, ", ")
}
