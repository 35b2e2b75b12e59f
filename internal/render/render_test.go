package render

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/benign"
	"github.com/ctrace-dev/ctrace/tracer"
)

// Argument constructors, as Decode leaves them for memory the kernel sent.
func strArg(name, s string) tracer.Arg {
	return tracer.Arg{Name: name, Kind: tracer.KindString, Raw: 0x7ffc0000, Str: s, Read: true}
}

func flagArg(name string, raw uint64, text string) tracer.Arg {
	return tracer.Arg{Name: name, Kind: tracer.KindFlags, Raw: raw, Text: text}
}

func fdArg(name string, fd int64, path string) tracer.Arg {
	return tracer.Arg{Name: name, Kind: tracer.KindFD, Raw: uint64(fd), Str: path, Read: path != ""}
}

// goldenTime is 12:03:04.123456789 in a zone of its own: the text shows
// the event's own wall clock, to the microsecond, whatever TZ says.
var goldenTime = time.Date(2026, 11, 23, 12, 3, 4, 123456789, time.FixedZone("X", 3600))

func failed(syscall string, errno unix.Errno, proc tracer.Proc, args ...tracer.Arg) *tracer.Event {
	return &tracer.Event{
		Time: goldenTime, Syscall: syscall, Family: tracer.FamilyOf(syscall),
		Ret: -int64(errno), Errno: errno, Proc: proc, Args: args,
	}
}

var (
	procMount = tracer.Proc{PID: 4242, TID: 4242, PPID: 1, Comm: "mount", UID: 0}
	procCat   = tracer.Proc{PID: 4250, TID: 4250, PPID: 4242, Comm: "cat", UID: 1000}
	procIP    = tracer.Proc{PID: 4301, TID: 4301, PPID: 1, Comm: "ip", UID: 0}
	procRunc  = tracer.Proc{PID: 5000, TID: 5007, PPID: 4999, Comm: "runc:[2:INIT]", UID: 0}
)

// TestTextGolden renders events built in Go and compares each line with
// what strace users expect to read.
func TestTextGolden(t *testing.T) {
	truncated := strArg("data", strings.Repeat("x", 12))
	truncated.Truncated = true
	argvTrunc := tracer.Arg{Name: "argv", Kind: tracer.KindArgv, Raw: 0x7ffd10, Argv: []string{"a", "b"}, Read: true, Truncated: true}
	withLog := failed("mount", unix.EINVAL, procMount,
		strArg("source", "tmpfs"), strArg("target", "/mnt"), strArg("fstype", "tmpfs"),
		flagArg("flags", 0, "0"), strArg("data", "size=bogus"))
	withLog.Reasons = []tracer.Reason{&tracer.KernelLogReason{Message: "tmpfs: Bad value for 'size'"}}
	seccomp := failed("unshare", unix.EPERM, tracer.Proc{PID: 5140, TID: 5140, Comm: "app"},
		flagArg("flags", unix.CLONE_NEWNS, "CLONE_NEWNS"))
	seccomp.Reasons = []tracer.Reason{tracer.SeccompReason{}}
	success := &tracer.Event{Time: goldenTime, Syscall: "openat", Ret: 3, Proc: procCat,
		Args: []tracer.Arg{fdArg("dirfd", unix.AT_FDCWD, ""), strArg("path", "/etc/hostname"),
			flagArg("flags", unix.O_RDONLY, "O_RDONLY"), {Name: "mode", Kind: tracer.KindMode, Unused: true}}}

	tests := []struct {
		name    string
		ev      *tracer.Event
		explain bool
		want    string
	}{
		{"mount with data", failed("mount", unix.ENOENT, procMount,
			strArg("source", "overlay"), strArg("target", "/tmp/m1"), strArg("fstype", "overlay"),
			flagArg("flags", unix.MS_RDONLY|unix.MS_NOSUID, "MS_RDONLY|MS_NOSUID"),
			strArg("data", "lowerdir=/tmp/lower,upperdir=/tmp/nonexist,workdir=/tmp/work")),
			false,
			`12:03:04.123456 mount[4242] uid=0 mount("overlay", "/tmp/m1", "overlay", MS_RDONLY|MS_NOSUID, "lowerdir=/tmp/lower,upperdir=/tmp/nonexist,workdir=/tmp/work") = -1 ENOENT (No such file or directory)`},
		{"mount with NULL data", failed("mount", unix.EPERM, procMount,
			strArg("source", "none"), strArg("target", "/mnt"), strArg("fstype", "tmpfs"),
			flagArg("flags", 0, "0"), tracer.Arg{Name: "data", Kind: tracer.KindString}),
			false,
			`12:03:04.123456 mount[4242] uid=0 mount("none", "/mnt", "tmpfs", 0, NULL) = -1 EPERM (Operation not permitted)`},
		{"openat", failed("openat", unix.ENOENT, procCat,
			fdArg("dirfd", unix.AT_FDCWD, ""), strArg("path", "/etc/app/config.yaml"),
			flagArg("flags", unix.O_RDONLY|unix.O_CLOEXEC, "O_RDONLY|O_CLOEXEC"),
			tracer.Arg{Name: "mode", Kind: tracer.KindMode, Unused: true}),
			false,
			`12:03:04.123456 cat[4250] uid=1000 openat(AT_FDCWD, "/etc/app/config.yaml", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)`},
		{"openat relative to a directory fd, from a thread", failed("openat", unix.EACCES, procRunc,
			fdArg("dirfd", 7, "/var/lib/containerd/io.containerd.runtime.v2.task/default/web/rootfs"),
			strArg("path", "etc/passwd"),
			flagArg("flags", unix.O_WRONLY|unix.O_CREAT, "O_WRONLY|O_CREAT"),
			tracer.Arg{Name: "mode", Kind: tracer.KindMode, Raw: 0o644, Text: "0644"}),
			false,
			`12:03:04.123456 runc:[2:INIT][5000/5007] uid=0 openat(7</var/lib/containerd/io.containerd.runtime.v2.task/default/web/rootfs>, "etc/passwd", O_WRONLY|O_CREAT, 0644) = -1 EACCES (Permission denied)`},
		{"setns with the fd's path", failed("setns", unix.EINVAL, procIP,
			fdArg("fd", 5, "/run/netns/cni-8d1c0a4e"), flagArg("nstype", unix.CLONE_NEWNET, "CLONE_NEWNET")),
			false,
			`12:03:04.123456 ip[4301] uid=0 setns(5</run/netns/cni-8d1c0a4e>, CLONE_NEWNET) = -1 EINVAL (Invalid argument)`},
		{"setns on a namespace fd", failed("setns", unix.EPERM, procIP,
			fdArg("fd", 4, "net:[4026531840]"), flagArg("nstype", 0, "0")),
			false,
			`12:03:04.123456 ip[4301] uid=0 setns(4<net:[4026531840]>, 0) = -1 EPERM (Operation not permitted)`},
		{"setns on an fd without a path", failed("setns", unix.EBADF, procIP,
			fdArg("fd", 9, ""), flagArg("nstype", unix.CLONE_NEWNET, "CLONE_NEWNET")),
			false,
			`12:03:04.123456 ip[4301] uid=0 setns(9, CLONE_NEWNET) = -1 EBADF (Bad file descriptor)`},
		{"execve argv", failed("execve", unix.EACCES, tracer.Proc{PID: 77, TID: 77, Comm: "sh", UID: 0},
			strArg("path", "/opt/app/run.sh"),
			tracer.Arg{Name: "argv", Kind: tracer.KindArgv, Raw: 0x7ffd10, Argv: []string{"run.sh", "--config", "a b", `q"uote`}, Read: true},
			tracer.Arg{Name: "envp", Kind: tracer.KindPtr, Raw: 0x7ffd80}),
			false,
			`12:03:04.123456 sh[77] uid=0 execve("/opt/app/run.sh", ["run.sh", "--config", "a b", "q\"uote"], 0x7ffd80) = -1 EACCES (Permission denied)`},
		{"execve argv cut short", failed("execve", unix.E2BIG, tracer.Proc{PID: 77, TID: 77, Comm: "sh"},
			strArg("path", "/bin/true"), argvTrunc, tracer.Arg{Name: "envp", Kind: tracer.KindPtr, Raw: 0x7ffd80}),
			false,
			`12:03:04.123456 sh[77] uid=0 execve("/bin/true", ["a", "b", ...], 0x7ffd80) = -1 E2BIG (Argument list too long)`},
		{"truncated string", failed("mount", unix.EINVAL, procMount,
			strArg("source", "overlay"), strArg("target", "/m"), strArg("fstype", "overlay"),
			flagArg("flags", 0, "0"), truncated),
			false,
			`12:03:04.123456 mount[4242] uid=0 mount("overlay", "/m", "overlay", 0, "xxxxxxxxxxxx"...) = -1 EINVAL (Invalid argument)`},
		{"unreadable string", failed("chroot", unix.EFAULT, procCat,
			tracer.Arg{Name: "path", Kind: tracer.KindString, Raw: 0xdead, Read: true, Fault: true}),
			false,
			`12:03:04.123456 cat[4250] uid=1000 chroot(0xdead) = -1 EFAULT (Bad address)`},
		{"escapes", failed("chroot", unix.ENOENT, procCat, strArg("path", "/tmp/a\nb\t\x01\\")),
			false,
			`12:03:04.123456 cat[4250] uid=1000 chroot("/tmp/a\nb\t\1\\") = -1 ENOENT (No such file or directory)`},
		{"kernel log reason", withLog, false,
			`12:03:04.123456 mount[4242] uid=0 mount("tmpfs", "/mnt", "tmpfs", 0, "size=bogus") = -1 EINVAL (Invalid argument) [kernel: tmpfs: Bad value for 'size']`},
		{"seccomp reason", seccomp, false,
			`12:03:04.123456 app[5140] uid=0 unshare(CLONE_NEWNS) = -1 EPERM (Operation not permitted) [seccomp: blocked by the process's seccomp filter]`},
		{"no reason, explained", failed("chroot", unix.ENOENT, procCat, strArg("path", "/x")), true,
			`12:03:04.123456 cat[4250] uid=1000 chroot("/x") = -1 ENOENT (No such file or directory) [no reason found: no seccomp filter, capability check, LSM or kernel log line was involved]`},
		{"no arguments", &tracer.Event{Time: goldenTime, Syscall: "mount", Ret: -1, Errno: unix.EPERM, Proc: procMount, NoArgs: true,
			Args: []tracer.Arg{strArg("source", "x")}},
			false,
			`12:03:04.123456 mount[4242] uid=0 mount(?) = -1 EPERM (Operation not permitted)`},
		{"success", success, true,
			`12:03:04.123456 cat[4250] uid=1000 openat(AT_FDCWD, "/etc/hostname", O_RDONLY) = 3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			r := New("text", &buf, false)
			r.Explain = tt.explain
			r.Event(tt.ev, Findings{}) // the line alone: hints are in the golden files
			if got := buf.String(); got != tt.want+"\n" {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestTextBenignAndColor: a benign rule is named at the end of the line,
// and on a terminal the syscall is bold and the error red.
func TestTextBenignAndColor(t *testing.T) {
	ev := failed("chroot", unix.ENOENT, procCat, strArg("path", "/x"))
	var buf bytes.Buffer
	New("text", &buf, false).Event(ev, Findings{Benign: &benign.Rule{Name: "some-rule"}})
	if want := `12:03:04.123456 cat[4250] uid=1000 chroot("/x") = -1 ENOENT (No such file or directory) [benign: some-rule]` + "\n"; buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	buf.Reset()
	New("text", &buf, true).Event(ev, Findings{})
	if want := "12:03:04.123456 cat[4250] uid=1000 \x1b[1mchroot\x1b[0m(\"/x\") = -1 \x1b[31mENOENT\x1b[0m (No such file or directory)\n"; buf.String() != want {
		t.Errorf("got\n%q\nwant\n%q", buf.String(), want)
	}
	buf.Reset()
	New("json", &buf, true).Event(ev, Findings{})
	if bytes.Contains(buf.Bytes(), []byte("\x1b")) {
		t.Errorf("JSON output has colour: %q", buf.String())
	}
}
