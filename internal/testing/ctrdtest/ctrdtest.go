// Package ctrdtest starts a private containerd for tests and runs real
// containers in it from a local busybox rootfs: no image, no registry.
//
// The daemon has its own config file (version 2, the CRI plugin and the
// plugins that write outside its directories disabled), root, state
// directory and sockets under one temporary directory, so that it never
// touches a containerd already on the machine or /etc/containerd. runc
// keeps its state under that directory too. Stop removes what the tests
// left: tasks, containers, shims, mounts and cgroups, also after a failed
// test.
package ctrdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// Binaries the package needs; Missing names those absent.
var Binaries = []string{"containerd", "containerd-shim-runc-v2", "runc"}

// BusyboxPath is where Debian's busybox-static package puts its binary.
const BusyboxPath = "/bin/busybox"

// Missing returns what is missing on this machine to run a containerd:
// binaries, a static busybox, root. Empty means Start can work.
func Missing() []string {
	var out []string
	for _, b := range Binaries {
		if _, err := exec.LookPath(b); err != nil {
			out = append(out, b)
		}
	}
	if !staticBusybox() {
		out = append(out, "busybox-static ("+BusyboxPath+" statically linked)")
	}
	if os.Geteuid() != 0 {
		out = append(out, "root")
	}
	return out
}

// staticBusybox reports whether BusyboxPath has no program interpreter.
func staticBusybox() bool {
	b, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return false
	}
	// A dynamically linked ELF names its loader; a static one does not.
	return !bytes.Contains(b[:min(len(b), 4096)], []byte("/lib64/ld-linux")) &&
		!bytes.Contains(b[:min(len(b), 4096)], []byte("/lib/ld-"))
}

// Daemon is a running private containerd.
type Daemon struct {
	Dir     string // everything lives below it
	Address string // the gRPC socket
	Rootfs  string // busybox rootfs for containers
	Client  *client.Client

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *os.File
	runs    map[string]string // container id -> namespace, of live ones
	cgroups map[string]bool   // namespaces whose top cgroup ctrdtest made
}

// Start writes a config under dir, builds a busybox rootfs there, and
// starts containerd. dir should be short: unix socket paths are limited
// to 107 bytes, and the shims' sockets are named after the address.
func Start(dir string) (*Daemon, error) {
	return StartWith(dir, Options{})
}

// StartFor starts a containerd for one test, in a fresh directory under
// /tmp (short: socket paths have a length limit), and stops it and
// removes the directory when the test ends.
func StartFor(tb testing.TB) *Daemon {
	tb.Helper()
	dir, err := os.MkdirTemp("/tmp", "ctrd")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	d, err := Start(dir)
	if err != nil {
		tb.Fatalf("start containerd: %v", err)
	}
	tb.Cleanup(d.Stop)
	return d
}

// Options change the daemon Start runs.
type Options struct {
	// Address is the gRPC socket; "" means dir/containerd.sock.
	Address string
	// CRI, when set, turns the CRI plugin on with this TOML as its
	// [plugins."io.containerd.grpc.v1.cri"] section (the Kubernetes node
	// of internal/testing/kubenodetest); the CRI plugin is off otherwise.
	CRI string
}

// StartWith is Start with options.
func StartWith(dir string, o Options) (*Daemon, error) {
	d := &Daemon{
		Dir:     dir,
		Address: o.Address,
		runs:    map[string]string{},
		cgroups: map[string]bool{},
	}
	if d.Address == "" {
		d.Address = filepath.Join(dir, "containerd.sock")
	}
	if err := os.MkdirAll(filepath.Dir(d.Address), 0o755); err != nil {
		return nil, err
	}
	criOff, criSection := `
  "io.containerd.grpc.v1.cri",`, ""
	if o.CRI != "" {
		criOff, criSection = "", "\n[plugins.\"io.containerd.grpc.v1.cri\"]\n"+o.CRI+"\n"
	}
	var err error
	if d.Rootfs, err = BuildRootfs(filepath.Join(dir, "rootfs")); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
# The CRI plugin writes CNI and image state on the host (unless a
# Kubernetes node asks for it); opt writes to /opt/containerd; the
# snapshotters below probe file systems this test does not use.
disabled_plugins = [%s
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = %q
  level = "info"

[metrics]
  address = ""
%s`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), criOff, d.Address, d.Address+".ttrpc", filepath.Join(dir, "debug.sock"), criSection)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	if err := d.start(); err != nil {
		return nil, err
	}
	d.Client, err = client.New(d.Address, client.WithTimeout(10*time.Second))
	if err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

// start runs containerd and waits until it answers.
func (d *Daemon) start() error {
	logf, err := os.OpenFile(filepath.Join(d.Dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command("containerd", "--config", filepath.Join(d.Dir, "config.toml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a signal to the test is not one to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start containerd: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	d.mu.Lock()
	d.cmd, d.exited, d.log = cmd, exited, logf
	d.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("containerd exited at start; its log: %s", d.Log())
		default:
		}
		if c, err := client.New(d.Address, client.WithTimeout(time.Second)); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err = c.Version(ctx)
			cancel()
			c.Close()
			if err == nil {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("containerd did not answer on %s within 20s; its log: %s", d.Address, d.Log())
}

// PID returns the daemon's pid.
func (d *Daemon) PID() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Log returns the tail of containerd's log.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "containerd.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Kill kills containerd with SIGKILL, as a crash would, and waits for it.
// Its shims and containers live on.
func (d *Daemon) Kill() {
	d.mu.Lock()
	cmd, exited, logf := d.cmd, d.exited, d.log
	d.cmd = nil
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
	logf.Close()
}

// Restart starts containerd again after Kill, with the same config.
func (d *Daemon) Restart() error {
	return d.start()
}

// RunOptions describe one container.
type RunOptions struct {
	Namespace string // "" means "default"
	ID        string
	Args      []string
	Labels    map[string]string
	Mounts    []specs.Mount
	// NetNS joins the container to this network namespace file, as
	// `ctr run --with-ns network:PATH` does.
	NetNS string
	// Keep leaves the task running (Args should then not exit): the
	// caller execs into it and calls Remove.
	Keep bool
	// Spec changes the spec further, after the options above (e.g.
	// contrib/seccomp's WithDefaultProfile, the CRI's RuntimeDefault).
	Spec []oci.SpecOpts
}

// Result is what became of a container run.
type Result struct {
	// StartErr is the error of creating or starting the task (a spec
	// runc refuses fails here).
	StartErr error
	Status   uint32
	Output   string
	Task     client.Task
}

// Run creates a container from the busybox rootfs, runs its task to the
// end and deletes both, unless Keep. An error is one of the test set-up;
// a container that fails to start is reported in Result.StartErr.
func (d *Daemon) Run(ctx context.Context, o RunOptions) (*Result, error) {
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	ctx = namespaces.WithNamespace(ctx, o.Namespace)
	d.noteCgroupNS(o.Namespace)
	specOpts := []oci.SpecOpts{oci.WithRootFSPath(d.Rootfs), oci.WithProcessArgs(o.Args...), oci.WithProcessCwd("/")}
	if len(o.Mounts) > 0 {
		specOpts = append(specOpts, oci.WithMounts(o.Mounts))
	}
	if o.NetNS != "" {
		specOpts = append(specOpts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: o.NetNS}))
	}
	specOpts = append(specOpts, o.Spec...)
	c, err := d.Client.NewContainer(ctx, o.ID,
		client.WithRuntime("io.containerd.runc.v2", &options.Options{Root: filepath.Join(d.Dir, "runc")}),
		client.WithContainerLabels(o.Labels),
		client.WithNewSpec(specOpts...),
	)
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", o.ID, err)
	}
	d.mu.Lock()
	d.runs[o.ID] = o.Namespace
	d.mu.Unlock()
	var out testenv.Buffer
	res := &Result{}
	task, err := c.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &out, &out), cio.WithFIFODir(filepath.Join(d.Dir, "fifo"))))
	if err != nil {
		res.StartErr = err
		return res, d.Remove(ctx, o.Namespace, o.ID)
	}
	res.Task = task
	statusC, err := task.Wait(ctx)
	if err != nil {
		return nil, err
	}
	if err := task.Start(ctx); err != nil {
		res.StartErr = err
		return res, d.Remove(ctx, o.Namespace, o.ID)
	}
	if o.Keep {
		return res, nil
	}
	select {
	case st := <-statusC:
		res.Status = st.ExitCode()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	res.Output = out.String()
	return res, d.Remove(ctx, o.Namespace, o.ID)
}

// Exec runs args in a running container's task, as `ctr task exec` does,
// and returns its exit status.
func (d *Daemon) Exec(ctx context.Context, ns string, task client.Task, execID string, args []string) (uint32, string, error) {
	ctx = namespaces.WithNamespace(ctx, ns)
	spec := &specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/bin"}}
	var out testenv.Buffer
	p, err := task.Exec(ctx, execID, spec, cio.NewCreator(cio.WithStreams(nil, &out, &out), cio.WithFIFODir(filepath.Join(d.Dir, "fifo"))))
	if err != nil {
		return 0, "", err
	}
	defer p.Delete(ctx)
	statusC, err := p.Wait(ctx)
	if err != nil {
		return 0, "", err
	}
	if err := p.Start(ctx); err != nil {
		return 0, "", err
	}
	st := <-statusC
	return st.ExitCode(), out.String(), nil
}

// Remove kills and deletes a container's task, if any, and the container.
func (d *Daemon) Remove(ctx context.Context, ns, id string) error {
	ctx = namespaces.WithNamespace(ctx, ns)
	c, err := d.Client.LoadContainer(ctx, id)
	if err != nil {
		return err
	}
	if t, err := c.Task(ctx, nil); err == nil {
		_ = t.Kill(ctx, unix.SIGKILL)
		if st, err := t.Wait(ctx); err == nil {
			select {
			case <-st:
			case <-time.After(5 * time.Second):
			}
		}
		if _, err := t.Delete(ctx, client.WithProcessKill); err != nil {
			return fmt.Errorf("delete task %s: %w", id, err)
		}
	}
	if err := c.Delete(ctx); err != nil {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	d.mu.Lock()
	delete(d.runs, id)
	d.mu.Unlock()
	return nil
}

// Stop removes every container the tests left, stops containerd, kills
// shims still serving this daemon, and removes mounts and cgroups below
// it. It is safe to call more than once and after Kill.
func (d *Daemon) Stop() {
	d.mu.Lock()
	running := d.cmd != nil
	runs := map[string]string{}
	for id, ns := range d.runs {
		runs[id] = ns
	}
	d.mu.Unlock()
	if running && d.Client != nil {
		for id, ns := range runs {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = d.Remove(ctx, ns, id)
			cancel()
		}
	}
	if d.Client != nil {
		d.Client.Close()
	}
	d.mu.Lock()
	cmd, exited, logf := d.cmd, d.exited, d.log
	d.cmd = nil
	d.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(unix.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	}
	d.killShims()
	d.unmountAll()
	d.removeCgroups(runs)
}

// killShims kills the shims (and so their containers) started for this
// daemon: those whose -address is this daemon's socket.
func (d *Daemon) killShims() {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if !strings.HasPrefix(filepath.Base(argv[0]), "containerd-shim") {
			continue
		}
		for i := 0; i+1 < len(argv); i++ {
			if argv[i] == "-address" && argv[i+1] == d.Address {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
}

// unmountAll detaches every mount below the daemon's directory, deepest
// first.
func (d *Daemon) unmountAll() {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mps []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == d.Dir || strings.HasPrefix(f[4], d.Dir+"/")) {
			mps = append(mps, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mps)))
	for _, mp := range mps {
		_ = unix.Unmount(mp, unix.MNT_DETACH)
	}
}

// noteCgroupNS remembers whether the namespace's top cgroup directory was
// there before the tests, so that Stop removes only what they made.
func (d *Daemon) noteCgroupNS(ns string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, seen := d.cgroups[ns]; seen {
		return
	}
	_, err := os.Stat(filepath.Join(unifiedRoot(), ns))
	d.cgroups[ns] = errors.Is(err, os.ErrNotExist)
}

// removeCgroups removes the cgroups of containers that runc did not get
// to delete, in every hierarchy, and the namespace directories the tests
// made.
func (d *Daemon) removeCgroups(left map[string]string) {
	hs, _ := filepath.Glob("/sys/fs/cgroup/*")
	hs = append(hs, "/sys/fs/cgroup")
	for _, h := range hs {
		for id, ns := range left {
			_ = os.Remove(filepath.Join(h, ns, id))
		}
		d.mu.Lock()
		for ns, made := range d.cgroups {
			if made {
				_ = os.Remove(filepath.Join(h, ns))
			}
		}
		d.mu.Unlock()
	}
}

// unifiedRoot is the cgroup v2 mount: /sys/fs/cgroup/unified on a hybrid
// set-up, /sys/fs/cgroup otherwise.
func unifiedRoot() string {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup/unified", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "/sys/fs/cgroup/unified"
	}
	return "/sys/fs/cgroup"
}

// BuildRootfs makes a minimal rootfs at dir: a static busybox at /bin/busybox
// with a link per applet, and the directories runc and the tests need.
func BuildRootfs(dir string) (string, error) {
	for _, sub := range []string{"bin", "dev", "proc", "sys", "tmp", "etc", "mnt", "data", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return "", err
		}
	}
	src, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return "", fmt.Errorf("busybox-static: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), src, 0o755); err != nil {
		return "", err
	}
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return "", fmt.Errorf("busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil && !errors.Is(err, os.ErrExist) {
			return "", err
		}
	}
	// runc bind-mounts over these; the tests open and mount nothing in
	// /etc, but busybox's id and sh look for them.
	_ = os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte("root:x:0:0:root:/:/bin/sh\n"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "etc", "group"), []byte("root:x:0:\n"), 0o644)
	return dir, nil
}
