package render

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/benign"
	"github.com/ctrace-dev/ctrace/internal/binfmt"
	"github.com/ctrace-dev/ctrace/internal/busy"
	"github.com/ctrace-dev/ctrace/internal/hints"
	"github.com/ctrace-dev/ctrace/internal/idmap"
	"github.com/ctrace-dev/ctrace/internal/mountref"
	"github.com/ctrace-dev/ctrace/internal/netns"
	"github.com/ctrace-dev/ctrace/internal/nslimit"
	"github.com/ctrace-dev/ctrace/internal/permission"
	"github.com/ctrace-dev/ctrace/tracer"
)

const schemaDoc = "../../docs/json-schema.md"

// schemaSections splits docs/json-schema.md into the parts that document
// each object: the event itself, args, proc, reasons and container.
func schemaSections(t *testing.T) (map[string]string, string) {
	t.Helper()
	b, err := os.ReadFile(schemaDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	heads := []struct{ name, head string }{
		{"event", "\n## Event\n"},
		{"args", "\n### `args`\n"},
		{"proc", "\n### `proc`\n"},
		{"reasons", "\n### `reasons`\n"},
		{"container", "\n### `container`\n"},
		{"examples", "\n## Examples\n"},
	}
	secs := map[string]string{}
	for i, h := range heads {
		start := strings.Index(doc, h.head)
		if start < 0 {
			t.Fatalf("%s has no heading %q", schemaDoc, strings.TrimSpace(h.head))
		}
		end := len(doc)
		if i+1 < len(heads) {
			if end = strings.Index(doc, heads[i+1].head); end < start {
				t.Fatalf("%s: heading %q must follow %q", schemaDoc, strings.TrimSpace(heads[i+1].head), strings.TrimSpace(h.head))
			}
		}
		secs[h.name] = doc[start:end]
	}
	return secs, doc
}

// documented reports whether a section names a field as `field`.
func documented(sec, field string) bool {
	return strings.Contains(sec, "`"+field+"`")
}

// fullEvent has every optional part the renderer can print.
func fullEvent() *tracer.Event {
	data := tracer.Arg{Name: "data", Kind: tracer.KindString, Raw: 1, Str: "x", Read: true, Truncated: true}
	return &tracer.Event{
		Time: time.Unix(0, 0), Syscall: "move_mount", Family: tracer.FamilyMount, Ret: -1, Errno: unix.EPERM,
		Proc: tracer.Proc{PID: 1, TID: 2, PPID: 3, Comm: "runc:[2:INIT]", CgroupID: 9,
			Cgroup: "/default/x", Cmdline: []string{"runc", "init"}},
		Args: []tracer.Arg{
			{Name: "from_dirfd", Kind: tracer.KindFD, Raw: uint64(unix.AT_FDCWD & 0xffffffff)},
			{Name: "to_dirfd", Kind: tracer.KindFD, Raw: 4, Str: "/x", Read: true},
			data,
		},
		Reasons: []tracer.Reason{
			tracer.SeccompReason{},
			&tracer.CapabilityReason{Cap: "CAP_SYS_ADMIN", UserNS: 1, CallerUserNS: 2, CallerUIDMap: tracer.IDMap{{Inside: 0, Outside: 1000, Count: 1}}},
			&tracer.KernelLogReason{Message: "m"},
			&tracer.LSMReason{LSM: "landlock", Hook: "fs.read_file", Detail: "d"},
			// Stale and named by a sandbox: the stale-netns hint too.
			&netns.Reason{Path: "/run/netns/cni-1", State: "stale",
				Owner: &netns.ContainerRef{ID: "s", Namespace: "k8s.io", Pod: "p", PodNamespace: "n", State: "running"}},
			&nslimit.Reason{Cause: nslimit.CauseLimit, Namespace: "user", Sysctl: "user.max_user_namespaces", Value: "0",
				UserNS: 3, Level: 1, CallerOwn: true},
			&idmap.Reason{Cause: idmap.CauseNotUserNS, FSType: "ramfs", Target: "pipe:[1]"},
			&busy.Reason{Path: "/run/netns/cni-1", Removing: true,
				Mount:     mountref.Mount{ID: 812, FSType: "nsfs", Source: "nsfs", Root: "net:[1]", Point: "/run/netns/cni-1"},
				Holders:   []busy.Holder{{Holder: mountref.Holder{Process: mountref.Process{PID: 5, Comm: "c"}, MountNS: 9, MountID: 901, How: "cwd", Path: "/"}, Copy: true, Point: "/run/netns/cni-1", Container: &busy.Container{ID: "s", Namespace: "k8s.io", Pod: "p", PodNamespace: "n"}}},
				Submounts: []string{"/run/netns/cni-1/x"},
				Copies:    []busy.Copy{{MountNS: 10, Point: "/run/netns/cni-1", Procs: []mountref.Process{{PID: 6, Comm: "d"}}, NProcs: 1, Container: &busy.Container{ID: "m", Namespace: "default"}}},
				More:      1},
			&permission.Reason{Path: "/etc", Arg: "path", Need: "write", Mode: 0o755, CallerUID: 100000,
				CallerUserNS: 2, CallerUIDMap: tracer.IDMap{{Inside: 0, Outside: 100000, Count: 65536}},
				MountRO: true, MountNoexec: true, Idmapped: true, Checked: "after", Via: "proc", SnapshotOfArg: true,
				Snapshot: &tracer.Snapshot{Snapshotter: "overlayfs", Key: "k", Kind: "active", Container: "c", Image: "i", Labels: map[string]string{"l": "v"}}},
			&binfmt.Reason{Path: "/a", Problem: binfmt.UnknownFormat, File: "/b", Format: "script", Interpreter: "/c\r", CRLF: true,
				Machine: "aarch64", NodeMachine: "x86_64", BinfmtMisc: binfmt.BinfmtHandlerOff, Handler: "qemu-aarch64", Checked: "after", Via: "proc"},
		},
	}
}

// TestSchemaDocumented renders an event with every optional field set and
// checks that docs/json-schema.md documents each field the renderer
// prints, in the section of the object that holds it.
func TestSchemaDocumented(t *testing.T) {
	secs, _ := schemaSections(t)
	var buf bytes.Buffer
	full, c := fullEvent(), fullContainer()
	New("json", &buf, false).Event(full, Findings{Container: c, Benign: &benign.Rules[0], Hints: hints.For(full, c)})
	var ev map[string]any
	if err := json.Unmarshal(buf.Bytes(), &ev); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	var missing []string
	need := func(sec, field string) {
		if !documented(secs[sec], field) {
			missing = append(missing, sec+"."+field)
		}
	}
	for k, v := range ev {
		need("event", k)
		switch k {
		case "args":
			// Argument names are the man pages'; what needs saying is
			// the shape of descriptor objects.
			for _, a := range v.(map[string]any) {
				if fd, ok := a.(map[string]any); ok {
					for f := range fd {
						need("args", f)
					}
				}
			}
		case "proc":
			for f := range v.(map[string]any) {
				need("proc", f)
			}
		case "reasons":
			kinds := map[string]bool{}
			for _, r := range v.([]any) {
				for f, fv := range r.(map[string]any) {
					need("reasons", f)
					if sn, ok := fv.(map[string]any); ok && f == "snapshot" {
						for sf := range sn {
							need("reasons", sf)
						}
					}
				}
				kind := r.(map[string]any)["kind"].(string)
				kinds[kind] = true
				need("reasons", kind)
			}
			for _, k := range tracer.ReasonKinds {
				if !kinds[string(k)] {
					t.Errorf("fullEvent has no reason of kind %s (tracer.ReasonKinds): add one", k)
				}
			}
		case "hints":
			for _, h := range v.([]any) {
				for f := range h.(map[string]any) {
					need("event", f)
				}
			}
		case "container":
			if c, ok := v.(map[string]any); ok {
				for f := range c {
					need("container", f)
				}
			}
		}
	}
	for _, k := range []string{"truncated", "hints", "benign", "benign_rule"} {
		if _, ok := ev[k]; !ok {
			t.Errorf("fullEvent does not make the renderer print %q", k)
		}
	}
	// Every reason field of tracer.Reason has its JSON name documented.
	for _, f := range []string{"cap", "userns", "init_userns", "userns_owner_uid", "caller_userns", "caller_uid_map", "message", "hook", "lsm", "detail", "path", "state", "container_state"} {
		need("reasons", f)
	}
	// So do the container's, which the containerd correlation fills.
	for _, f := range []string{"id", "namespace", "image", "runtime", "shim_pid", "labels", "pod", "pod_namespace", "pod_uid", "container_name"} {
		need("container", f)
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%s does not document: %v", schemaDoc, missing)
	}
}

// TestSchemaExamples: the examples in docs/json-schema.md parse, have every
// field an event always has, and use only documented field names.
func TestSchemaExamples(t *testing.T) {
	secs, _ := schemaSections(t)
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(secs["examples"], -1)
	families := map[string]bool{}
	for i, b := range blocks {
		var ev map[string]any
		if err := json.Unmarshal([]byte(b[1]), &ev); err != nil {
			t.Errorf("example %d does not parse: %v\n%s", i+1, err, b[1])
			continue
		}
		for _, k := range []string{"time", "syscall", "family", "ret", "args", "proc", "reasons", "container"} {
			if _, ok := ev[k]; !ok {
				t.Errorf("example %d (%v) has no %q", i+1, ev["syscall"], k)
			}
		}
		for k := range ev {
			if !documented(secs["event"], k) {
				t.Errorf("example %d (%v): field %q is not documented", i+1, ev["syscall"], k)
			}
		}
		p, _ := ev["proc"].(map[string]any)
		for k := range p {
			if !documented(secs["proc"], k) {
				t.Errorf("example %d (%v): proc field %q is not documented", i+1, ev["syscall"], k)
			}
		}
		if want := string(tracer.FamilyOf(ev["syscall"].(string))); ev["family"] != want {
			t.Errorf("example %d: %v is of family %q, not %v", i+1, ev["syscall"], want, ev["family"])
		}
		families[ev["family"].(string)] = true
	}
	for _, f := range []string{"mount", "open", "namespace", "exec"} {
		if !families[f] {
			t.Errorf("%s has no example of the %s family", schemaDoc, f)
		}
	}
}

// fullContainer has every field the renderer can print.
func fullContainer() *correlate.Container {
	return &correlate.Container{
		ID: "0123456789ab", Namespace: "k8s.io", Known: true, Source: correlate.SourceCgroup,
		Image: "registry.example/web:1", Runtime: "io.containerd.runc.v2", ShimPID: 42,
		Labels: map[string]string{"io.kubernetes.pod.name": "web-7d9f", "io.kubernetes.container.name": "nginx"},
		Pod:    "web-7d9f", PodNamespace: "shop", PodUID: "uid-1", ContainerName: "nginx",
	}
}
