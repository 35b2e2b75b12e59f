package render

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/benign"
	"github.com/ctrace-dev/ctrace/internal/binfmt"
	"github.com/ctrace-dev/ctrace/internal/busy"
	"github.com/ctrace-dev/ctrace/internal/hints"
	"github.com/ctrace-dev/ctrace/internal/idmap"
	"github.com/ctrace-dev/ctrace/internal/mountref"
	"github.com/ctrace-dev/ctrace/internal/netns"
	"github.com/ctrace-dev/ctrace/internal/nslimit"
	"github.com/ctrace-dev/ctrace/internal/permission"
	"github.com/ctrace-dev/ctrace/internal/testing/golden"
	"github.com/ctrace-dev/ctrace/tracer"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the renderer")

// recordsFile is tracer's corpus of raw records: one for every traced
// syscall, flag table, struct decoder, descriptor kind and kernel reason.
const recordsFile = "../../tracer/testdata/records.golden"

// goldenCase is one event to render, with what the stages after the
// tracer add to it.
type goldenCase struct {
	name    string
	ev      *tracer.Event
	rule    *benign.Rule
	c       *correlate.Container
	explain bool
	color   bool
	repeat  uint64 // --dedup's count, in a window of 10s
}

// loadRecords decodes the record corpus, in its order.
func loadRecords(t *testing.T) ([]string, map[string]*tracer.Event) {
	t.Helper()
	f, err := os.Open(recordsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	evs := map[string]*tracer.Event{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, hx, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("%s: bad line %q", recordsFile, sc.Text())
		}
		raw, err := hex.DecodeString(hx)
		if err != nil {
			t.Fatalf("%s: %s: %v", recordsFile, name, err)
		}
		ev, err := tracer.Decode(raw)
		if err != nil {
			t.Fatalf("%s: %s: %v", recordsFile, name, err)
		}
		ev.Time = goldenTime
		// What Run adds: the LSM's name when one LSM can deny.
		for r := range tracer.ReasonsOf[*tracer.LSMReason](&ev) {
			r.LSM = "apparmor"
		}
		names = append(names, name)
		evs[name] = &ev
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names, evs
}

// goldenCases is every record as it is, then the records with what the
// later stages add: kernel log lines, LSM reasons from audit records,
// containers, pods, benign rules, --explain, colour, odd times, and
// events no kernel sends but the renderer must not trip on.
func goldenCases(t *testing.T) []goldenCase {
	names, evs := loadRecords(t)
	var cases []goldenCase
	for _, n := range names {
		cases = append(cases, goldenCase{name: n, ev: evs[n]})
	}
	rec := func(name string) *tracer.Event {
		ev, ok := evs[name]
		if !ok {
			t.Fatalf("no record %s in %s", name, recordsFile)
		}
		return ev.Clone()
	}
	withReasons := func(ev *tracer.Event, rs ...tracer.Reason) *tracer.Event {
		ev.Reasons = append(ev.Reasons, rs...)
		return ev
	}
	at := func(ev *tracer.Event, tm time.Time) *tracer.Event { ev.Time = tm; return ev }
	containerd := &correlate.Container{ID: "test1", Namespace: "default", Known: true, Source: correlate.SourceCgroup,
		Image: "docker.io/library/busybox:latest", Runtime: "io.containerd.runc.v2", ShimPID: 4900}
	rootfsOnly := &correlate.Container{ID: "web", Namespace: "default", Known: true, Source: correlate.SourceCmdline,
		Runtime: "io.containerd.runc.v2"}
	unknown := &correlate.Container{ID: strings.Repeat("ab", 32), Namespace: "k8s.io", Source: correlate.SourceProc,
		PodUID: "0b5e7c52-1c9a-4d1e-9f3a-2f7e4c1d9a10"}
	pod := &correlate.Container{
		ID: strings.Repeat("0123456789abcdef", 4), Namespace: "k8s.io", Known: true, Source: correlate.SourceCgroup,
		Image: "registry.example/web:1", Runtime: "io.containerd.runc.v2", ShimPID: 4242,
		Labels: map[string]string{
			correlate.LabelPodName: "web-7d9f", correlate.LabelPodNamespace: "shop", correlate.LabelPodUID: "uid-1",
			correlate.LabelContainerName: "nginx", "io.cri-containerd.kind": "container", "io.kubernetes.x\"q": "v\\\n",
			"other.label": "not shown",
		},
		Pod: "web-7d9f", PodNamespace: "shop", PodUID: "uid-1", ContainerName: "nginx",
	}
	kernelLog := &tracer.KernelLogReason{Message: "tmpfs: Bad value for 'size'"}
	overlayLog := &tracer.KernelLogReason{Message: "overlayfs: failed to resolve '/tmp/nonexist': -2"}
	auditLSM := &tracer.LSMReason{LSM: "landlock", Hook: "fs.read_file",
		Detail: `blockers=fs.read_file path="/etc/hostname"`}
	masked := &benign.Rule{Name: "runc-masked-paths"}
	// The netns stage's reason on setns/netns-file's descriptor.
	netnsReason := func(state netns.State, o *netns.ContainerRef) tracer.Reason {
		return &netns.Reason{Path: "/run/netns/cni-8d1c0a4e", State: state, Owner: o}
	}
	sandbox := func(state string) *netns.ContainerRef {
		return &netns.ContainerRef{ID: "3f2a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8", Namespace: "k8s.io",
			Pod: "web-1", PodNamespace: "shop", State: state}
	}
	seedsMap := tracer.IDMap{{Inside: 0, Outside: 100000, Count: 65536}}
	unmapped := &permission.Reason{Path: "/etc", Arg: "path", Need: "write", OwnerUID: 0, OwnerGID: 0,
		Mode: 0o755, OwnerMapped: false, CallerUID: 100000, CallerUserNS: 4026532201, CallerUIDMap: seedsMap, Checked: "after", Via: "proc",
		Snapshot: &tracer.Snapshot{Snapshotter: "overlayfs", Key: "test1", Kind: "active", Container: "test1", Image: "docker.io/library/busybox:latest",
			Labels: map[string]string{"containerd.io/snapshot/uidmapping": "0:100000:65536", "containerd.io/snapshot/gidmapping": "0:100000:65536"}}}
	hostDAC := &permission.Reason{Path: "/srv/key", Arg: "path", Need: "read", Mode: 0o600,
		OwnerMapped: true, CallerUID: 65534, Checked: "after", Via: "container_rootfs"}
	readOnly := &permission.Reason{Path: "/mnt/ro/f", Arg: "path", Need: "write", Mode: 0o644,
		OwnerMapped: true, MountRO: true, Idmapped: true, Checked: "after", Via: "proc"}
	// An overlay mounter in a user namespace, refused at the
	// snapshotter's directory on its way to an image layer.
	layer := &permission.Reason{Path: "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs",
		Arg: "lowerdir", Need: "search", Mode: 0o700, CallerUID: 65534, OwnerMapped: false, CallerUserNS: 4026532201,
		CallerUIDMap: tracer.IDMap{{Inside: 0, Outside: 65534, Count: 1}}, Checked: "after", Via: "proc", SnapshotOfArg: true,
		Snapshot: &tracer.Snapshot{Snapshotter: "overlayfs", Key: "sha256:be93b7435ed0a1dfe899ef9f692aff809f0392e20ed89a28a10e214b9e74708b",
			Kind: "committed", Image: "docker.io/library/busybox:latest"}}
	noexec := &permission.Reason{Path: "/tmp/run.sh", Arg: "path", Need: "exec", Mode: 0o755,
		OwnerMapped: true, MountNoexec: true, Checked: "after", Via: "proc"}
	cases = append(cases,
		goldenCase{name: "explain/no-reason", ev: rec("chroot/enoent"), explain: true},
		goldenCase{name: "explain/success", ev: rec("openat/success"), explain: true},
		goldenCase{name: "explain/with-reason", ev: rec("unshare/seccomp"), explain: true},
		goldenCase{name: "explain/no-args", ev: rec("mount/no-args"), explain: true},
		goldenCase{name: "kernel_log/tmpfs", ev: withReasons(rec("mount/runc-init"), kernelLog)},
		goldenCase{name: "kernel_log/two-lines", ev: withReasons(rec("mount/overlay"), overlayLog,
			&tracer.KernelLogReason{Message: "quote \" backslash \\ tab\t and \xff"})},
		goldenCase{name: "lsm/two-candidates", ev: func() *tracer.Event {
			ev := rec("mount/lsm")
			r := *ev.Reasons[0].(*tracer.LSMReason) // rec's reasons are shared
			r.LSM = "apparmor|selinux"
			ev.Reasons[0] = &r
			return ev
		}()},
		goldenCase{name: "lsm/from-audit", ev: withReasons(rec("openat/cwd"), auditLSM)},
		goldenCase{name: "lsm/empty-detail", ev: withReasons(rec("openat/cwd"), &tracer.LSMReason{LSM: "selinux", Hook: "file_open"})},
		goldenCase{name: "reasons/every-kind", ev: withReasons(rec("mount/seccomp-cap-lsm"), overlayLog, auditLSM)},
		goldenCase{name: "reasons/unknown-kind", ev: withReasons(rec("chroot/enoent"), futureReason{})},
		goldenCase{name: "container/containerd", ev: withReasons(rec("mount/runc-init"), kernelLog), c: containerd},
		goldenCase{name: "container/rootfs-only", ev: rec("newfstatat/rootfs"), c: rootfsOnly},
		goldenCase{name: "container/unknown", ev: rec("openat/rootfs-fd"), c: unknown},
		goldenCase{name: "container/pod", ev: rec("mount/cap-userns-root"), c: pod},
		goldenCase{name: "container/pod-success", ev: rec("openat/success"), c: pod, explain: true},
		goldenCase{name: "container/bare", ev: rec("setns/netns-file"), c: &correlate.Container{ID: "x"}},
		goldenCase{name: "benign/host", ev: rec("chroot/enoent"), rule: &benign.Rule{Name: "some-rule"}},
		goldenCase{name: "benign/container", ev: rec("mount/runc-cmdline"), rule: masked, c: containerd},
		goldenCase{name: "benign/explain-pod", ev: rec("newfstatat/rootfs"), rule: masked, c: pod, explain: true},
		goldenCase{name: "color/failed", ev: withReasons(rec("mount/overlay"), overlayLog), color: true},
		goldenCase{name: "color/success", ev: rec("openat/success"), color: true},
		goldenCase{name: "color/container-benign", ev: rec("mount/runc-init"), c: containerd, rule: masked, color: true, explain: true},
		goldenCase{name: "netns/stale-sandbox-running", ev: withReasons(rec("setns/netns-file"), netnsReason("stale", sandbox("running")))},
		goldenCase{name: "netns/stale-sandbox-deleted", ev: withReasons(rec("setns/netns-file"), netnsReason("stale", sandbox("deleted")))},
		goldenCase{name: "netns/stale-container-stopped", ev: withReasons(rec("setns/netns-file"), netnsReason("stale",
			&netns.ContainerRef{ID: "test1", Namespace: "default", State: "stopped"}))},
		goldenCase{name: "netns/stale-no-owner", ev: withReasons(rec("setns/netns-file"), netnsReason("stale", nil))},
		goldenCase{name: "netns/missing-no-owner", ev: withReasons(rec("setns/netns-file"), netnsReason("missing", nil))},
		goldenCase{name: "netns/ok-in-pod", ev: withReasons(rec("setns/netns-file"), netnsReason("ok", sandbox("running"))), c: pod},
		goldenCase{name: "netns/stale-benign-explain", ev: withReasons(rec("setns/netns-file"), netnsReason("stale", sandbox("running"))),
			rule: &benign.Rule{Name: "some-rule"}, c: containerd, explain: true},
		goldenCase{name: "busy/netns-file-held-in-a-copy", ev: withReasons(rec("unlink/ebusy"), &busy.Reason{
			Path: "/var/run/netns/cni-8d1c", Removing: true,
			Mount: mountref.Mount{ID: 812, Parent: 30, FSType: "nsfs", Source: "nsfs", Root: "net:[4026532301]", Point: "/run/netns/cni-8d1c"},
			Holders: []busy.Holder{{Holder: mountref.Holder{Process: mountref.Process{PID: 5501, Comm: "sleep"}, MountNS: 4026532840,
				MountID: 901, How: "fd 3", Path: "/run/netns/cni-8d1c"}, Copy: true, Point: "/run/netns/cni-8d1c",
				Container: &busy.Container{ID: "3f2a1b2c3d4e", Namespace: "k8s.io", Pod: "web-1", PodNamespace: "shop"}}},
			Copies: []busy.Copy{{MountNS: 4026532911, Point: "/host/run/netns/cni-8d1c", NProcs: 5,
				Procs:     []mountref.Process{{PID: 77, Comm: "agent"}, {PID: 78, Comm: "agent"}, {PID: 80, Comm: "sh"}},
				Container: &busy.Container{ID: "monitor", Namespace: "default"}}},
			More: 2})},
		goldenCase{name: "busy/mount-point-cwd-and-submount", ev: withReasons(rec("rmdir/ebusy"), &busy.Reason{
			Path: "/run/netns", Removing: true,
			Mount: mountref.Mount{ID: 46, Parent: 27, FSType: "tmpfs", Source: "tmpfs", Root: "/", Point: "/run/netns"},
			Holders: []busy.Holder{{Holder: mountref.Holder{Process: mountref.Process{PID: 4242, Comm: "bash"}, MountNS: 4026531841,
				MountID: 46, How: "cwd", Path: "/run/netns"}}},
			Submounts: []string{"/run/netns/cni-8d1c"}})},
		goldenCase{name: "dedup/host", ev: rec("openat/cwd"), repeat: 99999},
		goldenCase{name: "dedup/pod-benign-explain", ev: rec("newfstatat/rootfs"), rule: masked, c: pod, explain: true, repeat: 2},
		goldenCase{name: "dedup/one-call", ev: rec("openat/cwd"), repeat: 1},
		goldenCase{name: "time/utc", ev: at(rec("chroot/enoent"), time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC))},
		goldenCase{name: "time/whole-second", ev: at(rec("chroot/enoent"), time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("W", -9000)))},
		goldenCase{name: "time/year-10000", ev: at(rec("chroot/enoent"), time.Date(10000, 1, 2, 3, 4, 5, 999999999, time.UTC))},
		goldenCase{name: "time/zero", ev: at(rec("chroot/enoent"), time.Time{})},
		goldenCase{name: "ns_limit/limit-zero", ev: withReasons(rec("unshare/every-flag"), &nslimit.Reason{Cause: nslimit.CauseLimit,
			Namespace: "user", Sysctl: "user.max_user_namespaces", Value: "0", UserNS: 4026532201, Level: 1, CallerOwn: true}), c: containerd},
		goldenCase{name: "ns_limit/limit-zero-node", ev: withReasons(rec("unshare/every-flag"), &nslimit.Reason{Cause: nslimit.CauseLimit,
			Namespace: "mnt", Sysctl: "user.max_mnt_namespaces", Value: "0", UserNS: 4026531837})},
		goldenCase{name: "ns_limit/depth", ev: withReasons(rec("unshare/every-flag"), &nslimit.Reason{Cause: nslimit.CauseDepth,
			UserNS: 4026532290, Level: nslimit.MaxDepth, CallerOwn: true})},
		goldenCase{name: "ns_limit/policy", ev: withReasons(rec("unshare/every-flag"), &nslimit.Reason{Cause: nslimit.CausePolicy,
			Sysctl: "kernel.unprivileged_userns_clone", Value: "0"})},
		goldenCase{name: "idmap/fs-unsupported", ev: withReasons(rec("mount_setattr/attr"), &idmap.Reason{Cause: idmap.CauseUnsupported,
			FSType: "ramfs"}), c: pod},
		goldenCase{name: "idmap/attached", ev: withReasons(rec("mount_setattr/attr"), &idmap.Reason{Cause: idmap.CauseAttached, FSType: "tmpfs"})},
		goldenCase{name: "idmap/not-userns", ev: withReasons(rec("mount_setattr/attr"), &idmap.Reason{Cause: idmap.CauseNotUserNS, Target: "pipe:[1234]"})},
		goldenCase{name: "idmap/fsmount", ev: withReasons(rec("fsmount/idmap-atime"), &idmap.Reason{Cause: idmap.CauseFsmount})},
		goldenCase{name: "permission/unmapped-owner", ev: withReasons(rec("openat/cwd"), unmapped), c: containerd},
		goldenCase{name: "permission/host-dac", ev: withReasons(rec("openat/cwd"), hostDAC)},
		goldenCase{name: "permission/read-only-idmapped", ev: withReasons(rec("openat/cwd"), readOnly)},
		goldenCase{name: "permission/noexec", ev: withReasons(rec("openat/cwd"), noexec)},
		goldenCase{name: "permission/overlay-image-layer", ev: withReasons(rec("mount/overlay"), layer)},
		goldenCase{name: "permission/explain-why-none", ev: func() *tracer.Event {
			ev := rec("chroot/enoent")
			ev.NoReason = "permission: /x does not exist now (it may have changed since the call)"
			return ev
		}(), explain: true},
		goldenCase{name: "exec/elf-interpreter-missing", ev: withReasons(rec("execve/argv-empty"), &binfmt.Reason{Path: "/nope",
			Problem: binfmt.InterpreterMissing, File: "/nope", Format: "elf", Interpreter: "/lib64/ld-linux-x86-64.so.2",
			Checked: "after", Via: "container_rootfs"}), c: containerd},
		goldenCase{name: "exec/script-crlf", ev: withReasons(rec("execve/argv-empty"), &binfmt.Reason{Path: "/nope",
			Problem: binfmt.InterpreterMissing, File: "/nope", Format: "script", Interpreter: "/bin/sh\r", CRLF: true,
			Checked: "after", Via: "proc"})},
		goldenCase{name: "exec/script-interpreter-chain", ev: withReasons(rec("execve/argv-empty"), &binfmt.Reason{Path: "/nope",
			Problem: binfmt.InterpreterMissing, File: "/usr/bin/python3", Format: "elf", Interpreter: "/lib/ld-musl-x86_64.so.1",
			Checked: "after", Via: "proc"}), c: pod},
		goldenCase{name: "exec/script-interpreter-missing", ev: withReasons(rec("execve/argv-empty"), &binfmt.Reason{Path: "/nope",
			Problem: binfmt.InterpreterMissing, File: "/nope", Format: "script", Interpreter: "/usr/bin/python3",
			Checked: "after", Via: "host_root"})},
		goldenCase{name: "exec/foreign-machine", ev: withReasons(rec("execveat/flags"), &binfmt.Reason{Path: "/opt/app",
			Problem: binfmt.ForeignMachine, File: "/opt/app", Format: "elf", Machine: "aarch64", NodeMachine: "x86_64",
			BinfmtMisc: binfmt.BinfmtNoHandler, Checked: "after", Via: "proc"}), c: pod},
		goldenCase{name: "exec/foreign-handler-disabled", ev: withReasons(rec("execveat/flags"), &binfmt.Reason{Path: "/opt/app",
			Problem: binfmt.ForeignMachine, File: "/opt/app", Format: "elf", Machine: "riscv64", NodeMachine: "x86_64",
			BinfmtMisc: binfmt.BinfmtHandlerOff, Handler: "qemu-riscv64", Checked: "after", Via: "proc"})},
		goldenCase{name: "exec/unknown-format", ev: withReasons(rec("execveat/flags"), &binfmt.Reason{Path: "/opt/app",
			Problem: binfmt.UnknownFormat, File: "/opt/app", Format: "none", Head: "echo \"hi\"\n\x00\xff",
			Checked: "after", Via: "proc"}), c: containerd},
		goldenCase{name: "exec/empty-file", ev: withReasons(rec("execveat/flags"), &binfmt.Reason{Path: "/opt/app",
			Problem: binfmt.UnknownFormat, File: "/opt/app", Format: "none", Checked: "after", Via: "proc"})},
		goldenCase{name: "exec/explain-why-none", ev: func() *tracer.Event {
			ev := rec("execve/argv-empty")
			ev.NoReason = "exec: /nope does not exist now: the call's own path was missing (or it changed since)"
			return ev
		}(), explain: true},
		goldenCase{name: "odd/zero-event", ev: &tracer.Event{}},
		goldenCase{name: "odd/empty-cmdline", ev: &tracer.Event{Time: goldenTime, Syscall: "chroot", NoArgs: true, Ret: -2, Errno: unix.ENOENT,
			Args: []tracer.Arg{strArg("path", "/x")}, Proc: tracer.Proc{Cmdline: []string{}}}},
		goldenCase{name: "odd/errno-without-name", ev: &tracer.Event{Time: goldenTime, Syscall: "mount", Ret: -600, Errno: 600,
			Proc: procMount}},
		goldenCase{name: "odd/unused-and-unread", ev: &tracer.Event{Time: goldenTime, Syscall: "x", Ret: 7, Proc: procMount,
			Args: []tracer.Arg{
				{Name: "bytes-null", Kind: tracer.KindBytes},
				{Name: "bytes-unread", Kind: tracer.KindBytes, Raw: 0x10},
				{Name: "bytes", Kind: tracer.KindBytes, Raw: 0x10, Read: true, Bytes: []byte(" a\x00 ")},
				{Name: "ptr", Kind: tracer.KindPtr, Raw: 0x20},
				{Name: "int", Kind: tracer.KindInt, Raw: 0xfffffffe},
				{Name: "size", Kind: tracer.KindSize, Raw: 1 << 63},
				{Name: "struct-null", Kind: tracer.KindStruct},
				{Name: "argv-after-null", Kind: tracer.KindArgv, After: true, Read: true, Argv: []string{"a"}},
				{Name: "string-after-null", Kind: tracer.KindString, After: true, Read: true, Str: "/bin/a"},
				{Name: "unused", Kind: tracer.KindString, Unused: true, Truncated: true},
				{Name: "mode", Kind: tracer.KindMode, Raw: 0o644, Text: "0644"},
				{Name: "what\"name", Kind: tracer.KindInt, Raw: 1},
			}}},
		// Strings the node chooses, escaped in text (hostile_test.go).
		goldenCase{name: "hostile/comm", ev: func() *tracer.Event {
			ev := rec("chroot/enoent")
			ev.Proc.Comm = "\x1b[2J\nFAKE\x00\\"
			return ev
		}(), color: true},
		goldenCase{name: "hostile/kernel-log", ev: withReasons(rec("mount/overlay"),
			&tracer.KernelLogReason{Message: "overlayfs: failed to resolve '/tmp/\x1b[31m\nx': -2"})},
		goldenCase{name: "hostile/lsm-path", ev: withReasons(rec("openat/cwd"),
			&tracer.LSMReason{LSM: "landlock", Hook: "fs.read_file", Detail: "path=\"/etc/\r\x1b]0;x\x07\""})},
		goldenCase{name: "hostile/pod", ev: rec("chroot/enoent"), c: &correlate.Container{ID: "web", Namespace: "k8s.io", Known: true,
			Labels: map[string]string{correlate.LabelPodName: "p\n", correlate.LabelContainerName: "\x1b[2J"},
			Pod:    "p\n", PodNamespace: "ns\x9b", ContainerName: "\x1b[2J"}},
		goldenCase{name: "hostile/container-id", ev: rec("chroot/enoent"), c: &correlate.Container{ID: "id\n1", Namespace: "ns\t"}},
	)
	return cases
}

// renderGolden renders one case as ctrace run does.
func renderGolden(format string, gc *goldenCase) []byte {
	var buf bytes.Buffer
	r := New(format, &buf, gc.color)
	r.Explain = gc.explain
	r.Window = 10 * time.Second
	r.Event(gc.ev, Findings{Container: gc.c, Benign: gc.rule, Hints: hints.For(gc.ev, gc.c), Repeat: gc.repeat})
	return buf.Bytes()
}

// TestRenderGolden renders the corpus as text and as JSON and compares
// the output with testdata/{text,json}.golden byte for byte. Rewrite them
// with go test -run RenderGolden -update, and read the diff: a change
// there is a change of ctrace's output.
func TestRenderGolden(t *testing.T) {
	cases := goldenCases(t)
	for _, format := range []string{"text", "json"} {
		var out bytes.Buffer
		for i := range cases {
			fmt.Fprintf(&out, "# %s\n", cases[i].name)
			out.Write(renderGolden(format, &cases[i]))
		}
		compareGolden(t, "testdata/"+format+".golden", out.Bytes())
	}
}

// TestGoldenHasEveryReasonKind: the golden corpus shows each reason kind
// (tracer.ReasonKinds), alone in a case of its own, so that its text and
// JSON are pinned byte for byte.
func TestGoldenHasEveryReasonKind(t *testing.T) {
	alone := map[tracer.ReasonKind]bool{}
	for _, gc := range goldenCases(t) {
		if len(gc.ev.Reasons) == 1 {
			alone[gc.ev.Reasons[0].Kind()] = true
		}
	}
	for _, k := range tracer.ReasonKinds {
		if !alone[k] {
			t.Errorf("no golden case has a %s reason alone: add one to goldenCases", k)
		}
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	golden.Compare(t, path, got, *update)
}

// futureReason is a kind this renderer's tests do not know: it renders
// with the words and members its type gives.
type futureReason struct{}

func (futureReason) Kind() tracer.ReasonKind    { return "future_kind" }
func (futureReason) Text(*tracer.Event) string  { return "future_kind" }
func (futureReason) AppendJSON(b []byte) []byte { return b }
