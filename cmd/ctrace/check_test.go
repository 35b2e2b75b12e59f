package main

import (
	"github.com/ctrace-dev/ctrace/internal/testenv"

	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCheckTellsTheTruth compares ctrace check with what this machine is.
func TestCheckTellsTheTruth(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	rep := runCheck()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	if want := unix.ByteSliceToString(u.Release[:]); rep.Kernel != want {
		t.Errorf("kernel = %q, want %q", rep.Kernel, want)
	}
	if !rep.CanRun {
		t.Fatalf("check says run cannot work here, yet the tests trace: %+v", rep.Items)
	}
	items := map[string]checkItem{}
	for _, it := range rep.Items {
		items[it.Name] = it
	}
	for _, name := range []string{"privileges", "btf", "syscalls:mount", "syscalls:open", "syscalls:namespace", "syscalls:exec", "syscalls:runtime", "reason:seccomp", "reason:capability", "reason:kernel_log", "reason:lsm_hooks", "reason:lsm_audit", "probe:fexit"} {
		if _, ok := items[name]; !ok {
			t.Errorf("check has no %q item", name)
		}
	}
	// What the development kernel offers (6.18, see the README's matrix);
	// on another kernel the mechanisms differ and these lines say which.
	lsms, _ := os.ReadFile("/sys/kernel/security/lsm")
	t.Logf("lsms %q lockdown %q", lsms, rep.Lockdown)
	if it := items["reason:capability"]; it.OK && it.Mechanism != "tp_btf/cap_capable" && it.Mechanism != "fexit/cap_capable" {
		t.Errorf("capability mechanism %q", it.Mechanism)
	}
	if _, err := os.Stat("/sys/kernel/tracing/events/capability/cap_capable"); err == nil {
		if it := items["reason:capability"]; !it.OK || it.Mechanism != "tp_btf/cap_capable" {
			t.Errorf("the kernel has the cap_capable tracepoint, check says %+v", it)
		}
	}
	if it := items["reason:kernel_log"]; !it.OK {
		t.Errorf("kernel_log: %+v (tracefs has events/printk/console: %v)", it, exists("/sys/kernel/tracing/events/printk/console"))
	}
	var buf bytes.Buffer
	rep.writeText(&buf)
	if !strings.Contains(buf.String(), "ctrace run can work on this node") {
		t.Errorf("text report:\n%s", buf.String())
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestWithoutTracefs: where tracefs cannot be found (a container that does
// not mount it), ctrace falls back to the raw dispatchers, says so in
// check and on run's stderr, and still reports failures. Run in a mount
// namespace of its own with tmpfs over both tracefs locations.
func TestWithoutTracefs(t *testing.T) {
	testenv.RequireRoot(t, "loading eBPF programs")
	hide := "mount -t tmpfs none /sys/kernel/tracing && " +
		"{ ! [ -d /sys/kernel/debug ] || mount -t tmpfs none /sys/kernel/debug; } && exec \"$@\""
	in := func(args ...string) *exec.Cmd {
		c := exec.Command("/bin/sh", append([]string{"-c", hide, "sh", bin}, args...)...)
		// Unshareflags, unlike Cloneflags, also makes the new namespace's
		// mounts private: nothing mounted there reaches the host.
		c.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		return c
	}

	out, err := in("check", "-o", "json").Output()
	var rep checkReport
	if jerr := json.Unmarshal(out, &rep); jerr != nil {
		t.Fatalf("check in a namespace without tracefs: %v, %v\n%s", err, jerr, out)
	}
	if !strings.HasPrefix(rep.Tracefs, "not found") {
		t.Errorf("tracefs = %q, want not found", rep.Tracefs)
	}
	for _, it := range rep.Items {
		if !strings.HasPrefix(it.Name, "syscalls:") {
			continue
		}
		if !it.OK || !strings.HasPrefix(it.Mechanism, "raw_tracepoint/sys_exit") || !strings.Contains(it.Detail, "no tracefs") {
			t.Errorf("%s: %+v, want ok through raw_tracepoint/sys_exit, saying tracefs is missing", it.Name, it)
		}
	}

	cmd := in("run", "-o", "json", "-e", "openat", "--", "/bin/sh", "-c", "cat /nonexistent/ctrace-no-tracefs 2>/dev/null; exit 0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "raw_tracepoint/sys_exit") {
		t.Errorf("run did not say it falls back to the raw dispatcher:\n%s", stderr.String())
	}
	var found bool
	for _, ev := range events(t, stdout.String()) {
		args, _ := ev["args"].(map[string]any)
		found = found || args["path"] == "/nonexistent/ctrace-no-tracefs"
	}
	if !found {
		t.Errorf("no failing openat of /nonexistent/ctrace-no-tracefs in:\n%s", stdout.String())
	}
}
