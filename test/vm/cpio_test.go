package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// The archive is read back by a real cpio implementation (busybox's, as
// the guest's userland comes from busybox anyway).
func TestCPIOReadBack(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("skipped: no busybox to read the archive back")
	}
	var buf bytes.Buffer
	c := newCPIO(&buf)
	c.file("/etc/hostname", 0o644, []byte("ctrace-vm\n"))
	c.file("/a/b/c/odd", 0o755, []byte("12345")) // not a multiple of 4
	c.symlink("/bin/sh", "/bin/busybox")
	c.charDev("/dev/console", 5, 1)
	c.mkdirAll("/a/b") // already there: not added twice
	if err := c.close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d is not a multiple of 4", buf.Len())
	}
	cmd := exec.Command(bb, "cpio", "-t", "-v")
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("busybox cpio -t: %v\n%s", err, out)
	}
	list := string(out)
	for _, want := range []string{
		"drwxr-xr-x", "etc\n", "etc/hostname\n", "a/b/c/odd\n",
		"lrwxrwxrwx", "bin/sh -> /bin/busybox\n", "crw-------", "dev/console\n",
	} {
		if !strings.Contains(list, want) {
			t.Errorf("listing lacks %q:\n%s", want, list)
		}
	}
	if n := strings.Count(list, " a/b\n"); n != 1 {
		t.Errorf("a/b listed %d times, want once:\n%s", n, list)
	}
	// The contents survive: extract one file to stdout.
	cmd = exec.Command(bb, "cpio", "-i", "--to-stdout", "a/b/c/odd")
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	if out, err := cmd.Output(); err != nil || string(out) != "12345" {
		t.Errorf("extracted %q, %v; want \"12345\"", out, err)
	}
}
