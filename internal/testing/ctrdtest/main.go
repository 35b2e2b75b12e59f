package ctrdtest

import (
	"fmt"
	"os"
	"testing"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// Shared is the containerd a package's tests share, started by Main.
type Shared struct {
	*Daemon
	// Skip says why the container tests cannot run on this machine; ""
	// when the daemon runs.
	Skip string
}

// Main runs a package's tests around one private containerd, started in a
// fresh directory under /tmp and stopped when the tests end; after, when
// set, runs between the two. Without containerd, runc or busybox-static
// the tests run with s.Skip set, except in CI, where that fails the
// package: a skipped container test there proves nothing. It returns the
// exit status for os.Exit.
func Main(m *testing.M, pkg string, s *Shared, after func()) int {
	if missing := Missing(); len(missing) > 0 {
		var code int
		s.Skip, code = testenv.RunWithout(m, pkg, "container tests", missing)
		return code
	}
	dir, err := os.MkdirTemp("/tmp", "ctrd")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if s.Daemon, err = Start(dir); err != nil {
		fmt.Fprintln(os.Stderr, "start containerd:", err)
		return 1
	}
	defer s.Daemon.Stop()
	code := m.Run()
	if after != nil {
		after()
	}
	return code
}
