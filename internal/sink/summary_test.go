package sink

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/benign"
	"github.com/ctrace-dev/ctrace/internal/pipeline"
	"github.com/ctrace-dev/ctrace/internal/testing/eventtest"
	"github.com/ctrace-dev/ctrace/tracer"
)

func keep(err error) error { return err }

// summaryOf runs events through a summary sink and returns its table.
func summaryOf(t *testing.T, json, benignToo bool, evs ...*pipeline.Event) string {
	t.Helper()
	var b bytes.Buffer
	out := bufio.NewWriter(&b)
	s := NewSummary(SummaryOptions{Out: out, JSON: json, Benign: benignToo, Done: keep})
	for _, ev := range evs {
		s.Write(ev)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestSummaryTable: the table names errnos and reasons as the event
// lines do; successes, dedup summaries and (without --show-benign)
// known-harmless failures are not counted.
func TestSummaryTable(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 12, 3, 4, 0, time.Local)
	web := &correlate.Container{ID: "web", Namespace: "default", Known: true}
	seccomp := eventtest.Call("mount", unix.EPERM, t0)
	seccomp.Reasons = []tracer.Reason{tracer.SeccompReason{}}
	evs := []*pipeline.Event{
		{Event: seccomp, Container: web},
		{Event: eventtest.Call("mount", unix.EPERM, t0.Add(time.Second)), Container: web},
		{Event: eventtest.Call("openat", unix.ENOENT, t0.Add(2*time.Second))},
		{Event: eventtest.Call("openat", 0, t0)},                                     // a success
		{Event: eventtest.Call("openat", unix.ENOENT, t0), Repeat: 5},                // its calls were counted
		{Event: eventtest.Call("chroot", unix.ENOENT, t0), Benign: &benign.Rules[0]}, // known-harmless
	}
	want := `CONTAINER    SYSCALL  ERRNO   COUNT  FIRST         LAST          REASON
default/web  mount    EPERM   2      12:03:04.000  12:03:05.000  seccomp: blocked by the process's seccomp filter
host         openat   ENOENT  1      12:03:06.000  12:03:06.000  -
total                         3                                  
`
	if got := summaryOf(t, false, false, evs...); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	if got := summaryOf(t, false, true, evs...); !strings.Contains(got, "chroot") {
		t.Errorf("with --show-benign, no known-harmless row:\n%s", got)
	}
	b := summaryOf(t, true, false, evs...)
	var doc struct {
		Summary []struct {
			Container, Syscall, Errno string
			Count                     int
			Reason                    *string
		}
		Total int
	}
	if err := json.Unmarshal([]byte(b), &doc); err != nil || strings.Count(b, "\n") != 1 {
		t.Fatalf("JSON %q: %v", b, err)
	}
	if doc.Total != 3 || len(doc.Summary) != 2 || doc.Summary[0].Count != 2 || doc.Summary[1].Reason != nil {
		t.Errorf("JSON summary %s", b)
	}
}
