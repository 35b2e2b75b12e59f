package summary

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/testing/golden"
	"github.com/ctrace-dev/ctrace/tracer"
	"github.com/ctrace-dev/ctrace/tracer/xlat"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the code")

// recordsFile is tracer's corpus of raw records: the reasons in the
// golden tables are as the kernel sends them.
const recordsFile = "../../tracer/testdata/records.golden"

// loadRecords decodes the record corpus by name.
func loadRecords(t *testing.T) map[string]*tracer.Event {
	t.Helper()
	f, err := os.Open(recordsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs := map[string]*tracer.Event{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, hx, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("%s: bad line %q", recordsFile, sc.Text())
		}
		raw, err := hex.DecodeString(hx)
		if err != nil {
			t.Fatalf("%s: %s: %v", recordsFile, name, err)
		}
		ev, err := tracer.Decode(raw)
		if err != nil {
			t.Fatalf("%s: %s: %v", recordsFile, name, err)
		}
		// What Run adds: the LSM's name when one LSM can deny.
		for r := range tracer.ReasonsOf[*tracer.LSMReason](&ev) {
			r.LSM = "apparmor"
		}
		evs[name] = &ev
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

// goldenCall is one call the table counts: a record of the corpus at a
// time, in a container (nil: the host).
type goldenCall struct {
	record string
	at     time.Duration // after t0
	c      *correlate.Container
	// reasons are added to the record's, as the stages after the tracer
	// add theirs.
	reasons []tracer.Reason
}

// goldenTable is one table: the calls it counts, and its bounds (0: the
// defaults).
type goldenTable struct {
	name                string
	calls               []goldenCall
	maxRows, maxReasons int
}

func goldenTables() []goldenTable {
	test1 := &correlate.Container{ID: "test1", Namespace: "default", Known: true}
	pod := &correlate.Container{ID: strings.Repeat("0123456789abcdef", 4), Namespace: "k8s.io", Known: true,
		Pod: "web-7d9f", PodNamespace: "shop", ContainerName: "nginx"}
	long := &correlate.Container{ID: strings.Repeat("ab", 32), Namespace: "k8s.io"}
	hostile := &correlate.Container{ID: "id\n1", Namespace: "ns\t", Known: true}
	hostilePod := &correlate.Container{ID: "web", Namespace: "k8s.io", Pod: "p\x1b[2J", PodNamespace: "ns\x9b", ContainerName: "c\r"}
	kernelLog := func(msg string) []tracer.Reason {
		return []tracer.Reason{&tracer.KernelLogReason{Message: msg}}
	}
	return []goldenTable{
		{name: "empty"},
		{name: "only-successes", calls: []goldenCall{{record: "openat/success"}, {record: "execve/success-after", c: pod}}},
		{name: "node", calls: []goldenCall{
			{record: "mount/seccomp", at: 0},
			{record: "mount/seccomp", at: 1500 * time.Millisecond},
			{record: "mount/cap-userns-root", at: 2 * time.Second, c: test1},
			{record: "mount/cap-userns-root", at: 3 * time.Second, c: test1},
			{record: "mount/seccomp", at: 3*time.Second + time.Millisecond, c: test1},
			{record: "mount/cap-userns-root", at: 4 * time.Second, c: test1},
			{record: "openat/lsm", at: 5 * time.Second},
			{record: "openat/success", at: 5 * time.Second},
			{record: "mount/overlay", at: 6 * time.Second, c: pod},
			{record: "mount/overlay", at: 7 * time.Second, c: pod,
				reasons: kernelLog("overlayfs: failed to resolve '/tmp/nonexist': -2")},
			{record: "execve/lsm", at: 8 * time.Second, c: pod},
			{record: "unshare/seccomp", at: 9 * time.Second, c: long},
			{record: "mount/seccomp-cap-lsm", at: 10 * time.Second},
			{record: "chroot/enoent", at: 59*time.Minute + 59*time.Second + 999*time.Millisecond},
		}},
		// Names and reasons are the node's: escaped, one row a line.
		{name: "hostile", calls: []goldenCall{
			{record: "mount/overlay", c: hostile, reasons: kernelLog("overlayfs: failed to resolve '/tmp/\x1b[31m\nx': -2")},
			{record: "chroot/enoent", at: time.Second, c: hostilePod},
		}},
		// Past its bounds the table counts in (other) rows and other
		// reasons.
		{name: "bounds", maxRows: 2, maxReasons: 2, calls: []goldenCall{
			{record: "mount/cap-userns-root", c: test1},
			{record: "mount/cap-userns-uid", at: time.Second, c: test1},
			{record: "mount/cap-userns-second-extent", at: 2 * time.Second, c: test1},
			{record: "mount/cap-userns-third-extent", at: 3 * time.Second, c: test1},
			{record: "mount/cap-userns-root", at: 4 * time.Second, c: test1},
			{record: "chroot/enoent", at: 5 * time.Second},
			{record: "chroot/enoent", at: 6 * time.Second, c: pod},
			{record: "chroot/enoent", at: 7 * time.Second, c: long},
			{record: "openat/lsm", at: 8 * time.Second, c: long},
		}},
	}
}

// TestSummaryGolden fills tables from fixed calls, errnos named as ctrace
// run names them, and compares them as text and as JSON with
// testdata/{text,json}.golden byte for byte. Rewrite them with go test
// -run SummaryGolden -update, and read the diff.
func TestSummaryGolden(t *testing.T) {
	evs := loadRecords(t)
	// Times in UTC: the text table writes them in their own zone.
	t0 := time.Date(2026, 1, 2, 12, 3, 4, 500_000_000, time.UTC)
	names := Names{Errno: xlat.ErrnoName}
	for _, format := range []string{"text", "json"} {
		var out bytes.Buffer
		for _, gt := range goldenTables() {
			s := New(names)
			if gt.maxRows > 0 {
				s.maxRows = gt.maxRows
			}
			if gt.maxReasons > 0 {
				s.maxReasons = gt.maxReasons
			}
			for _, c := range gt.calls {
				ev, ok := evs[c.record]
				if !ok {
					t.Fatalf("%s: no record %s in %s", gt.name, c.record, recordsFile)
				}
				ev = ev.Clone()
				ev.Time = t0.Add(c.at)
				ev.Reasons = append(ev.Reasons, c.reasons...)
				s.Add(ev, c.c)
			}
			fmt.Fprintf(&out, "# %s\n", gt.name)
			if err := s.Write(&out, format == "json"); err != nil {
				t.Fatal(err)
			}
		}
		compareGolden(t, "testdata/"+format+".golden", out.Bytes())
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	golden.Compare(t, path, got, *update)
}
