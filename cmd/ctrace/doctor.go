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
  sandbox-orphaned  containerd lists a task as running whose process is gone,
                    or a shim serves a container containerd does not have

doctor only reads: it never unmounts, removes or enters anything. Exit status
0 when nothing was found, 3 when something was.`,
		Example: `  sudo ctrace doctor
  sudo ctrace doctor -o json --containerd-namespace k8s.io`,
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
	rep, err := doctor.Check(doctorInput(r, root, hr.Proc, f.namespace))
	if err != nil {
		return err
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
	if len(rep.Findings) > 0 {
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
// containerd is connected, and exports their counts as gauges. It returns
// the function that stops it and waits.
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
			rep, err := doctor.Check(doctorInput(r, f.hostRoot, f.ctr.procRoot, ""))
			if err != nil {
				log.Warn().Msgf("doctor checks: %v", err)
			} else {
				counts := map[string]int{}
				for k, n := range rep.Counts() {
					counts[string(k)] = n
				}
				met.Findings(counts, time.Now())
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}
