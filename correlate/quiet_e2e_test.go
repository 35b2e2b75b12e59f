package correlate

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestHealthyLifecycleIsQuiet: a healthy container's whole life, `ctr run
// --rm IMAGE ID /bin/true` from create to delete, prints no line in text
// output. Every failure it makes (runc's set-up checks, the shim's and
// runc delete's look-before-you-act) is known to be harmless; one line
// here means a rule is missing or a real failure crept in.
func TestHealthyLifecycleIsQuiet(t *testing.T) {
	needE2E(t)
	if _, err := exec.LookPath("ctr"); err != nil {
		t.Fatal("no ctr (Debian package containerd): build/deps.sh test installs it")
	}
	image, err := ctrd.ImportImage(ctx(t), "default")
	if err != nil {
		t.Fatal(err)
	}
	id := runPrefix + "-quiet"
	cr := startCtrace(t, "--containerd-address", ctrd.Address, "--container", id)
	cr.waitStderr(t, "connected", 1)
	out, err := exec.CommandContext(ctx(t), "ctr", "--address", ctrd.Address, "--namespace", "default",
		"run", "--rm", image, id, "/bin/true").CombinedOutput()
	if err != nil {
		t.Fatalf("ctr run: %v: %s", err, out)
	}
	// runc delete and the shim's clean-up come after ctr returns.
	time.Sleep(time.Second)
	if err := cr.stop(); err != nil {
		t.Fatalf("ctrace exit: %v\n%s", err, cr.stderrText())
	}
	if lines := cr.lines(); len(lines) > 0 {
		t.Errorf("a healthy container's life printed %d lines:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	if !strings.Contains(cr.stderrText(), "known-harmless failures") {
		t.Errorf("no failure of the container's life was seen at all (is it traced?); stderr:\n%s", cr.stderrText())
	}
}
