package hints

import (
	"fmt"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/idmap"
	"github.com/ctrace-dev/ctrace/internal/nslimit"
	"github.com/ctrace-dev/ctrace/tracer"
)

// nsLimit: the limit is raised in the user namespace that holds it, by
// root of that namespace (or of an ancestor); the initial one's is the
// node's sysctl.
func nsLimit(ev *tracer.Event, c *correlate.Container) string {
	r, ok := tracer.FirstReason[*nslimit.Reason](ev)
	if !ok {
		return ""
	}
	who := "the caller"
	if c != nil {
		who = "container " + c.String()
	}
	switch r.Cause {
	case nslimit.CauseDepth:
		return fmt.Sprintf("%s runs %d user namespaces deep, the most the kernel nests: it cannot make another. "+
			"Make the namespace from a shallower one (fewer nested containers or sandboxes), not from inside it.", who, r.Level)
	case nslimit.CauseLimit:
		if r.Level == 0 {
			return fmt.Sprintf("%s is 0 on the node: raise it (sysctl -w %s=15000, and in /etc/sysctl.d to keep it) "+
				"if %s is meant to make %s namespaces.", r.Sysctl, r.Sysctl, who, r.Namespace)
		}
		return fmt.Sprintf("%s is 0 in user namespace %d, set there by whatever runs as its root (%s's runtime, "+
			"entrypoint or a sandbox): raise it in that namespace (echo N > /proc/sys/user/max_%s_namespaces as its root); "+
			"the node's own value does not lift it.", r.Sysctl, r.UserNS, who, r.Namespace)
	}
	return ""
}

// userNSPolicy: the node forbids unprivileged user namespaces.
func userNSPolicy(ev *tracer.Event, c *correlate.Container) string {
	r, ok := tracer.FirstReason[*nslimit.Reason](ev)
	if !ok || r.Cause != nslimit.CausePolicy {
		return ""
	}
	who := "the caller"
	if c != nil {
		who = "container " + c.String()
	}
	switch r.Sysctl {
	case "kernel.apparmor_restrict_unprivileged_userns":
		return fmt.Sprintf("the node's AppArmor refuses user namespaces to unprivileged programs: give %s an AppArmor "+
			"profile that allows userns, or set %s=0 on the node.", who, r.Sysctl)
	}
	return fmt.Sprintf("the node forbids user namespaces to unprivileged processes (%s=%s): set it to 1 "+
		"(sysctl -w %s=1) if %s is meant to make them, or run it with CAP_SYS_ADMIN.", r.Sysctl, r.Value, r.Sysctl, who)
}

// idmapUnsupported: the file system cannot be idmapped on this kernel.
func idmapUnsupported(ev *tracer.Event, c *correlate.Container) string {
	r, ok := tracer.FirstReason[*idmap.Reason](ev)
	if !ok || r.Cause != idmap.CauseUnsupported {
		return ""
	}
	fs := r.FSType
	if fs == "" {
		fs = "its file system"
	}
	who := "the pod's volume"
	if c != nil && c.Pod != "" {
		who = fmt.Sprintf("a volume of pod %s/%s", c.PodNamespace, c.Pod)
	}
	return fmt.Sprintf("%s cannot be idmapped on this node: %s does not support idmapped mounts on this kernel. "+
		"Run that workload with hostUsers: true, or put the volume on a file system that supports them "+
		"(ext4, xfs, btrfs; tmpfs from 6.3; FUSE only where the server allows it).", who, fs)
}
