package binfmt

import (
	debugelf "debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/permission"
	"github.com/ctrace-dev/ctrace/internal/testing/exectest"
	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
	"github.com/ctrace-dev/ctrace/tracer"
)

// A re-exec of the test binary with childEnv set to "DIR|CWD|PATH"
// chroots to DIR, changes to CWD, execs PATH, prints the errno and stays,
// so that its view can be read through /proc as ctrace reads a caller's.
const childEnv = "BINFMT_TEST_EXEC"

func TestMain(m *testing.M) {
	testenv.ChildMain(childEnv, func(spec string) string {
		f := strings.SplitN(spec, "|", 3)
		if err := unix.Chroot(f[0]); err != nil {
			return "chroot: " + err.Error()
		}
		if err := unix.Chdir(f[1]); err != nil {
			return "chdir: " + err.Error()
		}
		return strconv.Itoa(int(exectest.Exec(f[2])))
	})
	os.Exit(m.Run())
}

// execEvent is the event of an execve of path by the process pid that
// failed with errno, as the tracer decodes it.
func execEvent(t *testing.T, pid int, path string, errno unix.Errno) *tracer.Event {
	t.Helper()
	ns := func(kind string) uint32 {
		var st unix.Stat_t
		if err := unix.Stat("/proc/"+strconv.Itoa(pid)+"/ns/"+kind, &st); err != nil {
			t.Fatal(err)
		}
		return uint32(st.Ino)
	}
	return &tracer.Event{Syscall: "execve", Family: tracer.FamilyExec, Ret: -int64(errno), Errno: errno,
		Proc: tracer.Proc{PID: uint32(pid), TID: uint32(pid), Comm: "binfmt.test", MntNS: ns("mnt"), UserNS: ns("user")},
		Args: []tracer.Arg{{Name: "path", Kind: tracer.KindString, Str: path, Read: true}}}
}

// TestExplainRealExecs makes each failure for real, in a chroot without
// glibc (the kernel says which errno), and explains it from the caller's
// own /proc view while it lives, then from the root directory alone, as
// for a caller that is gone, and from the root as the layers of an
// overlay no longer mounted. Each diagnosis must hold every time.
func TestExplainRealExecs(t *testing.T) {
	testenv.RequireRoot(t, "chroot")
	root, upper := t.TempDir(), t.TempDir()
	cases, err := exectest.Build(root, "/x")
	if err != nil {
		t.Fatal(err)
	}
	// A relative path, from the caller's working directory.
	rel := cases[0]
	rel.Name, rel.Path = "relative", "crlf.sh"
	cases = append(cases, rel)
	node := Node{Machine: NodeMachine(), BinfmtMisc: "/proc/sys/fs/binfmt_misc"}
	const repeat = 20
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			for i := range repeat {
				out, child := testenv.StartChild(t, childEnv, root+"|/x|"+tc.Path, nil)
				if out != strconv.Itoa(int(tc.Errno)) {
					t.Fatalf("execve(%q) in the chroot: %s, want errno %d (%v)", tc.Path, out, tc.Errno, tc.Errno)
				}
				ev := execEvent(t, child.Process.Pid, tc.Path, tc.Errno)
				c, err := permission.FromProc("/proc", ev)
				if err != nil {
					t.Fatal(err)
				}
				r, why := Explain(ev, c, node)
				check(t, tc, r, why, permission.ViaProc)
				if i == 0 && !strings.HasPrefix(tc.Path, "/") {
					continue // no working directory without the process
				}
				// Gone: the root alone, as a container's rootfs.
				r, why = Explain(ev, &permission.Caller{Root: permission.Root{Dir: root}, Via: permission.ViaContainerRootfs}, node)
				if strings.HasPrefix(tc.Path, "/") {
					check(t, tc, r, why, permission.ViaContainerRootfs)
				} else if r != nil {
					t.Errorf("a relative path without a working directory got a reason: %+v", r)
				}
				// Gone with its rootfs unmounted: the same tree as the
				// lower layer of an overlay whose upper is still empty.
				r, why = Explain(ev, &permission.Caller{Via: permission.ViaSnapshotLayers,
					Layers: &permission.Layers{Point: "/", Dirs: []string{upper, root}}}, node)
				if strings.HasPrefix(tc.Path, "/") {
					check(t, tc, r, why, permission.ViaSnapshotLayers)
				} else if r != nil {
					t.Errorf("a relative path without a working directory got a reason through the layers: %+v", r)
				}
			}
		})
	}
}

func check(t *testing.T, tc exectest.Case, r *Reason, why, via string) {
	t.Helper()
	if tc.Problem == "" {
		if r != nil {
			t.Fatalf("%s: got a reason %q, want none", tc.Name, r.Text(nil))
		}
		if why == "" {
			t.Fatalf("%s: no reason and no why", tc.Name)
		}
		return
	}
	if r == nil {
		t.Fatalf("%s: no reason: %s", tc.Name, why)
	}
	wantFile := tc.File
	if !strings.HasPrefix(tc.Path, "/") {
		wantFile = strings.TrimPrefix(tc.File, "/x/")
	}
	if r.Problem != tc.Problem || r.File != wantFile || r.Interpreter != tc.Interpreter || r.CRLF != tc.CRLF ||
		r.Machine != tc.Machine || r.Path != tc.Path || r.Checked != permission.CheckedAfter || r.Via != via {
		t.Fatalf("%s: reason %+v, want %+v via %s", tc.Name, r, tc, via)
	}
	if tc.Problem == ForeignMachine && (r.NodeMachine != NodeMachine() || r.BinfmtMisc == "") {
		t.Fatalf("%s: node machine %q, binfmt_misc %q", tc.Name, r.NodeMachine, r.BinfmtMisc)
	}
}

// TestNoReason: what the header does not explain gets no reason, and says
// why: an ELF for this machine refused with ENOEXEC, a static ELF's
// ENOENT, a script whose interpreter exists, a file gone.
func TestNoReason(t *testing.T) {
	root := t.TempDir()
	if _, err := exectest.Build(root, "/x"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "x", "ok.sh"), []byte("#!/x/glibc\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/x/gone", filepath.Join(root, "x", "dangling")); err != nil {
		t.Fatal(err)
	}
	node := Node{Machine: NodeMachine(), BinfmtMisc: "/proc/sys/fs/binfmt_misc"}
	for _, tc := range []struct {
		path  string
		errno unix.Errno
		why   string
	}{
		{"/x/glibc", unix.ENOEXEC, "for this node's machine"},
		{"/x/text", unix.ENOENT, "neither an ELF nor a #! script"},
		{"/x/ok.sh", unix.ENOEXEC, "/x/glibc is an ELF for this node's machine"},
		{"/x/dangling", unix.ENOENT, "does not exist now"},
		{"/x/../../x/gone", unix.ENOENT, "does not exist now"},
	} {
		ev := &tracer.Event{Syscall: "execve", Errno: tc.errno,
			Args: []tracer.Arg{{Name: "path", Kind: tracer.KindString, Str: tc.path, Read: true}}}
		r, why := Explain(ev, &permission.Caller{Root: permission.Root{Dir: root}, Via: permission.ViaContainerRootfs}, node)
		if r != nil || !strings.Contains(why, tc.why) {
			t.Errorf("%s %v: reason %+v, why %q, want none and %q", tc.path, tc.errno, r, why, tc.why)
		}
	}
	// In a root where the loader is there, ENOENT has another cause.
	if err := os.MkdirAll(filepath.Join(root, filepath.Dir(exectest.Loader)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, exectest.Loader), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	ev := &tracer.Event{Syscall: "execve", Errno: unix.ENOENT,
		Args: []tracer.Arg{{Name: "path", Kind: tracer.KindString, Str: "/x/glibc", Read: true}}}
	if r, why := Explain(ev, &permission.Caller{Root: permission.Root{Dir: root}, Via: permission.ViaContainerRootfs}, node); r != nil || !strings.Contains(why, exectest.Loader+" exists now") {
		t.Errorf("/x/glibc beside its loader: reason %+v, why %q", r, why)
	}
	// A caller gone with its root: its root's ENOENT is not the file's.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	c := &permission.Caller{Root: permission.Root{Dir: fmt.Sprintf("/proc/%d/root", gone.Process.Pid)}, Via: permission.ViaProc}
	if r, why := Explain(ev, c, node); r != nil || strings.Contains(why, "does not exist now") || !strings.Contains(why, "the caller's root") {
		t.Errorf("a caller gone with its root: reason %+v, why %q, want none, and the root named", r, why)
	}
}

// TestApplies: only execve and execveat failing with ENOENT or ENOEXEC on a
// path read whole.
func TestApplies(t *testing.T) {
	path := func(s string, read bool) tracer.Arg {
		return tracer.Arg{Name: "path", Kind: tracer.KindString, Str: s, Read: read}
	}
	dirfd := func(fd int32, p string) tracer.Arg {
		return tracer.Arg{Name: "dirfd", Kind: tracer.KindFD, Raw: uint64(uint32(fd)), Str: p, Read: p != ""}
	}
	for _, tc := range []struct {
		name    string
		syscall string
		errno   unix.Errno
		args    []tracer.Arg
		want    string
	}{
		{"execve ENOENT", "execve", unix.ENOENT, []tracer.Arg{path("/a", true)}, "/a"},
		{"execve relative", "execve", unix.ENOEXEC, []tracer.Arg{path("a", true)}, "a"},
		{"EACCES", "execve", unix.EACCES, []tracer.Arg{path("/a", true)}, ""},
		{"open", "openat", unix.ENOENT, []tracer.Arg{path("/a", true)}, ""},
		{"unread path", "execve", unix.ENOENT, []tracer.Arg{path("", false)}, ""},
		{"execveat dirfd", "execveat", unix.ENOENT, []tracer.Arg{dirfd(3, "/opt"), path("app", true)}, "/opt/app"},
		{"execveat AT_FDCWD", "execveat", unix.ENOENT, []tracer.Arg{dirfd(unix.AT_FDCWD, ""), path("app", true)}, "app"},
		{"execveat fd", "execveat", unix.ENOEXEC, []tracer.Arg{dirfd(3, "/opt/app"), path("", true),
			{Name: "flags", Kind: tracer.KindFlags, Raw: unix.AT_EMPTY_PATH}}, "/opt/app"},
		{"execveat unknown dirfd", "execveat", unix.ENOENT, []tracer.Arg{dirfd(3, ""), path("app", true)}, ""},
	} {
		ev := &tracer.Event{Syscall: tc.syscall, Errno: tc.errno, Args: tc.args}
		got, _ := target(ev)
		if Applies(ev) != (tc.want != "") || (tc.want != "" && got != tc.want) {
			t.Errorf("%s: applies %v, target %q; want %q", tc.name, Applies(ev), got, tc.want)
		}
	}
}

// TestShebang parses #! lines as the kernel's load_script does.
func TestShebang(t *testing.T) {
	for _, tc := range []struct {
		line, interp string
		crlf, ok     bool
	}{
		{"#!/bin/sh\n", "/bin/sh", false, true},
		{"#!/bin/sh\r\n", "/bin/sh\r", true, true},
		{"#! \t/usr/bin/env python3\n", "/usr/bin/env", false, true},
		{"#!/usr/bin/env python\r\n", "/usr/bin/env", false, true},
		{"#!/bin/sh", "/bin/sh", false, true},
		{"#!\n", "", false, false},
		{"#!" + strings.Repeat("a", bufSize), "", false, false},
	} {
		buf := []byte(tc.line)
		if len(buf) > bufSize {
			buf = buf[:bufSize]
		}
		interp, crlf, ok := shebang(buf)
		if interp != tc.interp || crlf != tc.crlf || ok != tc.ok {
			t.Errorf("%q: %q %v %v, want %q %v %v", tc.line, interp, crlf, ok, tc.interp, tc.crlf, tc.ok)
		}
	}
}

// TestHandlerMatches reads handlers as binfmt_misc shows them (its
// documentation's qemu-aarch64 entry, as qemu-user-static registers it).
func TestHandlerMatches(t *testing.T) {
	const aarch64 = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\n" +
		"magic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n"
	elf := exectest.ELF(debugelf.EM_AARCH64)
	if en, ok := handlerMatches(aarch64, elf); !en || !ok {
		t.Errorf("aarch64 handler: enabled %v, match %v", en, ok)
	}
	if en, ok := handlerMatches(strings.Replace(aarch64, "enabled", "disabled", 1), elf); en || !ok {
		t.Errorf("disabled aarch64 handler: enabled %v, match %v", en, ok)
	}
	if _, ok := handlerMatches(aarch64, exectest.ELF(debugelf.EM_X86_64)); ok {
		t.Error("the aarch64 handler takes an x86_64 binary")
	}
	if _, ok := handlerMatches("enabled\ninterpreter /x\nflags: \nextension .exe\n", elf); ok {
		t.Error("a handler by extension matched by magic")
	}
	if st, _ := binfmtMisc(t.TempDir(), elf); st != BinfmtNotMounted {
		t.Errorf("a plain directory as binfmt_misc: %s, want %s", st, BinfmtNotMounted)
	}
}
