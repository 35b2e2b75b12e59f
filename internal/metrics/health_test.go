package metrics

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHealth(t *testing.T) {
	const stall = 50 * time.Millisecond
	tests := []struct {
		name string
		do   func(h *Health)
		want string // a part of the error; "" for healthy
	}{
		{"starting", func(*Health) {}, "starting"},
		{"nothing attached", func(h *Health) { h.Attached(0) }, "no program attached"},
		{"tracing", func(h *Health) { h.Attached(30) }, ""},
		{"beating", func(h *Health) {
			h.Attached(30)
			for range 4 {
				time.Sleep(stall / 2)
				h.Beat()
			}
		}, ""},
		{"wedged", func(h *Health) { h.Attached(30); time.Sleep(2 * stall) }, "wedged"},
		{"recovered", func(h *Health) { h.Attached(30); time.Sleep(2 * stall); h.Beat() }, ""},
		{"reader failed", func(h *Health) { h.Attached(30); h.Stopped(errors.New("read ring buffer: boom")) }, "tracing stopped: read ring buffer: boom"},
		{"run ending", func(h *Health) { h.Attached(30); h.Stopped(nil) }, "the run is ending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHealth(stall)
			tt.do(h)
			err := h.Check()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Check() = %v, want healthy", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Check() = %v, want %q", err, tt.want)
			}
		})
	}
	var none *Health // without --metrics-addr
	none.Attached(1)
	none.Beat()
	none.Stopped(nil)
	if err := none.Check(); err != nil {
		t.Errorf("nil Health: %v", err)
	}
}
