package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/binfmt"
	"github.com/ctrace-dev/ctrace/internal/permission"
	"github.com/ctrace-dev/ctrace/tracer"
)

// Exec adds the exec reason to execve failures with ENOENT or ENOEXEC of
// a file that exists: the interpreter its header names and the caller
// lacks, or the machine it was built for (package binfmt). Like
// Permission, it comes first, to read the file in the caller's view while
// the caller most likely still runs; a caller that is gone (a shell's
// child whose exec failed exits at once, and so does runc init) is seen
// through its container's rootfs or, on the host, the node's root; when
// that rootfs is mounted nowhere any more (the shim unmounts it as soon
// as runc init failed), through its snapshot's layers, looked up as the
// Permission stage looks them up.
type Exec struct {
	// perm finds the caller's view as the Permission stage does; its
	// state (the node's mount namespace) is only touched from Handle.
	perm *Permission
	node binfmt.Node
	next Next
}

// NewExec returns the stage. proc is the node's /proc, hostRoot where the
// node's root is ("/" on the host), and resolve names an event's
// container if it is known yet (correlate.Resolver.Resolve); it may be nil.
func NewExec(proc, hostRoot string, resolve func(*tracer.Event) *correlate.Container) *Exec {
	p := NewPermission(proc, hostRoot, resolve, nil)
	return &Exec{perm: p, node: binfmt.Node{Machine: binfmt.NodeMachine(), BinfmtMisc: filepath.Join(p.proc, "sys/fs/binfmt_misc")}}
}

// Link implements Stage.
func (s *Exec) Link(next Next) { s.next = next }

// Handle implements Stage.
func (s *Exec) Handle(ev *Event) {
	if ev.Failed() && binfmt.Applies(ev.Event) {
		ev.recheckExec = !s.explain(ev.Event, nil)
	}
	s.next.Handle(ev)
}

// Close implements Stage.
func (s *Exec) Close(context.Context) {}

// Recheck returns the stage that reads the file again for the failures
// this one could not explain for want of their container (runc init's
// exec of an entrypoint, read before containerd described the
// container): after Containers, as Permission.Recheck.
func (s *Exec) Recheck() *ExecRecheck { return &ExecRecheck{e: s} }

// ExecRecheck is Exec's second look (Exec.Recheck).
type ExecRecheck struct {
	e    *Exec
	next Next
}

// Link implements Stage.
func (s *ExecRecheck) Link(next Next) { s.next = next }

// Handle implements Stage.
func (s *ExecRecheck) Handle(ev *Event) {
	if ev.recheckExec {
		ev.recheckExec = false
		if c := ev.Container; c != nil && c.Known {
			s.e.explain(ev.Event, c)
		}
	}
	s.next.Handle(ev)
}

// Close implements Stage.
func (s *ExecRecheck) Close(context.Context) {}

// explain adds the exec reason to ev, or says why there is none. known is
// ev's container when a stage has found it already. It reports whether a
// second look, once the container is known, could not find more.
func (s *Exec) explain(ev *tracer.Event, known *correlate.Container) (settled bool) {
	ctr := known
	if ctr == nil && s.perm.resolve != nil {
		ctr = s.perm.resolve(ev)
	}
	settled = ctr == nil && s.perm.onHost(ev) || ctr != nil && ctr.Known && ctr.Snapshot != nil
	var (
		r   *binfmt.Reason
		why string
	)
	c, err := s.view(ev, ctr)
	if err == nil {
		r, why = binfmt.Explain(ev, c, s.node)
		if r == nil && c.Via == permission.ViaProc && s.perm.goneNow(ev) {
			// The caller exited while it was read (its root and cwd
			// go before its namespaces do): read as for a caller gone
			// before.
			if c, err = s.view(ev, ctr); err == nil {
				r, why = binfmt.Explain(ev, c, s.node)
			}
		}
	}
	if err != nil {
		why = err.Error()
	}
	if r == nil && (err != nil || c.Via == permission.ViaContainerRootfs) {
		// The rootfs was unmounted before or while it was read
		// (ctr run --rm deletes the task as soon as runc init has
		// failed): its snapshot's layers, when it is mounted nowhere.
		if lc, lerr := s.fromLayers(ev, ctr); lerr == nil {
			var lwhy string
			if r, lwhy = binfmt.Explain(ev, lc, s.node); r == nil {
				why += "; through the snapshot's layers: " + lwhy
			}
		} else if !errors.Is(lerr, errNoLayers) {
			why += "; " + lerr.Error()
		}
	}
	if r == nil {
		ev.NoReason = "exec: " + why
		return settled
	}
	ev.NoReason = ""
	ev.Reasons = append(ev.Reasons, r)
	return true
}

// runtimeProc reports whether ev's caller is a container runtime process
// other than runc init's last stage, the one that execs the container's
// process from inside its root: runc's others work in the node's root.
func runtimeProc(ev *tracer.Event) bool {
	return strings.HasPrefix(ev.Proc.Comm, "runc") && ev.Proc.Comm != "runc:[2:INIT]" ||
		strings.HasPrefix(ev.Proc.Comm, "containerd")
}

// view is the caller's root and working directory: its own while it runs,
// else its container's rootfs, else for a host process the node's root.
// Only the files matter here, not the caller's ids: an exec's header is
// read whoever the caller was.
func (s *Exec) view(ev *tracer.Event, ctr *correlate.Container) (*permission.Caller, error) {
	c, err := permission.FromProc(s.perm.proc, ev)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, permission.ErrGone) {
		return nil, fmt.Errorf("read the caller through /proc: %w", err)
	}
	switch {
	case ctr == nil && s.perm.onHost(ev):
		// A host process that had chrooted is not told apart.
		return permission.FromHostRoot(s.perm.hostRoot, ev), nil
	case runtimeProc(ev):
		return nil, errors.New("the caller, a container runtime process, exited before ctrace could see its root")
	case ctr != nil && ctr.Rootfs != "":
		return permission.FromRootfs(filepath.Join(s.perm.hostRoot, ctr.Rootfs), ev, nil, nil), nil
	case ctr != nil && ev.Proc.Comm == "runc:[2:INIT]":
		if rootfs := s.bundleRootfs(ev, ctr); rootfs != "" {
			return permission.FromRootfs(rootfs, ev, nil, nil), nil
		}
	}
	// A container's process that failed in its first milliseconds, before
	// containerd told of the container: the shell that forked it still
	// runs, in the same namespaces, and shares its root.
	if root, ok := s.parentRoot(ev); ok {
		return &permission.Caller{Root: root, Via: binfmt.ViaParent}, nil
	}
	if ctr == nil {
		return nil, errors.New("the caller exited before ctrace could read its files, and it ran in no container ctrace knows")
	}
	return nil, errors.New("the caller exited before ctrace could read its files, and its container's rootfs is not known")
}

// errNoLayers: the caller's container has no snapshot layers ctrace
// knows, which says nothing more than why the rootfs was not read.
var errNoLayers = errors.New("its container's snapshot layers are not known")

// fromLayers stands the layers of the caller's container's rootfs for
// its root, once the rootfs is mounted nowhere on the node: the shim
// unmounts it as soon as runc init has failed, often before ctrace reads
// the failure. The caller's root was that rootfs (runc init execs the
// container's process after it pivoted into it), so the overlay's point
// is "/".
func (s *Exec) fromLayers(ev *tracer.Event, ctr *correlate.Container) (*permission.Caller, error) {
	switch {
	case ctr == nil || runtimeProc(ev):
		return nil, errNoLayers
	case len(ctr.RootfsLayers) == 0:
		return nil, errNoLayers
	}
	if len(ctr.RootfsMounts(readFile(s.perm.nodeMountinfo()))) > 0 {
		return nil, errors.New("its container's rootfs is mounted on the node: its layers are not read instead")
	}
	l := s.perm.snapshotLayers(ctr, "/")
	if _, err := os.Stat(l.Dirs[0]); errors.Is(err, os.ErrNotExist) && ev.Proc.Comm == "runc:[2:INIT]" && len(l.Dirs) > 1 {
		// The upper layer went with the container (ctr run --rm):
		// runc init's exec of the container's command is read in the
		// image's layers, which the command never wrote to
		// (binfmt.ViaImageLayers). Any other caller's upper layer may
		// have held the file: nothing is read instead of it.
		l.Dirs = l.Dirs[1:]
		return &permission.Caller{Via: binfmt.ViaImageLayers, Layers: l}, nil
	}
	return &permission.Caller{Via: permission.ViaSnapshotLayers, Layers: l}, nil
}

// bundleRootfs is the rootfs of the task bundle of runc init's container,
// found through its parent, the shim, before containerd has told of the
// container (a start that fails at once, on a busy node): the shim works
// in a task bundle, .../io.containerd.runtime.v2.task/NS/ID, and the
// container's is NS/ID beside it, as correlate finds it for running
// tasks. "" when the parent is no shim or the directory is not there.
func (s *Exec) bundleRootfs(ev *tracer.Event, ctr *correlate.Container) string {
	shim := filepath.Join(s.perm.proc, strconv.FormatUint(uint64(ev.Proc.PPID), 10))
	comm, err := os.ReadFile(filepath.Join(shim, "comm"))
	if err != nil || !strings.HasPrefix(string(comm), "containerd-shim") || ctr.ID == "" || ctr.Namespace == "" ||
		strings.Contains(ctr.ID+ctr.Namespace, "/") || strings.HasPrefix(ctr.ID+ctr.Namespace, ".") {
		return ""
	}
	cwd, err := os.Readlink(filepath.Join(shim, "cwd"))
	tasks := filepath.Dir(filepath.Dir(cwd))
	if err != nil || !filepath.IsAbs(cwd) || filepath.Base(tasks) != "io.containerd.runtime.v2.task" {
		return ""
	}
	// Through the shim's own view of the files, not ctrace's; the
	// kernel, not filepath.Join, resolves the ".." after the link.
	rootfs := shim + "/cwd/../../" + ctr.Namespace + "/" + ctr.ID + "/rootfs"
	if st, err := os.Stat(rootfs); err != nil || !st.IsDir() {
		return ""
	}
	return rootfs
}

// parentRoot is the root of the caller's parent, when the parent runs in
// the caller's mount and user namespaces with its ids. Not its working
// directory: a child may change that before it execs (cd dir && ./app).
func (s *Exec) parentRoot(ev *tracer.Event) (permission.Root, bool) {
	if ev.Proc.PPID == 0 {
		return permission.Root{}, false
	}
	parent := *ev
	parent.Proc.PID = ev.Proc.PPID
	c, err := permission.FromProc(s.perm.proc, &parent)
	if err != nil {
		return permission.Root{}, false
	}
	return permission.Root{Dir: c.Root.Dir}, true
}
