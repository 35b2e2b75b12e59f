package sink

import (
	"strings"
	"testing"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/benign"
	"github.com/ctrace-dev/ctrace/internal/hints"
	"github.com/ctrace-dev/ctrace/internal/pipeline"
	"github.com/ctrace-dev/ctrace/internal/podevents"
	"github.com/ctrace-dev/ctrace/tracer"
)

func TestCamelCase(t *testing.T) {
	for _, r := range hints.Rules {
		c := CamelCase(r.Name)
		if c == "" || strings.ContainsAny(c, "- ") || strings.ToUpper(c[:1]) != c[:1] {
			t.Errorf("%s -> %q", r.Name, c)
		}
	}
	if got := CamelCase("userns-unmapped-owner"); got != "UsernsUnmappedOwner" {
		t.Errorf("got %q", got)
	}
}

// TestDiagnoses: only a pod's failures with a hint make Events, one per
// hint; a host process, a container without a pod, a hidden or
// known-harmless failure none.
func TestDiagnoses(t *testing.T) {
	pod := &correlate.Container{ID: "c1", Pod: "web", PodNamespace: "shop", PodUID: "u1", ContainerName: "app"}
	ev := func(c *correlate.Container, hs ...hints.Hint) *pipeline.Event {
		return &pipeline.Event{Event: &tracer.Event{Syscall: "mount", Errno: 1, Proc: tracer.Proc{Comm: "mount", PID: 7, TID: 7}}, Container: c, Hints: hs}
	}
	h1, h2 := hints.Hint{Rule: "seccomp-profile", Text: "allow it"}, hints.Hint{Rule: "stale-netns", Text: "remove it"}
	d := Diagnoses(ev(pod, h1, h2))
	if len(d) != 2 || d[0].Reason != "SeccompProfile" || d[1].Reason != "StaleNetns" || d[0].Action != "mount EPERM in app" ||
		d[0].Pod != (podevents.Pod{Name: "web", Namespace: "shop", UID: "u1"}) || !strings.HasPrefix(d[0].Note, "allow it\n") ||
		!strings.Contains(d[0].Note, "mount[7] uid=0 mount(") {
		t.Errorf("%+v", d)
	}
	for name, e := range map[string]*pipeline.Event{
		"host":    ev(nil, h1),
		"no pod":  ev(&correlate.Container{ID: "c2", Namespace: "default"}, h1),
		"no hint": ev(pod),
		"benign":  func() *pipeline.Event { e := ev(pod, h1); e.Benign = &benign.Rule{Name: "x"}; return e }(),
		"hidden":  func() *pipeline.Event { e := ev(pod, h1); e.Hidden = true; return e }(),
	} {
		if got := Diagnoses(e); len(got) != 0 {
			t.Errorf("%s: %+v", name, got)
		}
	}
}

func TestCut(t *testing.T) {
	s := strings.Repeat("é", 600) // 1200 bytes
	c := podevents.Cut(s, podevents.MaxNote)
	if len(c) > podevents.MaxNote || !strings.HasSuffix(c, "...") || !strings.HasPrefix(s, strings.TrimSuffix(c, "...")) {
		t.Errorf("cut to %d bytes: %q", len(c), c[len(c)-10:])
	}
	if podevents.Cut("short", 10) != "short" {
		t.Error("a short string was cut")
	}
}
