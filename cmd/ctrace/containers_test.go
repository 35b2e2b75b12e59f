package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/testing/eventtest"
	"github.com/ctrace-dev/ctrace/tracer"
)

func TestSummaryTable(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 12, 3, 4, 0, time.Local)
	web := &correlate.Container{ID: "web", Namespace: "default", Known: true}
	// The table names errnos and reasons as the event lines do.
	s := newSummarySink(&runFlags{}, nil).t
	ev := eventtest.Call("mount", unix.EPERM, t0)
	ev.Reasons = []tracer.Reason{tracer.SeccompReason{}}
	s.Add(ev, web)
	s.Add(eventtest.Call("mount", unix.EPERM, t0.Add(time.Second)), web)
	s.Add(eventtest.Call("openat", unix.ENOENT, t0.Add(2*time.Second)), nil)
	ok := eventtest.Call("openat", 0, t0)
	s.Add(ok, nil) // successes are not counted
	var b bytes.Buffer
	if err := s.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	want := `CONTAINER    SYSCALL  ERRNO   COUNT  FIRST         LAST          REASON
default/web  mount    EPERM   2      12:03:04.000  12:03:05.000  seccomp: blocked by the process's seccomp filter
host         openat   ENOENT  1      12:03:06.000  12:03:06.000  -
total                         3                                  
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := s.Write(&b, true); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Summary []struct {
			Container, Syscall, Errno string
			Count                     int
			Reason                    *string
		}
		Total int
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil || strings.Count(b.String(), "\n") != 1 {
		t.Fatalf("JSON %q: %v", b.String(), err)
	}
	if doc.Total != 3 || len(doc.Summary) != 2 || doc.Summary[0].Count != 2 || doc.Summary[1].Reason != nil {
		t.Errorf("JSON summary %s", b.String())
	}
}
