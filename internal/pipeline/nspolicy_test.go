package pipeline

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/nslimit"
	"github.com/ctrace-dev/ctrace/tracer"
)

// The node policy sysctls, as /proc/sys shows them. Debian's kernels carry
// unprivileged_userns_clone (a Debian patch, on by default); Ubuntu's
// AppArmor adds apparmor_restrict_unprivileged_userns.
const (
	unprivUsernsClone = "/proc/sys/kernel/unprivileged_userns_clone"
	appArmorUserns    = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"
)

// nobody runs a child as uid and gid 65534: a caller without
// CAP_SYS_ADMIN in the initial user namespace, whom the policy binds.
func nobody() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
}

// TestNSPolicyReal turns kernel.unprivileged_userns_clone off, where the
// kernel has it, and holds the policy reason and its hint to a real
// refusal every time: an unprivileged caller's unshare(CLONE_NEWUSER)
// fails EPERM. The same EPERM from a seccomp filter gets no policy
// reason, and root, whom the policy does not bind, makes its user
// namespace and is not reported at all.
func TestNSPolicyReal(t *testing.T) {
	for _, p := range []string{unprivUsernsClone, appArmorUserns} {
		if b, err := os.ReadFile(p); err == nil {
			t.Logf("%s = %s", p, strings.TrimSpace(string(b)))
		} else {
			t.Logf("%s: %v", p, err)
		}
	}
	old, err := os.ReadFile(unprivUsernsClone)
	if errors.Is(err, fs.ErrNotExist) {
		// Only patched kernels have it (Debian's, Ubuntu's): an upstream
		// kernel has no such policy to test.
		t.Skipf("skipped: this kernel has no %s (a Debian kernel patch, not upstream): no unprivileged_userns_clone policy to refuse a user namespace", unprivUsernsClone)
	}
	if err != nil {
		t.Fatal(err)
	}
	tg := trace(t, NewNSLimit(""))
	if err := os.WriteFile(unprivUsernsClone, []byte("0"), 0); err != nil {
		t.Fatalf("turning the policy on: %v", err)
	}
	// Restored however the test ends: the node's other tests need user
	// namespaces.
	t.Cleanup(func() {
		if err := os.WriteFile(unprivUsernsClone, old, 0); err != nil {
			t.Errorf("restoring %s to %s: %v", unprivUsernsClone, strings.TrimSpace(string(old)), err)
		}
	})

	// refused makes nobody's forked child fail unshare(CLONE_NEWUSER)
	// with EPERM and returns its event.
	refused := func(t *testing.T) *Event {
		t.Helper()
		pid := call(t, "newuser-forked", nobody(), unix.EPERM)
		return tg.waitT(t, -pid, "unshare")
	}
	t.Run("unprivileged caller", func(t *testing.T) {
		for range repeat {
			ev := refused(t)
			r := nsReason(t, ev)
			if r.Cause != nslimit.CausePolicy || r.Sysctl != "kernel.unprivileged_userns_clone" || r.Value != "0" {
				t.Fatalf("reason %+v, want cause policy, kernel.unprivileged_userns_clone 0", r)
			}
			if ev.Proc.UID != 65534 {
				t.Fatalf("caller uid %d, want 65534", ev.Proc.UID)
			}
			if text := r.Text(ev.Event); !strings.Contains(text, "kernel.unprivileged_userns_clone is 0") {
				t.Fatalf("text %q names neither the sysctl nor its value", text)
			}
			if !hint(ev, "userns-policy") || hint(ev, "ns-limit") {
				t.Fatalf("hints %+v, want userns-policy alone", ev.Hints)
			}
		}
		t.Logf("%s", nsReason(t, refused(t)).Text(nil))
	})
	t.Run("negative: seccomp", func(t *testing.T) {
		// The filter refuses before the kernel looks at the policy, which
		// would refuse nobody as well: the seccomp reason is the one.
		for range repeat {
			pid := call(t, "seccomp-newuser", nobody(), unix.EPERM)
			ev := tg.waitT(t, pid, "unshare")
			if _, ok := tracer.FirstReason[tracer.SeccompReason](ev.Event); !ok {
				t.Fatalf("reasons %v: want a seccomp reason", ev.Reasons)
			}
			if _, ok := tracer.FirstReason[*nslimit.Reason](ev.Event); ok || hint(ev, "userns-policy") {
				t.Fatalf("reasons %v, hints %+v: want no ns_limit reason and no userns-policy hint", ev.Reasons, ev.Hints)
			}
		}
	})
	t.Run("negative: root", func(t *testing.T) {
		// The kernel checks CAP_SYS_ADMIN in the initial user namespace
		// when the policy is off: root makes its user namespace.
		for range repeat {
			pid := call(t, "newuser-forked", nil, 0)
			// A refusal made after root's call and seen means root's
			// call, had it failed, would have been seen too.
			refused(t)
			if ev := tg.take(-pid, "unshare"); ev != nil {
				t.Fatalf("root's unshare reported: %s %v, reasons %v", ev.Syscall, ev.Errno, ev.Reasons)
			}
		}
	})
}
