package tracer

import (
	"fmt"
	"iter"

	"github.com/ctrace-dev/ctrace/tracer/jsonw"
)

// Reason is one explanation of why a call failed. Each kind is one type
// that holds its fields and says how it reads: the kinds the kernel
// reports are below; those found after the call live with their finders
// (internal/permission, internal/netns, internal/busy). docs/design.md has the checklist
// for a new kind, and ReasonKinds names them all.
type Reason interface {
	// Kind names the layer that refused the call; JSON's "kind".
	Kind() ReasonKind
	// Text says in words why ev failed, as one bracket of the text line
	// shows it ("seccomp: blocked by the process's seccomp filter"). The
	// words are as the node gave them: a text line escapes them, JSON
	// quotes them.
	Text(ev *Event) string
	// AppendJSON appends the kind's own members to the reason's JSON
	// object, which holds "kind" already.
	AppendJSON(b []byte) []byte
}

// ReasonKind names the layer that refused a call.
type ReasonKind string

// The reason kinds.
const (
	ReasonSeccomp    ReasonKind = "seccomp"
	ReasonCapability ReasonKind = "capability"
	ReasonKernelLog  ReasonKind = "kernel_log"
	ReasonLSM        ReasonKind = "lsm"
	// ReasonNetNS: the call named a network namespace file; what state
	// the file is in and whose namespace it was (internal/netns).
	ReasonNetNS ReasonKind = "netns"
	// ReasonPermission is found in user space (internal/permission), not
	// by the kernel: the path component whose owner and mode refused the
	// caller.
	ReasonPermission ReasonKind = "permission"
	// ReasonNSLimit (internal/nslimit): the namespace limit, nesting
	// depth or node policy that refused a new namespace.
	ReasonNSLimit ReasonKind = "ns_limit"
	// ReasonIDMap (internal/idmap): why a mount could not be idmapped.
	ReasonIDMap ReasonKind = "idmap"
	// ReasonBusy: the mount an unmount or a removal needed free is held;
	// who holds it, looked up after the call (internal/busy).
	ReasonBusy ReasonKind = "busy"
	// ReasonExec: what the header of the file an exec named says
	// (internal/binfmt): a missing interpreter, another machine's ELF.
	ReasonExec ReasonKind = "exec"
)

// ReasonKinds are all the kinds, found in the kernel or after the call:
// the list the tests hold rendering, metrics labels, the schema and the
// golden files against.
var ReasonKinds = []ReasonKind{ReasonSeccomp, ReasonCapability, ReasonKernelLog, ReasonLSM, ReasonNetNS, ReasonPermission,
	ReasonNSLimit, ReasonIDMap, ReasonBusy, ReasonExec}

// ReasonsOf yields the event's reasons of type T, in order.
func ReasonsOf[T Reason](ev *Event) iter.Seq[T] {
	return func(yield func(T) bool) {
		for _, r := range ev.Reasons {
			if t, ok := r.(T); ok && !yield(t) {
				return
			}
		}
	}
}

// FirstReason returns the event's first reason of type T.
func FirstReason[T Reason](ev *Event) (T, bool) {
	for t := range ReasonsOf[T](ev) {
		return t, true
	}
	var zero T
	return zero, false
}

// SeccompReason: the call was refused by the process's seccomp filter
// (it reached the syscall's exit without its entry: the kernel runs
// seccomp before the entry tracepoint).
type SeccompReason struct{}

// Kind implements Reason.
func (SeccompReason) Kind() ReasonKind { return ReasonSeccomp }

// Text implements Reason.
func (SeccompReason) Text(*Event) string {
	return "seccomp: blocked by the process's seccomp filter"
}

// AppendJSON implements Reason: the kind says it all.
func (SeccompReason) AppendJSON(b []byte) []byte { return b }

// CapabilityReason: a capability check the kernel made during the call
// and denied, the user namespace it was checked against, and the caller's
// own user namespace.
type CapabilityReason struct {
	Cap            string // "CAP_SYS_ADMIN"
	UserNS         uint32
	InitUserNS     bool
	UserNSOwnerUID uint32
	CallerUserNS   uint32
	CallerUIDMap   IDMap // the caller's user namespace's uid_map
}

// Kind implements Reason.
func (*CapabilityReason) Kind() ReasonKind { return ReasonCapability }

// Text says which capability was missing where, and what the caller is in
// its own user namespace: that tells "not root" from "root, but only in a
// container's user namespace".
//
//	capability: CAP_SYS_ADMIN needed in the initial user namespace; caller is root only in user namespace 4026532201 (0 -> 100000, 65536 ids)
func (r *CapabilityReason) Text(ev *Event) string {
	where := "the initial user namespace"
	if !r.InitUserNS {
		where = fmt.Sprintf("user namespace %d (owner uid %d)", r.UserNS, r.UserNSOwnerUID)
	}
	if r.CallerUserNS == r.UserNS {
		return fmt.Sprintf("capability: %s missing in %s (caller uid %d)", r.Cap, where, ev.Proc.UID)
	}
	inner, ok := r.CallerUIDMap.Inside(ev.Proc.UID)
	who := fmt.Sprintf("caller is uid %d (unmapped)", ev.Proc.UID)
	switch {
	case ok && inner == 0:
		who = "caller is root only"
	case ok:
		who = fmt.Sprintf("caller is uid %d only", inner)
	}
	s := fmt.Sprintf("capability: %s needed in %s; %s in user namespace %d", r.Cap, where, who, r.CallerUserNS)
	if len(r.CallerUIDMap) > 0 {
		// The first extent: for a container, the one that maps its root.
		s += " (" + r.CallerUIDMap[0].Arrow() + ")"
	}
	return s
}

// AppendJSON implements Reason.
func (r *CapabilityReason) AppendJSON(b []byte) []byte {
	b = jsonw.StrLit(b, `"cap":`, r.Cap)
	b = jsonw.UintLit(b, `"userns":`, uint64(r.UserNS))
	b = jsonw.BoolLit(b, `"init_userns":`, r.InitUserNS)
	b = jsonw.UintLit(b, `"userns_owner_uid":`, uint64(r.UserNSOwnerUID))
	b = jsonw.UintLit(b, `"caller_userns":`, uint64(r.CallerUserNS))
	return r.CallerUIDMap.AppendJSON(b, `"caller_uid_map":`)
}

// KernelLogReason: one line the kernel logged for the task during the
// call.
type KernelLogReason struct {
	Message string
}

// Kind implements Reason.
func (*KernelLogReason) Kind() ReasonKind { return ReasonKernelLog }

// Text implements Reason.
func (r *KernelLogReason) Text(*Event) string { return "kernel: " + r.Message }

// AppendJSON implements Reason.
func (r *KernelLogReason) AppendJSON(b []byte) []byte {
	return jsonw.StrLit(b, `"message":`, r.Message)
}

// LSMReason: the hook or operation that denied the call, the LSM, and
// what the LSM said about it. The kernel's verdict names the hook; the
// LSM is the one active LSM that can deny, or comes from its audit
// record (internal/audit).
type LSMReason struct {
	Hook   string
	LSM    string
	Detail string
}

// Kind implements Reason.
func (*LSMReason) Kind() ReasonKind { return ReasonLSM }

// Text implements Reason.
func (r *LSMReason) Text(*Event) string {
	s := "lsm: " + r.LSM + " denied " + r.Hook
	if r.Detail != "" {
		s += ": " + r.Detail
	}
	return s
}

// AppendJSON implements Reason.
func (r *LSMReason) AppendJSON(b []byte) []byte {
	b = jsonw.StrLit(b, `"hook":`, r.Hook)
	b = jsonw.StrLit(b, `"lsm":`, r.LSM)
	return jsonw.StrLit(b, `"detail":`, r.Detail)
}
