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
	// go test puts its own toolchain first in PATH; the import path
	// builds from any directory of the module.
	cmd := exec.Command("go", append(args, "github.com/ctrace-dev/ctrace/cmd/ctrace")...)
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
