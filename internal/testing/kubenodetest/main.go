package kubenodetest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ctrace-dev/ctrace/internal/testing/kubeapitest"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// Shared is the node a package's tests share, started by Main.
type Shared struct {
	*Node
	// Skip says why the node cannot run on this machine; "" when it runs.
	Skip string
}

// Main runs a package's tests around one node, started in a fresh
// directory under /tmp and stopped when the tests end. Without what the
// node needs the tests run with s.Skip set, except in CI, where that fails
// the package. It returns the exit status for os.Exit.
func Main(m *testing.M, pkg string, s *Shared) int {
	return MainWith(m, pkg, s, false)
}

// MainWith is Main; with registered, the node is a one-node cluster: an
// API server (kubeapitest, in a directory of its own) started first, the
// kubelet registered with it (s.API), and the default namespace given
// what a controller manager would (kubeapitest.Server.Namespace).
func MainWith(m *testing.M, pkg string, s *Shared, registered bool) int {
	return mainWith(m, pkg, s, registered, false)
}

// MainCluster is MainWith registered, with the control plane's
// controller manager and scheduler started before the node
// (kubeapitest.Server.StartControllers): manifests applied through the
// API (a DaemonSet, its service account) become pods on the node as in a
// cluster.
func MainCluster(m *testing.M, pkg string, s *Shared) int {
	return mainWith(m, pkg, s, true, true)
}

func mainWith(m *testing.M, pkg string, s *Shared, registered, controllers bool) int {
	if missing := Missing(); len(missing) > 0 {
		var code int
		s.Skip, code = testenv.RunWithout(m, pkg, "Kubernetes node tests", missing)
		return code
	}
	// The node's CNI namespaces live in testenv.NetNSDir: other packages'
	// tests must not change it while the node runs.
	release, err := testenv.HoldNetNS()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer release()
	dir, err := os.MkdirTemp("/tmp", "kn")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	var opts Options
	if registered {
		apiDir, err := os.MkdirTemp("/tmp", "ka")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(apiDir)
		if opts.API, err = kubeapitest.Start(ctx, apiDir); err != nil {
			fmt.Fprintln(os.Stderr, "start the API server:", err)
			return 1
		}
		// Deferred first, so it runs after the node's Stop: the kubelet
		// still talks to it while it stops.
		defer opts.API.Stop()
		if controllers {
			if err := opts.API.StartControllers(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "start the controller manager and scheduler:", err)
				return 1
			}
		}
		if err := opts.API.Namespace(ctx, "default"); err != nil {
			fmt.Fprintln(os.Stderr, "the default namespace:", err)
			return 1
		}
	}
	if s.Node, err = StartWith(ctx, dir, opts); err != nil {
		fmt.Fprintln(os.Stderr, "start the Kubernetes node:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "%s: Kubernetes node up in %s\n", pkg, time.Since(t0).Round(time.Millisecond))
	defer s.Node.Stop()
	return m.Run()
}
