package main

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// hostileComm is what the "hostile" trigger names its thread: it would
// clear the terminal and start a line of its own if printed raw. The
// kernel keeps 15 bytes of a name.
const hostileComm = "\x1b[2J\nFAKE ok"

// hostileDirEnv names an existing directory for the trigger's mount.
const hostileDirEnv = "CTRACE_CLI_HOSTILE_DIR"

// hostileTrigger renames its thread with prctl(PR_SET_NAME), then fails
// an openat, and a mount whose missing lower directory overlayfs names in
// the kernel log: the name and the log line are the node's, not ctrace's.
func hostileTrigger() int {
	runtime.LockOSThread() // the name is the thread's
	name := append([]byte(hostileComm), 0)
	if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0); err != nil {
		return 1
	}
	if fd, err := unix.Open(missingPath, unix.O_RDONLY, 0); err == nil {
		unix.Close(fd)
	}
	dir := os.Getenv(hostileDirEnv)
	_ = unix.Mount("overlay", dir, "overlay", 0, "lowerdir="+missingPath+"/"+hostileComm+",upperdir="+dir+",workdir="+dir)
	return 0
}

// TestRunHostileNames: a real process renamed to a terminal escape and a
// line break, failing under a running ctrace, and a kernel log line that
// carries a path it chose, come out escaped on their own text line.
func TestRunHostileNames(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := append([]string{triggerEnv + "=hostile", hostileDirEnv + "=" + t.TempDir()}, quietEnv...)
	p, code := runCtrace(t, env, "run", "-o", "text", "-e", "openat,mount", "--", self)
	if code != 0 {
		t.Fatalf("exit status %d, want 0\nstderr:\n%s", code, p.stderr)
	}
	out := p.stdout.String()
	for _, c := range []byte(out) {
		if (c < ' ' && c != '\n') || c > '~' {
			t.Fatalf("output holds byte %#x:\n%q", c, out)
		}
	}
	const comm = `\33[2J\nFAKE ok[` // as strace escapes it
	var open, mount string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "FAKE") {
			t.Errorf("a line starts with the process's forged text: %q", l)
		}
		switch {
		case strings.Contains(l, comm) && strings.Contains(l, ` openat(AT_FDCWD, "`+missingPath+`", O_RDONLY`):
			open = l
		case strings.Contains(l, comm) && strings.Contains(l, ` mount("overlay", `):
			mount = l
		}
	}
	if open == "" || mount == "" {
		t.Fatalf("want the renamed thread's openat and mount lines, escaped, in:\n%s\nstderr:\n%s", out, p.stderr)
	}
	if strings.Contains(p.stderr.String(), "failures will not carry kernel_log reasons") {
		t.Logf("this kernel gives no kernel log reasons: %s", p.stderr)
		return
	}
	if !strings.Contains(mount, "= -1 ENOENT") {
		// ENODEV: a kernel without overlayfs logs nothing about the path.
		t.Logf("the mount failed otherwise, with no path to log: %s", mount)
		return
	}
	if want := `[kernel: overlayfs: failed to resolve '` + missingPath + `/\33[2J\nFAKE ok': -2]`; !strings.Contains(mount, want) {
		t.Errorf("mount line %q\nwant the kernel log line %s", mount, want)
	}
}
