package testenv

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// BuildCtrace builds the ctrace command into dir, as `make build` does
// (without cgo), with go build's ldflags ("" for none), and returns its
// path. TestMain calls it; tests call CtraceBinary.
func BuildCtrace(dir, ldflags string) (string, error) {
	p := filepath.Join(dir, "ctrace")
	args := []string{"build", "-o", p}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	pkg, err := ctraceDir()
	if err != nil {
		return "", err
	}
	// go test puts its own toolchain first in PATH.
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New("go build ./cmd/ctrace: " + err.Error() + "\n" + string(out))
	}
	return p, nil
}

var (
	ctraceOnce sync.Once
	ctracePath string
	ctraceErr  error
)

// CtraceBinary returns the ctrace command, built into dir by the first
// call of the test binary and shared by the tests after it: dir must
// outlive them (a directory TestMain removes, such as ctrdtest.Shared's).
func CtraceBinary(tb testing.TB, dir string) string {
	tb.Helper()
	ctraceOnce.Do(func() { ctracePath, ctraceErr = BuildCtrace(dir, "") })
	if ctraceErr != nil {
		tb.Fatal(ctraceErr)
	}
	return ctracePath
}

// ctraceDir is cmd/ctrace's directory, found from the test's working
// directory (its package's, inside the module) upwards. A directory, not
// the import path: the kernel matrix's guests have no Go toolchain, and
// their stand-in for go build finds what the host built for a test by
// the directory it names (test/vm/goshim.sh).
func ctraceDir() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(d, "cmd", "ctrace")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p, nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", errors.New("cmd/ctrace not found above the test's directory")
		}
		d = up
	}
}
