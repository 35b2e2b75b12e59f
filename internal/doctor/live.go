package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/ctrace-dev/ctrace/internal/netns"
)

// liveTimeout bounds one fresh listing of containerd's containers.
const liveTimeout = 10 * time.Second

// ContainerdLive returns an Input.Live that asks the containerd at address
// (as this process reaches it) for its containers each time, with no
// cache between: correlate's cache follows containerd's events, which
// arrive a moment after the change, and a fix must not act on a view
// older than itself. rootDir is the node's root, for the netns paths.
func ContainerdLive(address, rootDir string) func(ctx context.Context) (Live, error) {
	return func(ctx context.Context) (Live, error) {
		ctx, cancel := context.WithTimeout(ctx, liveTimeout)
		defer cancel()
		cl, err := client.New(address, client.WithTimeout(liveTimeout))
		if err != nil {
			return Live{}, fmt.Errorf("connect to containerd at %s: %w", address, err)
		}
		defer cl.Close()
		nss, err := cl.NamespaceService().List(ctx)
		if err != nil {
			return Live{}, fmt.Errorf("list namespaces: %w", err)
		}
		l := Live{IDs: map[string]bool{}, NetNS: map[string]bool{}}
		for _, ns := range nss {
			cs, err := cl.ContainerService().List(namespaces.WithNamespace(ctx, ns))
			if err != nil {
				return Live{}, fmt.Errorf("list containers of namespace %s: %w", ns, err)
			}
			for _, c := range cs {
				l.IDs[c.ID] = true
				if c.Spec == nil {
					continue
				}
				if p := specNetNS(c.Spec.GetValue()); p != "" {
					l.NetNS[netns.Canonical(rootDir, p)] = true
				}
			}
		}
		return l, nil
	}
}

// specNetNS returns the network namespace file an OCI spec names, ""
// for none. Only the namespaces are decoded.
func specNetNS(spec []byte) string {
	var s struct {
		Linux *struct {
			Namespaces []struct {
				Type string `json:"type"`
				Path string `json:"path"`
			} `json:"namespaces"`
		} `json:"linux"`
	}
	if json.Unmarshal(spec, &s) != nil || s.Linux == nil {
		return ""
	}
	for _, n := range s.Linux.Namespaces {
		if n.Type == "network" {
			return n.Path
		}
	}
	return ""
}
