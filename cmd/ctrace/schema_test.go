package main

import (
	"bytes"
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/benign"
	"github.com/ctrace-dev/ctrace/tracer"
)

// TestSchemaDocumented renders an event with every optional field set and
// checks that docs/json-schema.md names each key the renderer prints.
func TestSchemaDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/json-schema.md")
	if err != nil {
		t.Fatal(err)
	}
	ev := &tracer.Event{
		Time: time.Unix(0, 0), Syscall: "mount", Family: tracer.FamilyMount, Ret: -1, Errno: unix.EPERM,
		Proc: tracer.Proc{PID: 1, TID: 1, Comm: "runc", Cgroup: "/default/x", Cmdline: []string{"runc", "create"}},
		Args: []tracer.Arg{{Name: "source", Kind: tracer.KindString, Str: "x", Read: true, Raw: 1, Truncated: true}},
		Reasons: []tracer.Reason{
			{Kind: tracer.ReasonSeccomp},
			{Kind: tracer.ReasonCapability, Cap: "CAP_SYS_ADMIN"},
			{Kind: tracer.ReasonKernelLog, Message: "m"},
			{Kind: tracer.ReasonLSM, LSM: "landlock", Hook: "fs.read_file", Detail: "d"},
		},
	}
	var buf bytes.Buffer
	r := newRenderer("json", &buf, false)
	r.event(ev, &benign.Rules[0])
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	keys := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if prefix != "args" { // argument names are the man pages'
					keys[k] = true
				}
				walk(k, x)
			}
		case []any:
			for _, x := range v {
				walk(prefix, x)
			}
		}
	}
	walk("", m)
	var missing []string
	for k := range keys {
		if !strings.Contains(string(doc), "`"+k+"`") {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/json-schema.md does not document: %v", missing)
	}
}
