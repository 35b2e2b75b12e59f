package hints

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/idmap"
	"github.com/ctrace-dev/ctrace/internal/nslimit"
	"github.com/ctrace-dev/ctrace/tracer"
)

// TestNSRulesNegative: the same errno with another cause, or another
// cause of the same kind, gets none of these rules' hints (the real
// failures are in internal/pipeline's TestNSLimitReal and TestIDMapReal).
func TestNSRulesNegative(t *testing.T) {
	ev := func(syscall string, errno unix.Errno, rs ...tracer.Reason) *tracer.Event {
		return &tracer.Event{Syscall: syscall, Errno: errno, Ret: -int64(errno), Reasons: rs}
	}
	for name, tt := range map[string]struct {
		ev   *tracer.Event
		want string
	}{
		"ENOSPC, no reason":         {ev("unshare", unix.ENOSPC), ""},
		"ENOSPC, a kernel log line": {ev("unshare", unix.ENOSPC, &tracer.KernelLogReason{Message: "m"}), ""},
		"EPERM, seccomp":            {ev("unshare", unix.EPERM, tracer.SeccompReason{}), "seccomp-profile"},
		"policy":                    {ev("unshare", unix.EPERM, &nslimit.Reason{Cause: nslimit.CausePolicy, Sysctl: "kernel.unprivileged_userns_clone", Value: "0"}), "userns-policy"},
		"limit":                     {ev("clone", unix.ENOSPC, &nslimit.Reason{Cause: nslimit.CauseLimit, Namespace: "user", Sysctl: "user.max_user_namespaces", Value: "0"}), "ns-limit"},
		"EINVAL, attached":          {ev("mount_setattr", unix.EINVAL, &idmap.Reason{Cause: idmap.CauseAttached, FSType: "tmpfs"}), ""},
		"EINVAL, not a userns":      {ev("mount_setattr", unix.EINVAL, &idmap.Reason{Cause: idmap.CauseNotUserNS, Target: "pipe:[1]"}), ""},
		"EINVAL, unsupported":       {ev("mount_setattr", unix.EINVAL, &idmap.Reason{Cause: idmap.CauseUnsupported, FSType: "ramfs"}), "idmap-unsupported-fs"},
	} {
		hs := For(tt.ev, nil)
		switch {
		case tt.want == "" && len(hs) != 0:
			t.Errorf("%s: hints %+v, want none", name, hs)
		case tt.want != "" && (len(hs) != 1 || hs[0].Rule != tt.want):
			t.Errorf("%s: hints %+v, want one %s", name, hs, tt.want)
		}
	}
}
