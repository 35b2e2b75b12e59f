package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func requireRootCheck(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("this test loads eBPF programs and needs root; CI runs as root (sudo make test)")
	}
	t.Skip("skipped: loading eBPF programs needs root (run: sudo make test)")
}

// TestCheckTellsTheTruth compares ctrace check with what this machine is.
func TestCheckTellsTheTruth(t *testing.T) {
	requireRootCheck(t)
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
