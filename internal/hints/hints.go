// Package hints turns the reasons of a failed call into what to do about
// it: one sentence that says what is wrong and how to fix it.
//
// The rules are one table. Each rule names the evidence it requires, all
// of it found by ctrace on the call itself (its reasons, arguments and
// container), and gives no hint without it: a hint is advice built on a
// diagnosis, never a guess at one.
package hints

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/permission"
	"github.com/ctrace-dev/ctrace/tracer"
)

// Hint is one piece of advice on an event.
type Hint struct {
	// Rule names the rule that gave it ("userns-unmapped-owner").
	Rule string
	Text string
}

// Rule is one kind of advice.
type Rule struct {
	Name string
	// Evidence says what the rule requires of an event.
	Evidence string
	// hint returns the advice for ev of container c (nil on the host),
	// or "" when the evidence is not there.
	hint func(ev *tracer.Event, c *correlate.Container) string
}

// Rules is the table, in the order hints are listed.
var Rules = []Rule{
	{
		Name: "userns-unmapped-owner",
		Evidence: "a permission reason whose component's owner is not mapped in the caller's user namespace " +
			"(root there has no DAC override over such files)",
		hint: unmappedOwner,
	},
	{
		Name: "mount-needs-init-userns",
		Evidence: "a mount-family call refused for a missing CAP_SYS_ADMIN in a user namespace other than the caller's, " +
			"by a caller that is root in its own user namespace",
		hint: mountNeedsInitUserNS,
	},
	{
		Name:     "seccomp-profile",
		Evidence: "a seccomp reason: the call left without entering the kernel, which only a seccomp filter does",
		hint:     seccompProfile,
	},
	{
		Name: "overlay-lowerdir-unreadable",
		Evidence: "an overlay mount refused with EACCES and a permission reason on one of its lowerdir, upperdir or " +
			"workdir paths",
		hint: overlayDirRefused,
	},
	{
		Name: "stale-netns",
		Evidence: "a netns reason with state stale: the call named a network namespace file that exists but has " +
			"no namespace mounted on it (statfs does not report nsfs)",
		hint: staleNetNS,
	},
	{
		Name:     "ns-limit",
		Evidence: "an ns_limit reason: a max_*_namespaces limit of 0 on the caller's user namespace chain, or its nesting depth",
		hint:     nsLimit,
	},
	{
		Name:     "userns-policy",
		Evidence: "an ns_limit reason of cause policy: a node sysctl that forbids the unprivileged caller user namespaces",
		hint:     userNSPolicy,
	},
	{
		Name: "idmap-unsupported-fs",
		Evidence: "an idmap reason of cause fs_unsupported: the kernel, asked after the call, refused to idmap a " +
			"detached copy of the mount",
		hint: idmapUnsupported,
	},
	{
		Name: "busy-mount",
		Evidence: "a busy reason: after the call, a process held the mount or a copy of it that an unmount reaches, " +
			"a mount was on it, or (for a removal) the path was a mount point",
		hint: busyMount,
	},
	{
		Name:     "exec-interpreter-missing",
		Evidence: "an exec reason: the file exists, and the interpreter its ELF or #! header names does not, in the caller's view",
		hint:     execInterpreterMissing,
	},
	{
		Name:     "exec-foreign-machine",
		Evidence: "an exec reason: ENOEXEC of an ELF whose machine is not the node's, and no binfmt_misc handler that takes it",
		hint:     execForeignMachine,
	},
	{
		Name:     "exec-unknown-format",
		Evidence: "an exec reason: ENOEXEC of a file with neither ELF magic nor a #! line",
		hint:     execUnknownFormat,
	},
}

// For returns the hints for an event of container c (nil on the host).
func For(ev *tracer.Event, c *correlate.Container) []Hint {
	if !ev.Failed() || len(ev.Reasons) == 0 {
		return nil
	}
	var out []Hint
	for i := range Rules {
		if text := Rules[i].hint(ev, c); text != "" {
			out = append(out, Hint{Rule: Rules[i].Name, Text: text})
		}
	}
	return out
}

func uidMap(m tracer.IDMap) permission.IDMap { return permission.IDMap(m) }

func unmappedOwner(ev *tracer.Event, c *correlate.Container) string {
	r, ok := tracer.FirstReason[*permission.Reason](ev)
	if !ok || r.OwnerMapped || len(r.CallerUIDMap) == 0 || overlayDir(r) {
		return "" // an overlay's directories have their own rule
	}
	m := uidMap(r.CallerUIDMap)
	if c == nil {
		return fmt.Sprintf("%s is owned by host uid %d, which the caller's user namespace (%s) does not map, so even root "+
			"there cannot %s it. Map that owner into the namespace, or chown the files into the ids it maps.",
			r.Path, r.OwnerUID, m.Short(), r.Need)
	}
	if sn := r.Snapshot; sn != nil && sn.Labels[permission.LabelUIDMapping] != "" {
		// The labels asked for a shift the files do not show.
		return fmt.Sprintf("%s is owned by host uid %d, which container %s's user namespace (%s) does not map, so even root "+
			"there cannot %s it: its snapshot %s carries the remap label %s=%s, but the %s snapshotter did not "+
			"shift the files. Use a snapshotter that applies the remap labels (or idmapped mounts, on a kernel and "+
			"containerd that support them), or a snapshot chowned to the container's ids (ctr run without --remap-labels).",
			r.Path, r.OwnerUID, c.String(), m.Short(), r.Need, sn.Key, permission.LabelUIDMapping, sn.Labels[permission.LabelUIDMapping], sn.Snapshotter)
	}
	return fmt.Sprintf("%s is owned by host uid %d, which container %s's user namespace (%s) does not map, so even root "+
		"there cannot %s it: the container's files were not shifted to its ids. Give it a snapshot remapped to its "+
		"uid map (a snapshotter that applies the remap labels, or ctr run without --remap-labels so that ctr chowns "+
		"it), or an idmapped rootfs mount (a kernel and snapshotter that support them).",
		r.Path, r.OwnerUID, c.String(), m.Short(), r.Need)
}

// overlayDir reports whether a permission reason is on an overlay mount's
// lowerdir, upperdir or workdir.
func overlayDir(r *permission.Reason) bool {
	switch r.Arg {
	case "lowerdir", "upperdir", "workdir":
		return true
	}
	return false
}

func mountNeedsInitUserNS(ev *tracer.Event, _ *correlate.Container) string {
	if ev.Family != tracer.FamilyMount {
		return ""
	}
	for r := range tracer.ReasonsOf[*tracer.CapabilityReason](ev) {
		if r.Cap != "CAP_SYS_ADMIN" || r.CallerUserNS == r.UserNS || len(r.CallerUIDMap) == 0 {
			continue
		}
		if inner, ok := uidMap(r.CallerUIDMap).Inside(ev.Proc.UID); !ok || inner != 0 {
			continue
		}
		where := "the initial user namespace"
		if !r.InitUserNS {
			where = fmt.Sprintf("user namespace %d", r.UserNS)
		}
		return fmt.Sprintf("%s needs CAP_SYS_ADMIN over the mount namespace, which belongs to %s; the caller is root only in "+
			"user namespace %d. Mount from a mount namespace created inside that user namespace (unshare -m after -U, "+
			"as a container's own), or run the mount in the initial user namespace.", ev.Syscall, where, r.CallerUserNS)
	}
	return ""
}

func seccompProfile(ev *tracer.Event, c *correlate.Container) string {
	if _, ok := tracer.FirstReason[tracer.SeccompReason](ev); !ok {
		return ""
	}
	if c == nil {
		return fmt.Sprintf("the process's seccomp filter refuses %s: if the program needs it, allow %s in the filter it was started with.",
			ev.Syscall, ev.Syscall)
	}
	return fmt.Sprintf("container %s's seccomp profile refuses %s: if the workload needs it, add %q to an SCMP_ACT_ALLOW "+
		"rule of a custom profile (Kubernetes: securityContext.seccompProfile of type Localhost; ctr: --seccomp-profile) "+
		"rather than running unconfined.", c.String(), ev.Syscall, ev.Syscall)
}

func overlayDirRefused(ev *tracer.Event, _ *correlate.Container) string {
	if ev.Syscall != "mount" || ev.Errno != unix.EACCES || fstype(ev) != "overlay" {
		return ""
	}
	r, ok := tracer.FirstReason[*permission.Reason](ev)
	if !ok || !overlayDir(r) {
		return ""
	}
	uid := fmt.Sprintf("uid %d", r.CallerUID)
	if len(r.CallerUIDMap) > 0 {
		if inner, ok := uidMap(r.CallerUIDMap).Inside(r.CallerUID); ok && inner == 0 {
			uid = fmt.Sprintf("host uid %d (root of its user namespace)", r.CallerUID)
		}
	}
	if sn := r.Snapshot; sn != nil {
		// Opening a snapshotter's directory to others would expose
		// every container's files: the fix is on the mounter's side.
		of := ""
		if sn.Image != "" {
			of = " of " + sn.Image
		}
		return fmt.Sprintf("the overlay's %s is containerd's %s snapshot %s (%s%s), which the mounter, %s, cannot "+
			"reach: %s (%d:%d %04o) refuses %s. The snapshotter keeps its snapshots for root of the initial user "+
			"namespace; do not open its directories to others: mount from the initial user namespace (as containerd "+
			"mounts a container's rootfs), or have the snapshots prepared for the user namespace (a snapshotter that "+
			"applies the remap labels, or idmapped mounts).",
			r.Arg, sn.Snapshotter, sn.Key, sn.Kind, of, uid, r.Path, r.OwnerUID, r.OwnerGID, r.Mode, r.Need)
	}
	return fmt.Sprintf("the overlay's %s cannot be reached by the mounter, %s: %s (%d:%d %04o) refuses %s. "+
		"Make every directory on the way searchable by the mounter (or owned by ids its user namespace maps), "+
		"or take the %s from a place it can reach.", r.Arg, uid, r.Path, r.OwnerUID, r.OwnerGID, r.Mode, r.Need, r.Arg)
}

func fstype(ev *tracer.Event) string {
	for i := range ev.Args {
		if ev.Args[i].Name == "fstype" && ev.Args[i].Kind == tracer.KindString {
			return strings.TrimSpace(ev.Args[i].Str)
		}
	}
	return ""
}
