// Package nslimit says which limit refused a new namespace: unshare,
// clone and clone3 with CLONE_NEW* failing ENOSPC (a user.max_*_namespaces
// limit of 0 on the caller's user namespace chain, or the kernel's nesting
// depth of 32 user namespaces below the initial one), or creating a user
// namespace failing EPERM by node policy (kernel.unprivileged_userns_clone,
// kernel.apparmor_restrict_unprivileged_userns).
//
// The max_*_namespaces limits are per user namespace, and a count is kept
// per user and namespace: a new namespace is charged to its creator in
// the caller's user namespace and, up the chain, to the owner of each user
// namespace in its parent; each is held to that namespace's limit. The
// values are read as a process in each namespace reads them
// (internal/nsfork), after the call; the counts in use are not visible
// from user space, so a limit above 0 is never named as the one that
// refused.
package nslimit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/nsfork"
	"github.com/ctrace-dev/ctrace/tracer"
	"github.com/ctrace-dev/ctrace/tracer/jsonw"
)

// The causes a Reason names.
const (
	// CauseLimit: a max_*_namespaces limit on the caller's chain is 0.
	CauseLimit = "limit"
	// CauseDepth: the caller's user namespace is as deep as the kernel
	// nests them.
	CauseDepth = "depth"
	// CausePolicy: a node-wide sysctl forbids the caller user namespaces.
	CausePolicy = "policy"
)

// MaxDepth is the deepest level a user namespace can have (the initial
// one is level 0): the kernel refuses a child to a namespace whose level
// is above 32 (create_user_ns), with ENOSPC; kernels before 4.9 said
// EUSERS.
const MaxDepth = 33

// Reason: the limit or policy that refused a new namespace.
type Reason struct {
	Cause string
	// Namespace is the type whose limit refused ("user", "mnt"); ""
	// for a policy.
	Namespace string
	// Sysctl and Value are the setting that refused (none for depth).
	Sysctl string
	Value  string
	// UserNS is the user namespace whose limit refused, or that is too
	// deep; Level is its depth (0: the initial one); CallerOwn, whether
	// it is the caller's own. 0 for a node-wide policy.
	UserNS    uint32
	Level     int
	CallerOwn bool
}

// Kind implements tracer.Reason.
func (*Reason) Kind() tracer.ReasonKind { return tracer.ReasonNSLimit }

// Text says which limit refused, where:
//
//	ns_limit: user.max_user_namespaces is 0 in user namespace 4026532201 (level 1, the caller's own): no user namespace may be made there (read after the call)
func (r *Reason) Text(*tracer.Event) string {
	switch r.Cause {
	case CauseDepth:
		return fmt.Sprintf("ns_limit: the caller's user namespace %d is nested %d deep, the most the kernel allows: "+
			"no user namespace may be made in it", r.UserNS, r.Level)
	case CausePolicy:
		return fmt.Sprintf("ns_limit: %s is %s on the node: %s (read after the call)", r.Sysctl, r.Value, policyWords(r.Sysctl))
	}
	whose := ""
	if r.CallerOwn {
		whose = ", the caller's own"
	}
	where := fmt.Sprintf("user namespace %d (level %d%s)", r.UserNS, r.Level, whose)
	if r.Level == 0 {
		where = fmt.Sprintf("the initial user namespace%s", whose)
	}
	return fmt.Sprintf("ns_limit: %s is %s in %s: no %s namespace may be made there (read after the call)",
		r.Sysctl, r.Value, where, r.Namespace)
}

func policyWords(sysctl string) string {
	if sysctl == sysAppArmor {
		return "AppArmor refuses user namespaces to unprivileged processes without a profile that allows them"
	}
	return "only a process with CAP_SYS_ADMIN in the initial user namespace may make a user namespace"
}

// AppendJSON implements tracer.Reason.
func (r *Reason) AppendJSON(b []byte) []byte {
	b = jsonw.StrLit(b, `"cause":`, r.Cause)
	if r.Namespace != "" {
		b = jsonw.StrLit(b, `"namespace":`, r.Namespace)
	}
	if r.Sysctl != "" {
		b = jsonw.StrLit(b, `"sysctl":`, r.Sysctl)
		b = jsonw.StrLit(b, `"value":`, r.Value)
	}
	if r.Cause != CausePolicy {
		b = jsonw.UintLit(b, `"userns":`, uint64(r.UserNS))
		b = jsonw.UintLit(b, `"level":`, uint64(r.Level))
		b = jsonw.BoolLit(b, `"caller_userns":`, r.CallerOwn)
	}
	return b
}

// The node-wide policies on user namespaces.
const (
	sysUnprivClone = "kernel.unprivileged_userns_clone"             // Debian's and Ubuntu's kernels
	sysAppArmor    = "kernel.apparmor_restrict_unprivileged_userns" // Ubuntu 23.10+
)

// types are the namespace flags and their limits' names.
var types = []struct {
	flag uint64
	name string
}{
	{unix.CLONE_NEWUSER, "user"}, {unix.CLONE_NEWNS, "mnt"}, {unix.CLONE_NEWPID, "pid"},
	{unix.CLONE_NEWUTS, "uts"}, {unix.CLONE_NEWIPC, "ipc"}, {unix.CLONE_NEWNET, "net"},
	{unix.CLONE_NEWCGROUP, "cgroup"}, {unix.CLONE_NEWTIME, "time"},
}

// Diagnoser adds a Reason to namespace creations refused by a limit or
// a policy.
type Diagnoser struct {
	// Proc is the node's /proc ("" for /proc).
	Proc string
}

// Explained reports whether ev is a failure Diagnose looks at.
func Explained(ev *tracer.Event) bool {
	if ev.Family != tracer.FamilyNamespace || !ev.Failed() {
		return false
	}
	flags, ok := newFlags(ev)
	switch {
	case !ok:
		return false
	case ev.Errno == unix.ENOSPC || ev.Errno == unix.EUSERS:
		return flags != 0
	case ev.Errno == unix.EPERM:
		return flags&unix.CLONE_NEWUSER != 0
	}
	return false
}

// newFlags returns the CLONE_NEW* flags a creating call asked for.
func newFlags(ev *tracer.Event) (uint64, bool) {
	var all uint64
	for _, t := range types {
		all |= t.flag
	}
	switch ev.Syscall {
	case "unshare", "clone":
		for i := range ev.Args {
			if ev.Args[i].Name == "flags" {
				return ev.Args[i].Raw & all, true
			}
		}
	case "clone3":
		for i := range ev.Args {
			a := &ev.Args[i]
			if a.Name != "args" || !a.Read || a.Fault {
				continue
			}
			for _, f := range a.Fields {
				if f.Name == "flags" {
					return f.Value & all, true
				}
			}
		}
	}
	return 0, false
}

// Diagnose adds a Reason to ev when a limit or a policy refused it, and
// says under NoReason why it did not when it looked.
func (d *Diagnoser) Diagnose(ev *tracer.Event) {
	if !Explained(ev) {
		return
	}
	var r *Reason
	var err error
	if ev.Errno == unix.EPERM {
		r, err = d.policy(ev)
	} else {
		r, err = d.limit(ev)
	}
	switch {
	case r != nil:
		ev.Reasons = append(ev.Reasons, r)
	case err != nil && len(ev.Reasons) == 0:
		ev.NoReason = "ns_limit: " + err.Error()
	}
}

func (d *Diagnoser) proc() string {
	if d.Proc == "" {
		return "/proc"
	}
	return d.Proc
}

// policy looks for a node-wide sysctl that forbids the caller user
// namespaces. A seccomp refusal is the seccomp reason's, not a policy's.
func (d *Diagnoser) policy(ev *tracer.Event) (*Reason, error) {
	if _, ok := tracer.FirstReason[tracer.SeccompReason](ev); ok {
		return nil, nil
	}
	if !unprivileged(ev) {
		return nil, errors.New("the caller had CAP_SYS_ADMIN in the initial user namespace, which no node policy on user namespaces holds back")
	}
	read := func(name string) (string, bool) {
		b, err := os.ReadFile(filepath.Join(d.proc(), "sys", strings.ReplaceAll(name, ".", "/")))
		return strings.TrimSpace(string(b)), err == nil
	}
	if v, ok := read(sysUnprivClone); ok && v == "0" {
		return &Reason{Cause: CausePolicy, Sysctl: sysUnprivClone, Value: v}, nil
	}
	if v, ok := read(sysAppArmor); ok && v != "0" && d.appArmor() {
		return &Reason{Cause: CausePolicy, Sysctl: sysAppArmor, Value: v}, nil
	}
	return nil, fmt.Errorf("no node policy refuses user namespaces here (%s and %s are absent or allow them)", sysUnprivClone, sysAppArmor)
}

// unprivileged reports whether the caller lacked CAP_SYS_ADMIN in the
// initial user namespace: the kernel recorded the denial, or the caller
// was not root there (a kernel without the capability tracepoint).
func unprivileged(ev *tracer.Event) bool {
	for c := range tracer.ReasonsOf[*tracer.CapabilityReason](ev) {
		if c.Cap == "CAP_SYS_ADMIN" && c.InitUserNS {
			return true
		}
	}
	return ev.Proc.UID != 0 || ev.Proc.UserNS != initUserNS
}

// initUserNS is the initial user namespace's inode (PROC_USER_INIT_INO).
const initUserNS = 0xEFFFFFFD

func (d *Diagnoser) appArmor() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.TrimSpace(string(b)) == "Y"
}

// limit finds the limit of 0, or the nesting depth, that refused ev.
func (d *Diagnoser) limit(ev *tracer.Event) (*Reason, error) {
	flags, _ := newFlags(ev)
	nsfd, err := d.openUserNS(ev)
	if err != nil {
		return nil, err
	}
	chain, err := ancestors(nsfd) // caller's first; closes nsfd
	defer func() {
		for _, fd := range chain {
			unix.Close(fd.fd)
		}
	}()
	if err != nil {
		return nil, err
	}
	level := len(chain) - 1 // if ctrace's own namespace is the initial one
	if flags&unix.CLONE_NEWUSER != 0 && level >= MaxDepth {
		return &Reason{Cause: CauseDepth, UserNS: chain[0].ino, Level: level, CallerOwn: true}, nil
	}
	var names, paths []string
	for _, t := range types {
		if flags&t.flag != 0 {
			names = append(names, t.name)
			paths = append(paths, "/proc/sys/user/max_"+t.name+"_namespaces")
		}
	}
	// Outermost first: the child enters each from its parent.
	fds := make([]int, len(chain))
	for i := range chain {
		fds[len(chain)-1-i] = chain[i].fd
	}
	fds[0] = nsfork.Self
	res, err := nsfork.ReadInUserNS(fds, paths)
	if err != nil {
		return nil, fmt.Errorf("reading the limits in the caller's user namespaces: %w", err)
	}
	// The kernel charges the caller's namespace first, then each
	// parent: the innermost limit of 0 is the one it met.
	var seen []string
	for i := range chain {
		lv := res[len(chain)-1-i]
		for j, name := range names {
			v := strings.TrimSpace(lv[j].Value)
			if lv[j].Err != nil {
				continue
			}
			if v == "0" {
				return &Reason{Cause: CauseLimit, Namespace: name, Sysctl: "user.max_" + name + "_namespaces", Value: v,
					UserNS: chain[i].ino, Level: level - i, CallerOwn: i == 0}, nil
			}
			seen = append(seen, fmt.Sprintf("%s=%s in %d", "user.max_"+name+"_namespaces", v, chain[i].ino))
		}
	}
	return nil, fmt.Errorf("no limit on the caller's user namespace chain is 0 (%s) and it is nested %d deep; "+
		"the counts in use are not visible from user space, so which limit was reached cannot be told",
		strings.Join(seen, ", "), level)
}

type userNS struct {
	fd  int
	ino uint32
}

// NS_GET_PARENT (linux/nsfs.h): the parent of a user namespace.
const nsGetParent = 0xb702

// ancestors returns the user namespace fd and its ancestors up to
// ctrace's own, innermost first; it owns fd.
func ancestors(fd int) ([]userNS, error) {
	var self unix.Stat_t
	if err := unix.Stat("/proc/self/ns/user", &self); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ctrace's own user namespace: %w", err)
	}
	var chain []userNS
	for {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return chain, fmt.Errorf("fstat of a user namespace: %w", err)
		}
		chain = append(chain, userNS{fd, uint32(st.Ino)})
		if st.Ino == self.Ino {
			return chain, nil
		}
		if len(chain) > MaxDepth+1 {
			return chain, errors.New("the caller's user namespace is not below ctrace's own")
		}
		p, err := unix.IoctlRetInt(fd, nsGetParent)
		if err != nil {
			return chain, fmt.Errorf("the parent of user namespace %d: %w (is it outside ctrace's own?)", st.Ino, err)
		}
		fd = p
	}
}

// openUserNS opens the caller's user namespace through a process that is
// in it: the caller, its parent, or any other, as the caller has often
// exited (a runtime's child that fails and exits).
func (d *Diagnoser) openUserNS(ev *tracer.Event) (int, error) {
	try := func(pid uint32) int {
		fd, err := unix.Open(fmt.Sprintf("%s/%d/ns/user", d.proc(), pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || uint32(st.Ino) != ev.Proc.UserNS {
			unix.Close(fd)
			return -1
		}
		return fd
	}
	for _, pid := range []uint32{ev.Proc.PID, ev.Proc.PPID} {
		if fd := try(pid); fd >= 0 {
			return fd, nil
		}
	}
	ents, err := os.ReadDir(d.proc())
	if err != nil {
		return -1, fmt.Errorf("reading %s: %w", d.proc(), err)
	}
	want := fmt.Sprintf("user:[%d]", ev.Proc.UserNS)
	for _, e := range ents {
		pid, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil {
			continue
		}
		if l, _ := os.Readlink(filepath.Join(d.proc(), e.Name(), "ns/user")); l == want {
			if fd := try(uint32(pid)); fd >= 0 {
				return fd, nil
			}
		}
	}
	return -1, fmt.Errorf("the caller exited before ctrace could look, and no process is left in its user namespace %d, "+
		"whose limits died with it", ev.Proc.UserNS)
}
