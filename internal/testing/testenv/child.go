package testenv

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// ChildMain makes the test binary, when StartChild re-executes it with
// env set, a child process: it calls do with env's value, prints what do
// returns as one line, and stays until its stdin closes, so that the test
// can look at it through /proc as ctrace would. Without env it returns at
// once. Call it first in TestMain.
func ChildMain(env string, do func(spec string) string) {
	spec := os.Getenv(env)
	if spec == "" {
		return
	}
	fmt.Println(do(spec))
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// StartChild re-executes the test binary as a child (ChildMain) with env
// set to spec, under attr (nil: as the test runs), in /, and returns the
// line it printed, without the newline, and the child, which lives until
// the test ends.
func StartChild(tb testing.TB, env, spec string, attr *syscall.SysProcAttr) (string, *exec.Cmd) {
	tb.Helper()
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"="+spec)
	cmd.SysProcAttr = attr
	cmd.Dir = "/"
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = in.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		tb.Fatalf("child %s=%s: %v", env, spec, err)
	}
	return strings.TrimSuffix(line, "\n"), cmd
}
