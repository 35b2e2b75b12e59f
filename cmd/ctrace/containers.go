package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/log"
	"github.com/spf13/pflag"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/tracer"
)

// containerFlags are run's flags about containers, the summary and the
// exit status.
type containerFlags struct {
	address       string
	containers    []string
	namespaces    []string
	pods          []string
	podNamespaces []string
	host          bool
	wait          time.Duration
	summary       bool
	summaryFile   string
	failOnEvents  bool
	// procRoot is the node's /proc when ctrace runs in a container
	// ("" means /proc); set from --host-root, not a flag of its own.
	procRoot string
}

// exitFailures is ctrace's exit status under --fail-on-events when failures
// were seen and the traced command, if any, succeeded: distinct from 1
// (ctrace's own errors) and 2 (usage).
const exitFailures = 3

func (f *containerFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.address, "containerd-address", "", "containerd's socket; default: the first of "+strings.Join(correlate.KnownAddresses, ", ")+" that exists")
	fl.StringSliceVar(&f.containers, "container", nil, "only these containers: id, unique id prefix, or name (Kubernetes container name)")
	fl.StringSliceVar(&f.namespaces, "containerd-namespace", nil, "only containers in these containerd namespaces (default, k8s.io, ...)")
	fl.StringSliceVar(&f.pods, "pod", nil, "only containers of these Kubernetes pods (name or UID)")
	fl.StringSliceVar(&f.podNamespaces, "k8s-namespace", nil, "only containers of pods in these Kubernetes namespaces")
	fl.BoolVar(&f.host, "host", false, "only host processes: those of no container")
	fl.DurationVar(&f.wait, "container-wait", correlate.DefaultWait, "how long an event of a container not yet known waits for containerd's metadata before it is shown with the container id only")
	fl.BoolVar(&f.summary, "summary", false, "print no events; at exit, a table of failures by container, syscall and errno (as strace -c); JSON with -o json")
	fl.StringVar(&f.summaryFile, "summary-file", "", "stream events as usual and write the summary table to this file at exit (text or JSON as -o)")
	fl.BoolVar(&f.failOnEvents, "fail-on-events", false, fmt.Sprintf("exit with status %d if any failure (not a known-harmless one) was seen; a traced command's own failure status comes first", exitFailures))
}

func (f *containerFlags) filter() (correlate.Filter, error) {
	flt := correlate.Filter{
		Containers:    f.containers,
		Namespaces:    f.namespaces,
		Pods:          f.pods,
		PodNamespaces: f.podNamespaces,
		Host:          f.host,
	}
	if err := flt.Validate(); err != nil {
		return flt, usageError("%v", err)
	}
	return flt, nil
}

// openResolver starts the container resolver. It never fails for want of
// containerd: that is one warning, and events of containers then carry
// what the kernel captured (the id).
func openResolver(ctx context.Context, f *containerFlags) (*correlate.Resolver, error) {
	return correlate.Open(ctx, correlate.Options{
		Address:  f.address,
		ProcRoot: f.procRoot,
		Log: func(l correlate.Level, msg string) {
			if l == correlate.LevelWarn {
				log.Warn().Msg(msg)
			} else {
				log.Info().Msg(msg)
			}
		},
	})
}

// startResolver opens the resolver that names each event's container.
// With --container it waits briefly for containerd, to warn about a
// value that is a prefix of several containers' ids.
func startResolver(ctx context.Context, f *containerFlags) (*correlate.Resolver, error) {
	resolver, err := openResolver(context.WithoutCancel(ctx), f)
	if err != nil {
		return nil, err
	}
	if len(f.containers) > 0 {
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
		if resolver.WaitConnected(wctx) {
			warnAmbiguous(resolver, f)
		}
		wcancel()
	}
	return resolver, nil
}

// warnAmbiguous says when a --container value is a prefix of several known
// containers' ids.
func warnAmbiguous(r *correlate.Resolver, f *containerFlags) {
	known := r.Containers()
	for _, v := range f.containers {
		if ids := correlate.Ambiguous(v, known); ids != nil {
			log.Warn().Msgf("--container %s is a prefix of several container ids (%s): events of all of them are shown", v, strings.Join(ids, ", "))
		}
	}
}

// summary counts failures by container, syscall and errno.
type summary struct {
	mu     sync.Mutex
	groups map[summaryKey]*summaryRow
}

type summaryKey struct {
	container, syscall, errno string
}

type summaryRow struct {
	summaryKey
	count       int
	first, last time.Time
	reasons     map[string]int
}

func newSummary() *summary { return &summary{groups: map[summaryKey]*summaryRow{}} }

func (s *summary) add(ev *tracer.Event, c *correlate.Container) {
	if !ev.Failed() {
		return
	}
	k := summaryKey{container: "host", syscall: ev.Syscall, errno: errnoName(ev.Errno)}
	if c != nil {
		k.container = c.String()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	row := s.groups[k]
	if row == nil {
		row = &summaryRow{summaryKey: k, first: ev.Time, reasons: map[string]int{}}
		s.groups[k] = row
	}
	row.count++
	row.last = ev.Time
	for i := range ev.Reasons {
		row.reasons[reasonText(ev, &ev.Reasons[i])]++
	}
}

// rows returns the groups, most failures first.
func (s *summary) rows() []*summaryRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*summaryRow, 0, len(s.groups))
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
func (r *summaryRow) topReason() string {
	best, n := "", 0
	for k, c := range r.reasons {
		if c > n || (c == n && k < best) {
			best, n = k, c
		}
	}
	return best
}

// write writes the summary as an aligned table, or as one JSON document:
//
//	{"summary":[{"container":"default/web","syscall":"mount","errno":"EPERM",
//	  "count":3,"first":"...","last":"...","reason":"capability: ..."}],"total":3}
func (s *summary) write(w io.Writer, asJSON bool) error {
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.container, r.syscall, r.errno, r.count,
			r.first.Format("15:04:05.000"), r.last.Format("15:04:05.000"), reason)
	}
	fmt.Fprintf(tw, "total\t\t\t%s\t\t\t\n", strconv.Itoa(total))
	return tw.Flush()
}

// writeSummaryFile writes the summary to path.
func (s *summary) writeFile(path string, asJSON bool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := s.write(f, asJSON); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeSummary writes the summary where the flags say: to stdout after the
// events (--summary), to a file (--summary-file), or both.
func writeSummary(s *summary, f *containerFlags, asJSON bool, out io.Writer) error {
	if f.summary {
		if err := s.write(out, asJSON); err != nil {
			return err
		}
		if fl, ok := out.(interface{ Flush() error }); ok {
			if err := fl.Flush(); err != nil {
				return err
			}
		}
	}
	if f.summaryFile != "" {
		if err := s.writeFile(f.summaryFile, asJSON); err != nil {
			return fmt.Errorf("--summary-file: %w", err)
		}
	}
	return nil
}
