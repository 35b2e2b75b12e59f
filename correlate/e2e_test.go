package correlate

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/testing/ctrdtest"
	"github.com/ctrace-dev/ctrace/tracer"
)

// The end-to-end tests run a private containerd (internal/testing/ctrdtest), the
// real tracer in this process, and a Resolver on that containerd, and
// check each scenario of the container attribution against the exact
// event and container fields.

var (
	ctrd      ctrdtest.Shared
	runPrefix = fmt.Sprintf("ct%d", os.Getpid()%100000)
)

func TestMain(m *testing.M) { os.Exit(ctrdtest.Main(m, "correlate", &ctrd, stopTracing)) }

// record is one event as the pipeline passed it on.
type record struct {
	ev *tracer.Event
	c  *Container
}

// tracing is the tracer, resolver and queue shared by the in-process
// scenarios: loading the tracer once saves seconds per scenario.
type tracing struct {
	r      *Resolver
	q      *Queue
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	recs []record
	raw  []*tracer.Event
	cond *sync.Cond
}

var (
	shared     *tracing
	sharedErr  error
	sharedOnce sync.Once
)

func needE2E(t *testing.T) {
	t.Helper()
	if ctrd.Skip != "" {
		t.Skip(ctrd.Skip)
	}
}

func startTracing(t *testing.T) *tracing {
	t.Helper()
	needE2E(t)
	sharedOnce.Do(func() {
		tr, err := tracer.Open(tracer.Options{})
		if err != nil {
			sharedErr = err
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		r, err := Open(ctx, Options{Address: ctrd.Address, Log: func(l Level, msg string) {
			fmt.Fprintln(os.Stderr, "resolver:", msg)
		}})
		if err != nil {
			cancel()
			tr.Close()
			sharedErr = err
			return
		}
		tg := &tracing{r: r, cancel: cancel, done: make(chan struct{})}
		tg.cond = sync.NewCond(&tg.mu)
		tg.q = r.NewQueue(QueueOptions{Out: func(ev *tracer.Event, c *Container) {
			tg.mu.Lock()
			tg.recs = append(tg.recs, record{ev.Clone(), c})
			tg.cond.Broadcast()
			tg.mu.Unlock()
		}})
		go func() {
			defer close(tg.done)
			defer tr.Close()
			_ = tr.Run(ctx, tracer.Sink{Event: func(ev *tracer.Event) {
				tg.mu.Lock()
				tg.raw = append(tg.raw, ev.Clone())
				tg.mu.Unlock()
				tg.q.Push(ev)
			}})
		}()
		wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
		defer wcancel()
		if !r.WaitConnected(wctx) {
			sharedErr = fmt.Errorf("resolver did not connect to %s", ctrd.Address)
		}
		shared = tg
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func stopTracing() {
	if shared == nil {
		return
	}
	shared.cancel()
	<-shared.done
	shared.q.Close()
	_ = shared.r.Close()
}

// wait returns the first record that f accepts, waiting up to 10 s.
func (tg *tracing) wait(t *testing.T, what string, f func(record) bool) record {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	timer := time.AfterFunc(10*time.Second, func() {
		tg.mu.Lock()
		tg.cond.Broadcast()
		tg.mu.Unlock()
	})
	defer timer.Stop()
	tg.mu.Lock()
	defer tg.mu.Unlock()
	for i := 0; ; {
		for ; i < len(tg.recs); i++ {
			if f(tg.recs[i]) {
				return tg.recs[i]
			}
		}
		if time.Now().After(deadline) {
			var seen []string
			for _, r := range tg.recs {
				seen = append(seen, describe(r))
			}
			if len(seen) > 40 && os.Getenv("CTRACE_TEST_ALL") == "" {
				seen = seen[len(seen)-40:]
			}
			t.Fatalf("no event for %s within 10s; last events:\n%s", what, strings.Join(seen, "\n"))
		}
		tg.cond.Wait()
	}
}

func describe(r record) string {
	var args []string
	for i := range r.ev.Args {
		args = append(args, r.ev.Args[i].String())
	}
	return fmt.Sprintf("%s[%d] cgroup=%q cmdline=%q %s(%s) = %v container=%+v", r.ev.Proc.Comm, r.ev.Proc.PID, r.ev.Proc.Cgroup, r.ev.Proc.Cmdline, r.ev.Syscall, strings.Join(args, ", "), r.ev.Errno, r.c)
}

func argStr(ev *tracer.Event, name string) string {
	for i := range ev.Args {
		if ev.Args[i].Name == name {
			return ev.Args[i].Str
		}
	}
	return ""
}

// checkContainer asserts the container fields every scenario shares.
func checkContainer(t *testing.T, r record, ns, id string) {
	t.Helper()
	c := r.c
	if c == nil {
		t.Fatalf("event not attributed: %s", describe(r))
	}
	if c.ID != id || c.Namespace != ns {
		t.Errorf("container = %s/%s, want %s/%s (%s)", c.Namespace, c.ID, ns, id, describe(r))
	}
	if !c.Known || c.Runtime != "io.containerd.runc.v2" || c.Image != "" {
		t.Errorf("container metadata = known %v runtime %q image %q, want known, io.containerd.runc.v2, no image", c.Known, c.Runtime, c.Image)
	}
}

func mountFails(id string) func(record) bool {
	return func(r record) bool {
		return r.ev.Syscall == "mount" && r.ev.Proc.Comm == "mount" && argStr(r.ev, "target") == "/mnt" &&
			r.c != nil && r.c.ID == id
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// Scenario 1: mount in a container without CAP_SYS_ADMIN fails with EPERM
// and is attributed to the container's id and namespace.
func TestMountEPERMInContainer(t *testing.T) {
	tg := startTracing(t)
	id := runPrefix + "-mount"
	res, err := ctrd.Run(ctx(t), ctrdtest.RunOptions{ID: id, Args: []string{"/bin/mount", "-t", "tmpfs", "none", "/mnt"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.StartErr != nil || res.Status == 0 {
		t.Fatalf("container: start error %v, status %d, output %q; want mount to fail", res.StartErr, res.Status, res.Output)
	}
	r := tg.wait(t, "mount EPERM in "+id, mountFails(id))
	if r.ev.Errno != unix.EPERM || argStr(r.ev, "source") != "none" || argStr(r.ev, "fstype") != "tmpfs" {
		t.Errorf("event %s: want mount(\"none\", \"/mnt\", \"tmpfs\", ...) = EPERM", describe(r))
	}
	if r.ev.Proc.Cgroup != "/default/"+id {
		t.Errorf("cgroup %q, want /default/%s", r.ev.Proc.Cgroup, id)
	}
	checkContainer(t, r, "default", id)
	if r.c.Source != SourceCgroup {
		t.Errorf("source %q, want cgroup", r.c.Source)
	}
	if r.c.ShimPID == 0 {
		t.Errorf("no shim pid")
	}
	if got := r.c.String(); got != "default/"+id {
		t.Errorf("String() = %q", got)
	}
}

// Scenario 2: openat of a missing file in a container.
func TestOpenENOENTInContainer(t *testing.T) {
	tg := startTracing(t)
	id := runPrefix + "-open"
	res, err := ctrd.Run(ctx(t), ctrdtest.RunOptions{ID: id, Args: []string{"/bin/cat", "/missing-file"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status == 0 {
		t.Fatalf("cat of a missing file exited 0: %q", res.Output)
	}
	r := tg.wait(t, "openat ENOENT in "+id, func(r record) bool {
		return r.ev.Syscall == "openat" && r.ev.Proc.Comm == "cat" && argStr(r.ev, "path") == "/missing-file"
	})
	if r.ev.Errno != unix.ENOENT || !r.ev.Args[0].IsATFDCWD() {
		t.Errorf("event %s: want openat(AT_FDCWD, \"/missing-file\", ...) = ENOENT", describe(r))
	}
	checkContainer(t, r, "default", id)
}

// Scenario 3: a bind mount with a missing source stops the container from
// starting; runc's failing stat of the source is attributed to it.
func TestMissingBindSource(t *testing.T) {
	tg := startTracing(t)
	id := runPrefix + "-bind"
	src := ctrd.Dir + "/missing-volume"
	res, err := ctrd.Run(ctx(t), ctrdtest.RunOptions{ID: id, Args: []string{"/bin/true"},
		Mounts: []specs.Mount{{Destination: "/data", Type: "bind", Source: src, Options: []string{"rbind", "ro"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.StartErr == nil || !strings.Contains(res.StartErr.Error(), "no such file or directory") {
		t.Fatalf("start error %v, want runc's no such file or directory", res.StartErr)
	}
	r := tg.wait(t, "runc's stat of "+src, func(r record) bool {
		return r.ev.Family == tracer.FamilyRuntime && argStr(r.ev, "path") == src
	})
	if r.ev.Errno != unix.ENOENT || !strings.HasPrefix(r.ev.Proc.Comm, "runc") {
		t.Errorf("event %s: want runc's stat = ENOENT", describe(r))
	}
	checkContainer(t, r, "default", id)
	t.Logf("%s", describe(r))
}

// Scenario 4: a container with the CRI labels in namespace k8s.io carries
// its pod, pod namespace and container name.
func TestCRILabels(t *testing.T) {
	tg := startTracing(t)
	id := runPrefix + "-k8s"
	labels := map[string]string{
		LabelPodName:               "web-7d9f",
		LabelPodNamespace:          "shop",
		LabelPodUID:                "5e1f3c1a-0b9c-4d8e-9f00-1234567890ab",
		LabelContainerName:         "nginx",
		"io.cri-containerd.kind":   "container",
		"team.example.com/private": "x",
	}
	_, err := ctrd.Run(ctx(t), ctrdtest.RunOptions{Namespace: "k8s.io", ID: id, Labels: labels,
		Args: []string{"/bin/mount", "-t", "tmpfs", "none", "/mnt"}})
	if err != nil {
		t.Fatal(err)
	}
	r := tg.wait(t, "mount in "+id, mountFails(id))
	checkContainer(t, r, "k8s.io", id)
	c := r.c
	if c.Pod != "web-7d9f" || c.PodNamespace != "shop" || c.PodUID != labels[LabelPodUID] || c.ContainerName != "nginx" {
		t.Errorf("pod fields %+v", c)
	}
	if got := c.String(); got != "shop/web-7d9f/nginx" {
		t.Errorf("String() = %q", got)
	}
	kl := c.KubeLabels()
	if len(kl) != 5 || kl["team.example.com/private"] != "" || kl["io.cri-containerd.kind"] != "container" {
		t.Errorf("KubeLabels() = %v", kl)
	}
}

// Scenario 5: a container that fails a mount and exits at once is still
// attributed, with containerd's metadata, when the event is resolved after
// the process, the task and the container are all gone.
func TestShortLivedContainer(t *testing.T) {
	tg := startTracing(t)
	id := runPrefix + "-short"
	start := time.Now()
	res, err := ctrd.Run(ctx(t), ctrdtest.RunOptions{ID: id, Args: []string{"/bin/mount", "-t", "tmpfs", "none", "/mnt"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("container created, run and deleted in %v (exit %d)", time.Since(start), res.Status)
	r := tg.wait(t, "mount in "+id, mountFails(id))
	checkContainer(t, r, "default", id)
	// The process lived a few milliseconds; it is gone now, and so is
	// the container in containerd.
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", r.ev.Proc.PID)); err == nil {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", r.ev.Proc.PID)); strings.TrimSpace(string(b)) == "mount" {
			t.Fatalf("process %d still alive", r.ev.Proc.PID)
		}
	}
	// Resolve the raw event again, after deletion.
	again := tg.r.Resolve(r.ev)
	if again == nil || again.ID != id || !again.Known || again.Runtime != "io.containerd.runc.v2" {
		t.Errorf("resolved after deletion: %+v", again)
	}
}

// Scenario 6: a process exec'd into a running container (ctr task exec,
// kubectl exec) is attributed to it.
func TestExecIntoContainer(t *testing.T) {
	tg := startTracing(t)
	id := runPrefix + "-exec"
	c := ctx(t)
	res, err := ctrd.Run(c, ctrdtest.RunOptions{ID: id, Args: []string{"/bin/sleep", "60"}, Keep: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.StartErr != nil {
		t.Fatal(res.StartErr)
	}
	defer ctrd.Remove(c, "default", id)
	st, out, err := ctrd.Exec(c, "default", res.Task, "exec1", []string{"/bin/cat", "/missing-exec"})
	if err != nil {
		t.Fatal(err)
	}
	if st == 0 {
		t.Fatalf("exec exited 0: %q", out)
	}
	r := tg.wait(t, "exec'd cat in "+id, func(r record) bool {
		return r.ev.Syscall == "openat" && r.ev.Proc.Comm == "cat" && argStr(r.ev, "path") == "/missing-exec"
	})
	if r.ev.Errno != unix.ENOENT {
		t.Errorf("event %s: want ENOENT", describe(r))
	}
	checkContainer(t, r, "default", id)
	if r.c.ShimPID == 0 || int(r.c.ShimPID) == os.Getpid() {
		t.Errorf("shim pid %d", r.c.ShimPID)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", r.c.ShimPID)); err != nil || !strings.HasPrefix(string(b), "containerd-shim") {
		t.Errorf("shim pid %d is %q (%v)", r.c.ShimPID, b, err)
	}
}
