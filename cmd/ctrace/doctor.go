package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog/log"
	"github.com/spf13/cobra"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/doctor"
	"github.com/ctrace-dev/ctrace/internal/metrics"
)

// exitFindings is doctor's exit status when it found something: the same
// as run's --fail-on-events, distinct from 1 (ctrace's own errors) and 2
// (usage).
const exitFindings = 3

type doctorFlags struct {
	output    string
	address   string
	namespace string
	timeout   time.Duration
	fix       bool
	dryRun    bool
	minAge    time.Duration
	cniConf   string
	cniBin    []string
	cniState  string
}

func newDoctorCommand() *cobra.Command {
	var f doctorFlags
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check containerd's containers against the node's network namespaces and processes",
		Long: `Compare containerd's containers (every namespace) with the network namespace
files under /run/netns and /var/run/netns and with the node's processes, and
report what does not fit before a call fails on it:

  netns-stale       a container names a netns file whose bind mount is gone
                    (or an unnamed file with no namespace behind it)
  netns-missing     a container with a live task names a file that does not exist
  netns-leaked      a netns file that no container names and no process is in
  netns-busy        a netns file no running container uses whose mount other
                    mount namespaces hold, so that unmounting it does not free it
  ipam-leaked       a host-local address (/var/lib/cni/networks/NET/IP) or a
                    CNI result cache entry of a container containerd does not have
  sandbox-orphaned  containerd lists a task as running whose process is gone,
                    or a shim serves a container containerd does not have

It also reports the CNI networks configured (which declare CNI 1.1, with its
STATUS and GC verbs) and the plugin binaries they run that are missing.

Without --fix doctor only reads: it never unmounts, removes or enters
anything. --fix carries out the action of the findings it can prove safe,
re-verifying each just before: it removes stale netns files no container
names, unmounts and removes leaked ones, releases leaked addresses under
host-local's lock and removes the cache entries of gone containers, each only
when older than --min-age; --fix --dry-run says what it would do. Exit status
0 when nothing is left, 3 when findings remain.`,
		Example: `  sudo ctrace doctor
  sudo ctrace doctor -o json --containerd-namespace k8s.io
  sudo ctrace doctor --fix --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDoctor(cmd.Context(), &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	fl.StringVar(&f.address, "containerd-address", "", "containerd's socket; default: the first of "+strings.Join(correlate.KnownAddresses, ", ")+" that exists")
	fl.StringVar(&f.namespace, "containerd-namespace", "", "check only the containers of this containerd namespace (default: all)")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for containerd")
	fl.BoolVar(&f.fix, "fix", false, "carry out the action of the findings that can be proved safe (stale and leaked netns files, leaked addresses and CNI cache entries); the rest are reported as not fixed")
	fl.BoolVar(&f.dryRun, "dry-run", false, "with --fix, say what would be done and change nothing")
	fl.DurationVar(&f.minAge, "min-age", doctor.DefaultMinAge, "report CNI addresses and cache entries, and let --fix touch files, only once they are this old: a pod being created has them before containerd has its sandbox")
	fl.StringVar(&f.cniConf, "cni-conf-dir", doctor.DefaultCNIConfDir, "the CNI configuration directory (containerd's CRI conf_dir)")
	fl.StringSliceVar(&f.cniBin, "cni-bin-dir", []string{doctor.DefaultCNIBinDir}, "the CNI plugin directories (containerd's CRI bin_dir); repeat or separate with commas")
	fl.StringVar(&f.cniState, "cni-state-dir", doctor.DefaultCNIStateDir, "libcni's and host-local's state directory (results/, networks/)")
	return cmd
}

func runDoctor(ctx context.Context, f *doctorFlags) error {
	if f.output != "text" && f.output != "json" {
		return usageError("--output: unknown format %q; valid: text, json", f.output)
	}
	if f.timeout <= 0 {
		return usageError("--timeout must be positive, e.g. 10s")
	}
	if strings.ContainsAny(f.namespace, "/ \t") {
		return usageError("--containerd-namespace: %q is not a namespace name (letters, digits, '.', '_', '-')", f.namespace)
	}
	if f.dryRun && !f.fix {
		return usageError("--dry-run: only with --fix (without --fix doctor changes nothing anyway)")
	}
	if f.minAge < 0 {
		return usageError("--min-age %v: negative; allowed: 0 or a duration such as 2m (the default)", f.minAge)
	}
	for _, d := range append([]string{f.cniConf, f.cniState}, f.cniBin...) {
		if !strings.HasPrefix(d, "/") {
			return usageError("--cni-conf-dir, --cni-bin-dir, --cni-state-dir: %q is not an absolute path on the node", d)
		}
	}
	hr, err := resolveHostRoot()
	if err != nil {
		return err
	}
	root, addr := "", f.address
	if !hr.OnHost() {
		root = hr.Path
		if addr == "" {
			addr = hr.Containerd
		}
	}
	r, err := correlate.Open(ctx, correlate.Options{Address: addr, ProcRoot: hr.Proc})
	if err != nil {
		return err
	}
	defer r.Close()
	wctx, cancel := context.WithTimeout(ctx, f.timeout)
	ok := r.WaitConnected(wctx)
	cancel()
	if !ok {
		where := addr
		if where == "" {
			where = strings.Join(correlate.KnownAddresses, ", ")
		}
		return fmt.Errorf("containerd not reachable at %s within %v: doctor compares its containers with the node; give its socket with --containerd-address", where, f.timeout)
	}
	in := doctorInput(r, root, hr.Proc, f.namespace)
	in.CNIConfDir, in.CNIBinDirs, in.CNIStateDir, in.MinAge = f.cniConf, f.cniBin, f.cniState, f.minAge
	rep, err := doctor.Check(in)
	if err != nil {
		return err
	}
	if f.fix {
		_, sock := r.Connected()
		in.Live = doctor.ContainerdLive(sock, root)
		doctor.Fix(ctx, in, &rep, f.dryRun)
	}
	out := bufio.NewWriter(os.Stdout)
	if f.output == "json" {
		err = rep.WriteJSON(out)
	} else {
		err = rep.WriteText(out)
	}
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if rep.Remaining() > 0 {
		return &exitError{code: exitFindings}
	}
	return nil
}

// doctorInput is what the doctor checks, from a connected resolver: its
// socket as the shims name it (without the host root's prefix).
func doctorInput(r *correlate.Resolver, root, proc, namespace string) doctor.Input {
	_, addr := r.Connected()
	if root == "/" {
		root = ""
	}
	if root != "" && strings.HasPrefix(addr, root+"/") {
		addr = strings.TrimPrefix(addr, root)
	}
	if proc == "" {
		proc = "/proc"
	}
	return doctor.Input{Containers: r.Containers, Namespace: namespace, Root: root, Proc: proc, Address: addr}
}

// startDoctor runs the doctor's checks every --doctor-interval, once
// containerd is connected, and exports their counts as gauges; with
// --doctor-fix it also fixes what doctor --fix would, and counts that. It
// returns the function that stops it and waits.
func startDoctor(ctx context.Context, r *correlate.Resolver, met *metrics.Metrics, f *runFlags) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if !r.WaitConnected(ctx) {
			return
		}
		tick := time.NewTicker(f.doctorInterval)
		defer tick.Stop()
		for {
			doctorRound(ctx, r, met, f)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// doctorRound is one run of the checks (and fixes) of the run loop. The
// loop reads CNI's state where the node keeps it by default, below the
// host root: a DaemonSet that fixes needs those paths mounted writable.
func doctorRound(ctx context.Context, r *correlate.Resolver, met *metrics.Metrics, f *runFlags) {
	in := doctorInput(r, f.hostRoot, f.ctr.procRoot, "")
	in.CNIConfDir, in.CNIBinDirs, in.CNIStateDir = doctor.DefaultCNIConfDir, []string{doctor.DefaultCNIBinDir}, doctor.DefaultCNIStateDir
	in.MinAge = doctor.DefaultMinAge
	rep, err := doctor.Check(in)
	if err != nil {
		log.Warn().Msgf("doctor checks: %v", err)
		return
	}
	kinds := make([]string, 0, len(doctor.Kinds))
	for _, k := range doctor.Kinds {
		kinds = append(kinds, string(k))
	}
	if f.doctorFix {
		_, sock := r.Connected()
		in.Live = doctor.ContainerdLive(sock, in.Root)
		doctor.Fix(ctx, in, &rep, false)
		fixed, failed := map[string]int{}, map[string]int{}
		for _, x := range rep.Findings {
			switch {
			case x.Fix.Fixed:
				fixed[string(x.Kind)]++
				log.Info().Msgf("doctor: %s: %s", x.Kind, x.Fix.Did)
			case x.Fix.Failed:
				failed[string(x.Kind)]++
				log.Warn().Msgf("doctor: %s %s: %s", x.Kind, x.Path, x.Fix.Error)
			}
		}
		met.Fixes(kinds, fixed, failed)
	}
	// The gauges count what is left: a fixed finding is gone.
	counts := map[string]int{}
	for _, k := range kinds {
		counts[k] = 0
	}
	for _, x := range rep.Findings {
		if x.Fix == nil || (!x.Fix.Fixed && !x.Fix.Resolved) {
			counts[string(x.Kind)]++
		}
	}
	met.Findings(counts, time.Now())
}
