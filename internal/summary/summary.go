// Package summary counts failures by container, syscall and errno, as
// `strace -c` counts calls, and writes the table at the end of a run
// (ctrace run --summary, --summary-file).
package summary

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/tracer"
	"github.com/ctrace-dev/ctrace/tracer/xlat"
)

// Names are how the table names errnos: as the event lines do, so that a
// row reads like the lines it counts. Reasons read as their Text.
type Names struct {
	Errno func(unix.Errno) string
}

// Bounds of a Table. Its keys and reasons are the node's free text
// (container names, kernel log lines that name paths): a week-long run
// on a busy node would otherwise keep one row per short-lived container
// and one reason per distinct log line. What is past a bound is still
// counted, as (other) and in other_reasons, never dropped.
const (
	// MaxRows bounds the groups; the failures of containers seen after
	// that count in the row of (other) with the same syscall and errno
	// (at most one per syscall and errno).
	MaxRows = 1024
	// MaxReasons bounds the distinct reasons kept per row; later ones
	// count as the row's other reasons.
	MaxReasons = 16
)

// OtherContainer names the rows of the containers that came after the
// table was full.
const OtherContainer = "(other)"

// Table counts failures by container, syscall and errno.
type Table struct {
	names      Names
	maxRows    int
	maxReasons int
	mu         sync.Mutex
	groups     map[key]*row
	stats      Stats
}

// Stats say how much a Table keeps, and how much it counted past its
// bounds.
type Stats struct {
	Rows    int // groups, the (other) ones included
	Reasons int // distinct reasons kept, in all rows
	// OtherRowFailures are failures counted in an (other) row.
	OtherRowFailures int
	// OtherReasons are reasons counted but not kept.
	OtherReasons int
}

type key struct {
	container, syscall, errno string
}

type row struct {
	key
	count        int
	first, last  time.Time
	reasons      map[string]int
	otherReasons int // reasons past maxReasons
}

// New returns an empty table.
func New(names Names) *Table {
	return &Table{names: names, maxRows: MaxRows, maxReasons: MaxReasons, groups: map[key]*row{}}
}

// Add counts ev, a call of container c (nil: a host process); successful
// calls are not counted.
func (s *Table) Add(ev *tracer.Event, c *correlate.Container) {
	if !ev.Failed() {
		return
	}
	k := key{container: "host", syscall: ev.Syscall, errno: s.names.Errno(ev.Errno)}
	if c != nil {
		k.container = c.String()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.groups[k]
	if r == nil && len(s.groups) >= s.maxRows {
		k.container = OtherContainer
		r = s.groups[k]
	}
	if r == nil {
		r = &row{key: k, first: ev.Time, reasons: map[string]int{}}
		s.groups[k] = r
		s.stats.Rows++
	}
	if k.container == OtherContainer {
		s.stats.OtherRowFailures++
	}
	n := int(ev.Calls()) // a count made in the kernel stands for its calls
	r.count += n
	r.last = ev.Time
	for _, reason := range ev.Reasons {
		text := reason.Text(ev)
		if _, ok := r.reasons[text]; ok || len(r.reasons) < s.maxReasons {
			if !ok {
				s.stats.Reasons++
			}
			r.reasons[text] += n
		} else {
			r.otherReasons += n
			s.stats.OtherReasons++
		}
	}
}

// Stats returns the table's sizes now.
func (s *Table) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// rows returns the groups, most failures first.
func (s *Table) rows() []*row {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*row, 0, len(s.groups))
	for _, r := range s.groups {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.count != b.count {
			return a.count > b.count
		}
		if a.container != b.container {
			return a.container < b.container
		}
		if a.syscall != b.syscall {
			return a.syscall < b.syscall
		}
		return a.errno < b.errno
	})
	return out
}

// topReason is the most common reason of a group, "" when none was found.
func (r *row) topReason() string {
	best, n := "", 0
	for k, c := range r.reasons {
		if c > n || (c == n && k < best) {
			best, n = k, c
		}
	}
	return best
}

// Write writes the table aligned, or as one JSON document:
//
//	{"summary":[{"container":"default/web","syscall":"mount","errno":"EPERM",
//	  "count":3,"first":"...","last":"...","reason":"capability: ..."}],"total":3}
//
// A row whose distinct reasons passed MaxReasons says how many failures'
// reasons it did not keep ("other_reasons": N, "(+N of other reasons)");
// the rows of containers past MaxRows are named (other).
func (s *Table) Write(w io.Writer, asJSON bool) error {
	rows := s.rows()
	total := 0
	for _, r := range rows {
		total += r.count
	}
	if asJSON {
		arr := zerolog.Arr()
		for _, r := range rows {
			d := zerolog.Dict().Str("container", r.container).Str("syscall", r.syscall).
				Str("errno", r.errno).Int("count", r.count).
				Str("first", r.first.Format(time.RFC3339Nano)).Str("last", r.last.Format(time.RFC3339Nano))
			if top := r.topReason(); top != "" {
				d.Str("reason", top)
			} else {
				d.RawJSON("reason", []byte("null"))
			}
			if r.otherReasons > 0 {
				d.Int("other_reasons", r.otherReasons)
			}
			arr.Dict(d)
		}
		l := zerolog.New(w)
		l.Log().Array("summary", arr).Int("total", total).Send()
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER\tSYSCALL\tERRNO\tCOUNT\tFIRST\tLAST\tREASON")
	for _, r := range rows {
		reason := r.topReason()
		if reason == "" {
			reason = "-"
		}
		if r.otherReasons > 0 {
			reason += fmt.Sprintf(" (+%d of other reasons)", r.otherReasons)
		}
		// The container's name and the reason come from the node: escaped
		// as on the event lines, so that they neither break the table nor
		// reach the terminal.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", xlat.Escaped(r.container), r.syscall, r.errno, r.count,
			r.first.Format("15:04:05.000"), r.last.Format("15:04:05.000"), xlat.Escaped(reason))
	}
	fmt.Fprintf(tw, "total\t\t\t%s\t\t\t\n", strconv.Itoa(total))
	return tw.Flush()
}

// WriteFile writes the table to path.
func (s *Table) WriteFile(path string, asJSON bool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := s.Write(f, asJSON); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
