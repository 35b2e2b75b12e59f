package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/testing/ctrdtest"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

var (
	ctrd ctrdtest.Shared
	// prefix names this run's files and containers. Fixed width, so one
	// run's prefix is never a part of another's: a run killed earlier can
	// leave its files on the node, and they are not this run's to judge.
	prefix = fmt.Sprintf("ctdr%05d", os.Getpid()%100000)
)

func TestMain(m *testing.M) { os.Exit(ctrdtest.Main(m, "doctor", &ctrd, nil)) }

// nodeState is what doctor must leave as it found it: the mounts of the
// namespace directories and of the test's containerd (its containers'
// root file systems), and the namespace files with their inodes, sizes
// and times. Other mounts are left out: the tests of other packages,
// which go test runs at the same time, mount and unmount their own.
func nodeState(t *testing.T) string {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	ours := func(mp string) bool {
		for _, d := range []string{testenv.NetNSDir, "/var/run/netns", ctrd.Dir} {
			if mp == d || strings.HasPrefix(mp, d+"/") {
				return true
			}
		}
		return false
	}
	var lines []string
	for _, l := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(l); len(f) > 5 && ours(f[4]) {
			// mount id, parent, dev, root, mount point, options
			lines = append(lines, strings.Join(f[:6], " "))
		}
	}
	sort.Strings(lines)
	ents, _ := os.ReadDir(testenv.NetNSDir)
	for _, e := range ents {
		var st unix.Stat_t
		p := filepath.Join(testenv.NetNSDir, e.Name())
		if err := unix.Lstat(p, &st); err == nil {
			lines = append(lines, fmt.Sprintf("%s ino=%d dev=%d mode=%o size=%d mtime=%d.%d ctime=%d.%d", p, st.Ino, st.Dev, st.Mode, st.Size,
				st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec))
		}
	}
	return strings.Join(lines, "\n")
}

// TestDoctor builds a node with one of each inconsistency beside a healthy
// container, and checks that doctor reports exactly those, through the
// package and through `ctrace doctor`, and changes nothing.
func TestDoctor(t *testing.T) {
	testenv.RequireRoot(t, "containerd and ip netns")
	if ctrd.Skip != "" {
		t.Skip(ctrd.Skip)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := correlate.Open(ctx, correlate.Options{Address: ctrd.Address})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.WaitConnected(ctx) {
		t.Fatal("resolver did not connect")
	}
	in := Input{Containers: r.Containers, Address: ctrd.Address}

	// Only the tests' own files: another namespace on the machine is not
	// this test's to judge. Nor are copies of their mounts that other
	// processes of the machine may hold (TestFixNetNS tests netns-busy).
	mine := func(rep Report) []Finding {
		var out []Finding
		for _, f := range rep.Findings {
			if f.Kind == NetNSBusy {
				continue
			}
			if strings.Contains(f.Path, prefix) || (f.Container != nil && strings.HasPrefix(f.Container.ID, prefix)) {
				out = append(out, f)
			}
		}
		return out
	}
	run := func(id, netnsPath string, labels map[string]string) *ctrdtest.Result {
		res, err := ctrd.Run(ctx, ctrdtest.RunOptions{ID: id, NetNS: netnsPath, Args: []string{"/bin/sleep", "300"}, Keep: true, Labels: labels})
		if err == nil && res.StartErr != nil {
			err = res.StartErr
		}
		if err != nil {
			t.Fatalf("run %s: %v", id, err)
		}
		t.Cleanup(func() { _ = ctrd.Remove(context.Background(), "default", id) })
		return res
	}

	healthy := testenv.AddNetNS(t, prefix+"-ok")
	run(prefix+"-ok", healthy, nil)
	stale := testenv.AddNetNS(t, prefix+"-stale")
	run(prefix+"-stale", stale, map[string]string{correlate.LabelPodName: "web-1", correlate.LabelPodNamespace: "shop"})
	missing := testenv.AddNetNS(t, prefix+"-missing")
	run(prefix+"-missing", missing, nil)
	leaked := testenv.AddNetNS(t, prefix+"-leaked")
	orphan := run(prefix+"-orphan", "", nil)

	waitTasks(t, r, prefix+"-ok", prefix+"-stale", prefix+"-missing", prefix+"-orphan")
	rep, err := Check(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := mine(rep); len(got) != 1 || got[0].Kind != NetNSLeaked || got[0].Path != leaked {
		t.Fatalf("before breaking anything: findings %+v, want only %s leaked", got, leaked)
	}

	must(t, unix.Unmount(stale, unix.MNT_DETACH))
	must(t, unix.Unmount(missing, unix.MNT_DETACH))
	must(t, os.Remove(missing))
	// A hung shim: stopped, it cannot reap the task's process that is
	// then killed, and containerd still lists the task as running.
	shim := shimOf(t, prefix+"-orphan")
	must(t, unix.Kill(shim, unix.SIGSTOP))
	defer func() { _ = unix.Kill(shim, unix.SIGCONT) }()
	must(t, unix.Kill(int(orphan.Task.Pid()), unix.SIGKILL))
	waitZombie(t, int(orphan.Task.Pid()))

	before := nodeState(t)
	rep, err = Check(in)
	if err != nil {
		t.Fatal(err)
	}
	got := mine(rep)
	want := []struct {
		kind Kind
		path string
		id   string
	}{
		{NetNSStale, stale, prefix + "-stale"},
		{NetNSMissing, missing, prefix + "-missing"},
		{NetNSLeaked, leaked, ""},
		{SandboxOrphaned, "", prefix + "-orphan"},
	}
	if len(got) != len(want) {
		t.Fatalf("findings:\n%s\nwant %d", describe(got), len(want))
	}
	for i, w := range want {
		f := got[i]
		id := ""
		if f.Container != nil {
			id = f.Container.ID
		}
		if f.Kind != w.kind || f.Path != w.path || id != w.id || f.Action == "" || f.Detail == "" {
			t.Errorf("finding %d = %+v, want %s %s %s", i, f, w.kind, w.path, w.id)
		}
	}
	if c := got[0].Container; c == nil || c.Pod != "web-1" || c.PodNamespace != "shop" || c.Task != "running" {
		t.Errorf("stale finding's container = %+v, want pod shop/web-1, running", c)
	}
	if !strings.Contains(got[3].Detail, "zombie") || !strings.Contains(got[3].Detail, "stopped") {
		t.Errorf("orphan detail %q should say the process is a zombie and the shim stopped", got[3].Detail)
	}

	// The same through the command, in JSON and text, and one namespace.
	bin := testenv.CtraceBinary(t, ctrd.Dir)
	out, code := ctrace(t, bin, "doctor", "-o", "json", "--containerd-address", ctrd.Address)
	if code != 3 {
		t.Fatalf("ctrace doctor exit status %d, want 3; output:\n%s", code, out)
	}
	var js struct {
		Findings []struct {
			Kind      string `json:"kind"`
			Path      string `json:"path"`
			Container *struct {
				ID, Namespace, Pod string
				PodNamespace       string `json:"pod_namespace"`
			} `json:"container"`
			Detail, Action string
		} `json:"findings"`
		Checked struct {
			Containers int `json:"containers"`
			NetNSFiles int `json:"netns_files"`
		} `json:"checked"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		t.Fatalf("doctor -o json: %v\n%s", err, out)
	}
	kinds := map[string]string{}
	for _, f := range js.Findings {
		if f.Kind == string(NetNSBusy) {
			continue
		}
		if strings.Contains(f.Path, prefix) || (f.Container != nil && strings.HasPrefix(f.Container.ID, prefix)) {
			kinds[f.Kind] = f.Path
		}
	}
	if len(kinds) != 4 || kinds["netns-stale"] != stale || kinds["netns-leaked"] != leaked || js.Checked.Containers < 4 || js.Checked.NetNSFiles < 3 {
		t.Errorf("doctor -o json: kinds %v, checked %+v\n%s", kinds, js.Checked, out)
	}
	out, code = ctrace(t, bin, "doctor", "--containerd-address", ctrd.Address)
	if code != 3 || !strings.Contains(out, "netns-stale") || !strings.Contains(out, "crictl stopp") {
		t.Errorf("ctrace doctor (text) status %d:\n%s", code, out)
	}
	out, code = ctrace(t, bin, "doctor", "--containerd-address", ctrd.Address, "--containerd-namespace", "nothing-here")
	if strings.Contains(out, prefix+"-stale ") || strings.Contains(out, "sandbox-orphaned") {
		t.Errorf("--containerd-namespace nothing-here reported the default namespace's containers (status %d):\n%s", code, out)
	}
	for _, bad := range [][]string{{"-o", "yaml"}, {"--timeout", "0s"}, {"--containerd-namespace", "a/b"}} {
		out, code := ctrace(t, bin, append([]string{"doctor"}, bad...)...)
		if code != 2 || !strings.Contains(out, strings.TrimLeft(bad[0], "-")) {
			t.Errorf("ctrace doctor %v: status %d, want 2 and the flag named:\n%s", bad, code, out)
		}
	}

	if after := nodeState(t); after != before {
		t.Errorf("doctor changed the node:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// Healthy again: the hung shim resumes and reaps, the broken
	// containers are removed; only the leaked file is left, then none.
	must(t, unix.Kill(shim, unix.SIGCONT))
	for _, id := range []string{"-stale", "-missing", "-orphan"} {
		must(t, ctrd.Remove(ctx, "default", prefix+id))
	}
	must(t, exec.Command("ip", "netns", "delete", filepath.Base(leaked)).Run())
	must(t, os.Remove(stale))
	deadline := time.Now().Add(10 * time.Second)
	for {
		rep, err = Check(in)
		if err == nil && len(mine(rep)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthy node: findings %s (%v)", describe(mine(rep)), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func describe(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s %s %+v: %s\n", f.Kind, f.Path, f.Container, f.Detail)
	}
	return b.String()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitTasks waits until the resolver has seen each container's task run.
func waitTasks(t *testing.T, r *correlate.Resolver, ids ...string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		running := 0
		for _, c := range r.Containers() {
			for _, id := range ids {
				if c.ID == id && c.Task == correlate.TaskRunning && c.TaskPID != 0 {
					running++
				}
			}
		}
		if running == len(ids) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks of %v not seen running", ids)
		}
	}
}

// shimOf finds the shim serving a container of the test ctrd.
func shimOf(t *testing.T, id string) int {
	t.Helper()
	for _, s := range listShims("/proc") {
		if s.id == id && s.address == ctrd.Address {
			return s.pid
		}
	}
	t.Fatalf("no shim for %s", id)
	return 0
}

func waitZombie(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if procState("/proc", uint32(pid)) == "Z" {
			return
		}
	}
	t.Fatalf("pid %d did not become a zombie (state %q)", pid, procState("/proc", uint32(pid)))
}

// ctrace runs the binary and returns stdout and stderr together, and its
// exit status.
func ctrace(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	t.Fatalf("%s %v: %v", bin, args, err)
	return "", -1
}
