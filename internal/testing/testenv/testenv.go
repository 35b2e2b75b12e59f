// Package testenv holds what ctrace's tests share about their environment:
// whether they may do privileged things, and a writer safe to share between
// a test and the processes it watches.
package testenv

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// RequireRoot skips tb unless it runs as root, saying why root is needed
// (need, e.g. "loading eBPF programs"). In CI, which runs as root, a missing
// privilege is a failure, not a skip: a skipped privileged test proves nothing.
func RequireRoot(tb testing.TB, need string) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("%s needs root; CI runs as root (sudo make test)", need)
	}
	tb.Skipf("skipped: %s needs root (run: sudo make test)", need)
}

// Buffer is a bytes.Buffer that several goroutines may write and read.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// RunWithout is what a package's TestMain does when tools its shared
// fixture (a containerd, a Kubernetes node) needs are missing: outside CI
// it runs the tests, which skip with the reason it returns; in CI it
// fails the package (status 1), since a skipped test there proves nothing.
// what names the tests ("container tests").
func RunWithout(m *testing.M, pkg, what string, missing []string) (skip string, code int) {
	skip = "missing " + strings.Join(missing, ", ") + " (build/deps.sh test installs them on Debian)"
	if os.Getenv("CI") == "true" {
		fmt.Fprintf(os.Stderr, "%s %s cannot run in CI: %s\n", pkg, what, skip)
		return skip, 1
	}
	fmt.Fprintf(os.Stderr, "skipping %s %s: %s\n", pkg, what, skip)
	return skip, m.Run()
}
