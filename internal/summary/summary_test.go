package summary

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/tracer"
)

var names = Names{Errno: unix.ErrnoName}

// kindReason is a reason that reads as its kind: "reason seccomp".
type kindReason tracer.ReasonKind

func (k kindReason) Kind() tracer.ReasonKind    { return tracer.ReasonKind(k) }
func (k kindReason) Text(*tracer.Event) string  { return "reason " + string(k) }
func (k kindReason) AppendJSON(b []byte) []byte { return b }

func failure(syscall string, errno unix.Errno, at time.Time, reasons ...tracer.ReasonKind) *tracer.Event {
	ev := &tracer.Event{Time: at, Syscall: syscall, Errno: errno, Ret: -int64(errno)}
	for _, k := range reasons {
		ev.Reasons = append(ev.Reasons, kindReason(k))
	}
	return ev
}

// TestOrderAndTopReason: most failures first, then by container, syscall
// and errno; a group's reason is its most common one, the first by name
// on a tie.
func TestOrderAndTopReason(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 12, 3, 4, 0, time.UTC)
	b := &correlate.Container{ID: "b", Namespace: "default", Known: true}
	s := New(names)
	s.Add(failure("openat", unix.ENOENT, t0), b)
	s.Add(failure("openat", unix.EACCES, t0), b)
	s.Add(failure("mount", unix.EPERM, t0, tracer.ReasonSeccomp), nil)
	s.Add(failure("mount", unix.EPERM, t0.Add(time.Second), tracer.ReasonKernelLog), nil)
	s.Add(failure("mount", unix.EPERM, t0.Add(2*time.Second)), nil)
	var out bytes.Buffer
	if err := s.Write(&out, false); err != nil {
		t.Fatal(err)
	}
	top := "reason " + string(min(tracer.ReasonSeccomp, tracer.ReasonKernelLog)) // one each: the first by name
	want := "CONTAINER  SYSCALL  ERRNO   COUNT  FIRST         LAST          REASON\n" +
		"host       mount    EPERM   3      12:03:04.000  12:03:06.000  " + top + "\n" +
		"default/b  openat   EACCES  1      12:03:04.000  12:03:04.000  -\n" +
		"default/b  openat   ENOENT  1      12:03:04.000  12:03:04.000  -\n" +
		"total                       5                                  \n"
	if got := out.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteFile(t *testing.T) {
	s := New(names)
	s.Add(failure("mount", unix.EPERM, time.Now()), nil)
	path := filepath.Join(t.TempDir(), "summary.json")
	if err := s.WriteFile(path, true); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.Contains(b, []byte(`"total":1`)) {
		t.Errorf("file %q: %v", b, err)
	}
	if err := s.WriteFile(filepath.Join(t.TempDir(), "no", "such", "dir"), true); err == nil {
		t.Error("no error for a file in a missing directory")
	}
}

// TestTextEscapesNodeStrings: a container's name and a kernel log line
// that the node chose stay on their row, escaped; the JSON keeps them as
// they were.
func TestTextEscapesNodeStrings(t *testing.T) {
	s := New(names)
	c := &correlate.Container{ID: "id\n\x1b[2J", Namespace: "ns\tx"}
	ev := failure("mount", unix.EINVAL, time.Date(2026, 1, 2, 12, 3, 4, 0, time.UTC))
	ev.Reasons = []tracer.Reason{&tracer.KernelLogReason{Message: "tmpfs: \x1b]0;x\x07\nFAKE\tROW"}}
	s.Add(ev, c)
	var out bytes.Buffer
	if err := s.Write(&out, false); err != nil {
		t.Fatal(err)
	}
	want := "CONTAINER         SYSCALL  ERRNO   COUNT  FIRST         LAST          REASON\n" +
		`ns\tx/id\n\33[2J` + "  mount    EINVAL  1      12:03:04.000  12:03:04.000  " + `kernel: tmpfs: \33]0;x\7\nFAKE\tROW` + "\n" +
		"total                              1                                  \n"
	if got := out.String(); got != want {
		t.Errorf("table:\n%q\nwant:\n%q", got, want)
	}
	out.Reset()
	if err := s.Write(&out, true); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Summary []struct{ Container, Reason string }
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || len(doc.Summary) != 1 ||
		doc.Summary[0].Container != c.String() || doc.Summary[0].Reason != ev.Reasons[0].Text(ev) {
		t.Errorf("JSON %s: %+v, %v", out.Bytes(), doc, err)
	}
}

// TestBounds: distinct containers past the row bound count in (other)
// rows, one per syscall and errno; distinct reasons past the per-row
// bound count as other reasons; every failure is in the total.
func TestBounds(t *testing.T) {
	s := New(names)
	s.maxRows, s.maxReasons = 4, 2
	t0 := time.Date(2026, 1, 2, 12, 3, 4, 0, time.UTC)
	for i := range 100 {
		ev := failure("mount", unix.EPERM, t0)
		ev.Reasons = []tracer.Reason{&tracer.KernelLogReason{Message: fmt.Sprintf("line %d", i%10)}}
		s.Add(ev, &correlate.Container{Namespace: "ns", ID: fmt.Sprint("c", i)})
		s.Add(failure("openat", unix.ENOENT, t0), &correlate.Container{Namespace: "ns", ID: fmt.Sprint("c", i)})
	}
	st := s.Stats()
	// c0 mount, c0 openat, c1 mount, c1 openat; then (other) mount and
	// (other) openat.
	if want := (Stats{Rows: 6, Reasons: 4, OtherRowFailures: 196, OtherReasons: 78}); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	var out bytes.Buffer
	if err := s.Write(&out, false); err != nil {
		t.Fatal(err)
	}
	want := "CONTAINER  SYSCALL  ERRNO   COUNT  FIRST         LAST          REASON\n" +
		"(other)    mount    EPERM   98     12:03:04.000  12:03:04.000  kernel: line 2 (+78 of other reasons)\n" +
		"(other)    openat   ENOENT  98     12:03:04.000  12:03:04.000  -\n" +
		"ns/c0      mount    EPERM   1      12:03:04.000  12:03:04.000  kernel: line 0\n" +
		"ns/c0      openat   ENOENT  1      12:03:04.000  12:03:04.000  -\n" +
		"ns/c1      mount    EPERM   1      12:03:04.000  12:03:04.000  kernel: line 1\n" +
		"ns/c1      openat   ENOENT  1      12:03:04.000  12:03:04.000  -\n" +
		"total                       200                                \n"
	if got := out.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	out.Reset()
	if err := s.Write(&out, true); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out.Bytes(), []byte(`"container":"(other)","syscall":"mount","errno":"EPERM","count":98,`)) ||
		!bytes.Contains(out.Bytes(), []byte(`"reason":"kernel: line 2","other_reasons":78}`)) {
		t.Errorf("JSON: %s", out.Bytes())
	}
}
