package sink

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/benign"
	"github.com/ctrace-dev/ctrace/internal/pipeline"
	"github.com/ctrace-dev/ctrace/internal/testing/eventtest"
)

func TestTally(t *testing.T) {
	rule := &benign.Rules[0]
	call := func(errno unix.Errno) *pipeline.Event {
		return &pipeline.Event{Event: eventtest.Call("openat", errno, time.Now())}
	}
	with := func(ev *pipeline.Event, f func(*pipeline.Event)) *pipeline.Event { f(ev); return ev }
	tests := []struct {
		name string
		ev   *pipeline.Event
		want Tally
	}{
		{"failure", call(unix.ENOENT), Tally{Failures: 1}},
		{"success", call(0), Tally{}},
		{"hidden known-harmless", with(call(unix.ENOENT), func(e *pipeline.Event) { e.Benign, e.Hidden = rule, true }), Tally{Hidden: 1}},
		{"shown known-harmless", with(call(unix.ENOENT), func(e *pipeline.Event) { e.Benign = rule }), Tally{}},
		{"folded by dedup", with(call(unix.ENOENT), func(e *pipeline.Event) { e.Hidden = true }), Tally{Failures: 1}},
		{"dedup summary", with(call(unix.ENOENT), func(e *pipeline.Event) { e.Repeat = 7 }), Tally{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Tally
			got.Write(tt.ev)
			if got != tt.want {
				t.Errorf("tally %+v, want %+v", got, tt.want)
			}
		})
	}
}
