package pipeline

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/tracer"
)

// handlerFunc is a Handler made of a function.
type handlerFunc func(*Event)

func (f handlerFunc) Handle(ev *Event) { f(ev) }

// TestHintsStage: the stage gives an event the hints of its reasons and
// container, and none when it is off (--no-hints), when the event is
// hidden (no sink shows it), or when no rule has its evidence.
func TestHintsStage(t *testing.T) {
	seccomp := func() *tracer.Event {
		ev := failed("unshare", unix.EPERM, "sh")
		ev.Reasons = []tracer.Reason{tracer.SeccompReason{}}
		return ev
	}
	web := &correlate.Container{ID: "web", Namespace: "default", Known: true}
	tests := []struct {
		name   string
		on     bool
		ev     *Event
		want   string // the rules, in order
		inText string // what the first hint's text must name
	}{
		{"host", true, &Event{Event: seccomp()}, "seccomp-profile", "the process's seccomp filter refuses unshare"},
		{"container", true, &Event{Event: seccomp(), Container: web}, "seccomp-profile", "container default/web's seccomp profile"},
		{"off", false, &Event{Event: seccomp()}, "", ""},
		{"hidden", true, &Event{Event: seccomp(), Hidden: true}, "", ""},
		{"no reason", true, &Event{Event: failed("openat", unix.ENOENT, "cat", "path", "/x")}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewHints(tt.on)
			var got *Event
			s.Link(Next{h: handlerFunc(func(ev *Event) { got = ev })})
			s.Handle(tt.ev)
			if got != tt.ev {
				t.Fatal("the event was not passed on")
			}
			var rules []string
			for _, h := range got.Hints {
				rules = append(rules, h.Rule)
			}
			if r := strings.Join(rules, ","); r != tt.want {
				t.Fatalf("hints %q, want %q", r, tt.want)
			}
			if tt.inText != "" && !strings.Contains(got.Hints[0].Text, tt.inText) {
				t.Errorf("hint %q does not say %q", got.Hints[0].Text, tt.inText)
			}
		})
	}
}
