package correlate

import (
	"path"
	"regexp"
	"strings"
)

// ident names a container without asking containerd: what the kernel
// captured with the event (the cgroup path, a runtime's command line) is
// enough to tell which container a process belongs to, even when the
// process, and the container, are gone by the time the event is read.
type ident struct {
	Namespace string // containerd namespace; "" when the path does not say
	ID        string
	PodUID    string // from a kubepods cgroup path
	Source    Source
}

// Source says how an event was tied to its container.
type Source string

// The sources of an attribution, most direct first.
const (
	// SourceCgroup: the cgroup v2 path the kernel read for the task.
	SourceCgroup Source = "cgroup"
	// SourceCmdline: the command line of runc or a containerd shim,
	// read in the kernel (-namespace/-id, --root/--bundle).
	SourceCmdline Source = "cmdline"
	// SourceProc: /proc of the live process or of one of its parents,
	// read in userspace when the event itself did not say.
	SourceProc Source = "proc"
	// SourcePID: the pid is a task or exec process containerd reported.
	SourcePID Source = "pid"
)

var (
	hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// Systemd cgroup driver: kubepods.slice/.../cri-containerd-ID.scope
	// (also docker-ID.scope and crio-ID.scope of other runtimes, which
	// are named so that the id is not mistaken for a containerd one).
	scopeRe = regexp.MustCompile(`^(?:cri-containerd|containerd)-([0-9a-f]{64})\.scope$`)
	// kubepods-burstable-pod1234_5678.slice (systemd) or pod1234-5678
	// (cgroupfs): the pod's UID, with '_' for '-' under systemd.
	podSliceRe = regexp.MustCompile(`^kubepods(?:-[a-z]+)*-pod([0-9a-f_]+)\.slice$`)
	podDirRe   = regexp.MustCompile(`^pod([0-9a-f-]{36})$`)
	// containerd's identifiers (namespaces and container ids): see
	// containerd's pkg/identifiers.
	identRe = regexp.MustCompile(`^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$`)
)

// fromCgroup reads the container out of a cgroup v2 path as the kernel
// reports it ("/default/web-1", "/kubepods.slice/.../cri-containerd-ID.scope",
// "/kubepods/burstable/podUID/ID"). ok is false for paths that name no
// container. Paths with two plain components (/NS/ID, containerd's default
// cgroupsPath without Kubernetes) are only candidates: plausible reports
// whether they look like one; the resolver confirms them against the
// namespaces containerd knows when it can.
func fromCgroup(p string) (id ident, ok bool) {
	if p == "" || p == "/" {
		return ident{}, false
	}
	comps := strings.Split(strings.Trim(p, "/"), "/")
	// Kubernetes, either driver: the leaf-most component that is a
	// container id; the pod UID from the component above it.
	for i := len(comps) - 1; i >= 0; i-- {
		c := comps[i]
		var cid string
		if m := scopeRe.FindStringSubmatch(c); m != nil {
			cid = m[1]
		} else if hex64.MatchString(c) && i > 0 && isKubepods(comps[0]) {
			cid = c
		}
		if cid == "" {
			continue
		}
		id = ident{ID: cid, Source: SourceCgroup}
		for j := i - 1; j >= 0; j-- {
			if m := podSliceRe.FindStringSubmatch(comps[j]); m != nil {
				id.PodUID = strings.ReplaceAll(m[1], "_", "-")
				break
			}
			if m := podDirRe.FindStringSubmatch(comps[j]); m != nil {
				id.PodUID = m[1]
				break
			}
		}
		if isKubepods(comps[0]) {
			// The CRI plugin's namespace; the cache corrects it when
			// containerd knows better.
			id.Namespace = "k8s.io"
		}
		return id, true
	}
	if isKubepods(comps[0]) {
		return ident{}, false // a pod's or QoS class's own cgroup
	}
	// containerd without Kubernetes: /NS/ID, or below it when the
	// container made cgroups of its own.
	if len(comps) >= 2 && plainName(comps[0]) && plainName(comps[1]) {
		return ident{Namespace: comps[0], ID: comps[1], Source: SourceCgroup}, true
	}
	return ident{}, false
}

func isKubepods(c string) bool {
	return c == "kubepods" || c == "kubepods.slice" || strings.HasPrefix(c, "kubepods-")
}

// plainName reports whether a cgroup path component can be a containerd
// namespace or id and is not one of systemd's units (system.slice,
// ssh.service, init.scope, ...), which share the /A/B shape.
func plainName(c string) bool {
	for _, suf := range []string{".slice", ".scope", ".service", ".mount", ".socket", ".swap"} {
		if strings.HasSuffix(c, suf) {
			return false
		}
	}
	return len(c) <= 76 && identRe.MatchString(c)
}

// fromCmdline reads the container out of the command line of a containerd
// shim or of runc as containerd starts them:
//
//	containerd-shim-runc-v2 -namespace NS -address ... -id ID [start]
//	runc --root /run/containerd/runc/NS --log .../NS/ID/log.json ... create --bundle .../NS/ID ... ID
//
// `runc init` carries no id: its stages run in the container's cgroup and
// are attributed by it.
func fromCmdline(argv []string) (ident, bool) {
	if len(argv) == 0 {
		return ident{}, false
	}
	prog := path.Base(argv[0])
	switch {
	case strings.HasPrefix(prog, "containerd-shim"):
		ns, id := flagValue(argv, "namespace"), flagValue(argv, "id")
		if id == "" {
			return ident{}, false
		}
		return ident{Namespace: ns, ID: id, Source: SourceCmdline}, true
	case strings.HasPrefix(prog, "runc"):
		if b := flagValue(argv, "bundle"); b != "" {
			b = strings.TrimRight(b, "/")
			return ident{Namespace: path.Base(path.Dir(b)), ID: path.Base(b), Source: SourceCmdline}, true
		}
		// Every other runc command that containerd runs on a
		// container takes its id as the first argument: start, kill,
		// delete, state, exec, update, pause, resume, ps, events.
		var ns string
		if root := flagValue(argv, "root"); root != "" {
			ns = path.Base(strings.TrimRight(root, "/"))
		}
		cmd, first := runcCommand(argv)
		if cmd == "" || cmd == "init" || first == "" || ns == "" {
			return ident{}, false
		}
		return ident{Namespace: ns, ID: first, Source: SourceCmdline}, true
	}
	return ident{}, false
}

// runcFlagsWithValue are runc's global and per-command flags that take a
// value as the next argument.
var runcFlagsWithValue = map[string]bool{
	"root": true, "log": true, "log-format": true, "criu": true, "rootless": true,
	"bundle": true, "b": true, "pid-file": true, "console-socket": true,
	"process": true, "p": true, "preserve-fds": true, "cwd": true, "env": true,
	"e": true, "user": true, "u": true, "additional-gids": true, "g": true,
	"cap": true, "c": true, "apparmor": true, "process-label": true,
	"signal": true, "s": true, "format": true, "f": true, "r": true,
	"resources": true, "image-path": true, "work-path": true,
}

// runcCommand returns runc's command and its first positional argument.
func runcCommand(argv []string) (cmd, first string) {
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		if strings.HasPrefix(a, "-") {
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && runcFlagsWithValue[name] {
				i++
			}
			continue
		}
		if cmd == "" {
			cmd = a
			continue
		}
		return cmd, a
	}
	return cmd, ""
}

// flagValue returns the value of a Go-style flag (-name V, --name V,
// -name=V, --name=V), or "".
func flagValue(argv []string, name string) string {
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		n := strings.TrimLeft(a, "-")
		if v, ok := strings.CutPrefix(n, name+"="); ok {
			return v
		}
		if n == name && i+1 < len(argv) {
			return argv[i+1]
		}
	}
	return ""
}
