package audit

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The tests re-execute their own binary as the process whose call an LSM
// denies; childEnv selects that role.
const childEnv = "CTRACE_AUDIT_CHILD"

// deniedPath is the file the sandboxed child may not read.
const deniedPath = "/etc/hostname"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "landlock":
		os.Exit(landlockChild())
	case "probe":
		// Unprivileged: what ctrace check says without the capabilities.
		a := Probe()
		fmt.Printf("reader: %v\nstatus: %v\n", a.ReaderErr, a.StatusErr)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// landlockChild waits for a line on stdin (so the parent can start
// tracing its pid first), sandboxes its thread with Landlock so that it
// may read no file, and opens deniedPath. It exits 0 when the open failed
// with EACCES and prints what went wrong otherwise.
func landlockChild() int {
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fmt.Println("read gate:", err)
		return 2
	}
	// Landlock restricts the calling thread only: the open must run on
	// the thread that restricted itself.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Println("no_new_privs:", err)
		return 2
	}
	attr := unix.LandlockRulesetAttr{Handled_access_fs: unix.LANDLOCK_ACCESS_FS_READ_FILE}
	fd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0)
	if errno != 0 {
		fmt.Println("landlock_create_ruleset:", errno)
		return 2
	}
	if _, _, errno := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); errno != 0 {
		fmt.Println("landlock_restrict_self:", errno)
		return 2
	}
	f, err := unix.Open(deniedPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != unix.EACCES {
		fmt.Printf("open %s: got fd %d, error %v; want EACCES\n", deniedPath, f, err)
		return 1
	}
	return 0
}

// child is a started, gated landlockChild.
type child struct {
	cmd  *exec.Cmd
	gate *os.File
	pid  uint32
	out  *bytes.Buffer
}

// startChild starts a landlockChild held at its gate.
func startChild(t *testing.T) *child {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=landlock")
	cmd.Stdin = r
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	r.Close()
	c := &child{cmd: cmd, gate: w, pid: uint32(cmd.Process.Pid), out: out}
	t.Cleanup(func() { w.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return c
}

// release lets the child make its call and waits for it to exit.
func (c *child) release(t *testing.T) {
	t.Helper()
	if _, err := c.gate.Write([]byte{'\n'}); err != nil {
		t.Fatalf("release child: %v", err)
	}
	c.gate.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child %d: %v\n%s", c.pid, err, c.out.String())
	}
}

// landlockAuditABI is the first Landlock ABI version whose denials are
// audited (kernel 6.15).
const landlockAuditABI = 7

// requireLandlockAudit skips a test on a kernel whose Landlock does not
// audit its denials, except in CI, where the kernel is chosen on purpose.
func requireLandlockAudit(t *testing.T) {
	t.Helper()
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno == 0 && int(v) >= landlockAuditABI {
		return
	}
	why := fmt.Sprintf("Landlock ABI %d, want %d or later (kernel 6.15+, landlock in lsm=)", int(v), landlockAuditABI)
	if errno != 0 {
		why = fmt.Sprintf("Landlock unavailable: %v", errno)
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("this kernel cannot produce Landlock audit records: %s", why)
	}
	t.Skipf("skipped: this kernel cannot produce Landlock audit records: %s", why)
}
