package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog/log"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/audit"
	"github.com/ctrace-dev/ctrace/internal/benign"
	"github.com/ctrace-dev/ctrace/internal/render"
	"github.com/ctrace-dev/ctrace/tracer"
	"github.com/ctrace-dev/ctrace/tracer/xlat"
)

type runFlags struct {
	syscalls   []string
	errnos     []string
	pids       []uint
	comms      []string
	all        bool
	output     string
	duration   time.Duration
	count      int
	bufferSize string
	explain    bool
	showBenign bool
	audit      bool
	reasonWait time.Duration
	ctr        containerFlags
	metrics    metricsFlags
	cpuProfile string
}

func newRunCommand() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [flags] [-- CMD [ARGS...]]",
		Short: "Stream failing syscalls, node-wide or of one command and its descendants",
		Long: `Stream failing mount, namespace, open and exec syscalls of every process on
this node, as strace shows them. With -- CMD, run CMD and trace only it and
its descendants; ctrace then exits with CMD's exit status.`,
		Example: `  sudo ctrace run
  sudo ctrace run -e %mount --errno EPERM,EACCES
  sudo ctrace run -o json -- ./start-container.sh`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() < 0 && len(args) > 0 {
				return usageError("unexpected argument %q: put the command to trace after --", args[0])
			}
			return run(cmd.Context(), &f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVarP(&f.syscalls, "syscalls", "e", nil, "syscalls to trace, by name or %family (%mount, %open, %namespace, %exec); default all")
	fl.StringSliceVar(&f.errnos, "errno", nil, "only failures with these errors (EPERM,EACCES,...)")
	fl.UintSliceVarP(&f.pids, "pid", "p", nil, "only these processes")
	fl.StringSliceVar(&f.comms, "comm", nil, "only processes with these names (as in /proc/PID/comm)")
	fl.BoolVar(&f.all, "all", false, "show successful calls too")
	fl.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (e.g. 30s)")
	fl.IntVar(&f.count, "count", 0, "stop after this many events")
	fl.StringVar(&f.bufferSize, "buffer-size", "8M", "ring buffer size, a power of two (K, M suffixes)")
	fl.BoolVar(&f.audit, "audit", false, "turn kernel auditing on while ctrace runs, if it is off, so that LSM denials (Landlock, AppArmor, SELinux) are named; it affects the whole node (see docs)")
	fl.DurationVar(&f.reasonWait, "reason-wait", audit.DefaultWait, "how long a failure that an LSM may have caused waits for its audit record")
	fl.BoolVar(&f.explain, "explain", false, "say so in text output when no reason for a failure was found")
	f.ctr.register(fl)
	f.metrics.register(fl)
	// For measuring ctrace's own cost per event (docs/BENCHMARKS.md).
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the run to this file")
	_ = fl.MarkHidden("cpuprofile")
	fl.BoolVar(&f.showBenign, "show-benign", false, "show known-harmless failures in text output (runc set-up, loader probing); JSON always has them, marked \"benign\"")
	return cmd
}

func (f *runFlags) tracerOptions(hasCmd bool) (tracer.Options, error) {
	var o tracer.Options
	var err error
	if o.Syscalls, err = tracer.ParseSyscalls(f.syscalls); err != nil {
		return o, usageError("%v", err)
	}
	for _, name := range f.errnos {
		name = strings.ToUpper(strings.TrimSpace(name))
		e, _ := xlat.ParseErrno(name)
		if e == 0 {
			if n, err := strconv.Atoi(name); err == nil && n > 0 && n < 4096 {
				e = unix.Errno(n)
			} else {
				return o, usageError("unknown errno %q; valid names: %s", name, xlat.ErrnoNames())
			}
		}
		o.Errnos = append(o.Errnos, e)
	}
	for _, p := range f.pids {
		if p == 0 || p > 1<<22 {
			return o, usageError("invalid --pid %d", p)
		}
		o.PIDs = append(o.PIDs, uint32(p))
	}
	o.Comms = f.comms
	o.All = f.all
	o.Follow = hasCmd
	if o.BufferSize, err = parseSize(f.bufferSize); err != nil {
		return o, usageError("--buffer-size: %v", err)
	}
	if f.output != "text" && f.output != "json" {
		return o, usageError("unknown output format %q; valid: text, json", f.output)
	}
	if f.count < 0 {
		return o, usageError("--count must not be negative")
	}
	return o, nil
}

func run(ctx context.Context, f *runFlags, cmdArgs []string) error {
	opts, err := f.tracerOptions(len(cmdArgs) > 0)
	if err != nil {
		return err
	}
	filter, err := f.ctr.filter()
	if err != nil {
		return err
	}
	if err := preflight(); err != nil {
		return err
	}
	if err := f.useHostRoot(); err != nil {
		return err
	}
	met, stopMetrics, err := f.metrics.start(opts.BufferSize)
	if err != nil {
		return err
	}
	defer stopMetrics()
	t, err := tracer.Open(opts)
	if err != nil {
		return err
	}
	defer t.Close()
	for _, s := range t.Skipped() {
		ev := log.Warn()
		if errors.Is(s.Err, tracer.ErrNoSyscall) {
			ev = log.Info() // nothing to miss
		}
		ev.Str("syscall", s.Syscall).Msgf("not traced: %v", s.Err)
	}
	if d := t.Dispatch(); d.Err != nil {
		log.Info().Msgf("every syscall's exit runs ctrace's dispatcher (%s), which costs untraced syscalls more: %v", d.Mechanism, d.Err)
	}
	for _, ft := range t.Features() {
		if ft.Err != nil && ft.Name != "fexit" { // a probe, not a reason
			log.Warn().Str("reason", ft.Name).Msgf("failures will not carry %s reasons on this kernel: %v", ft.Name, ft.Err)
		}
	}

	if len(cmdArgs) == 0 {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, unix.SIGINT, unix.SIGTERM)
		defer stop()
	}
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var ch *child
	if len(cmdArgs) > 0 {
		if ch, err = startChild(cmdArgs); err != nil {
			return err
		}
		if err := t.Trace(ch.pid()); err != nil {
			_ = ch.cmd.Process.Kill()
			return err
		}
		// With a command, ctrace reads until the command exits and
		// then drains what is left. A terminal's ^C reaches the command
		// too (same process group), so ctrace only waits for it; a
		// SIGTERM sent to ctrace alone is passed on to the command, once,
		// until the command exits.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, unix.SIGINT, unix.SIGTERM)
		defer signal.Stop(sigs)
		go forwardSignals(sigs, ch)
	}

	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	r := render.New(f.output, out, isTerminal(os.Stdout))
	r.Explain = f.explain
	// Events reach the output from the tracer's goroutine and, when held
	// for their audit records, from the joiner's: outMu orders them.
	var outMu sync.Mutex
	flush := func() {
		outMu.Lock()
		defer outMu.Unlock()
		_ = out.Flush()
	}
	// Containers: the resolver names each event's container; its queue
	// holds an event briefly, in order, while containerd is asked about
	// a container the event named before the event stream did.
	resolver, err := openResolver(context.WithoutCancel(ctx), &f.ctr)
	if err != nil {
		return err
	}
	defer resolver.Close()
	if len(f.ctr.containers) > 0 {
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
		if resolver.WaitConnected(wctx) {
			warnAmbiguous(resolver, &f.ctr)
		}
		wcancel()
	}
	var sum *summary
	if f.ctr.summary || f.ctr.summaryFile != "" {
		sum = newSummary()
	}
	n, hidden, failures := 0, 0, 0
	emit := func(ev *tracer.Event, c *correlate.Container) {
		outMu.Lock()
		defer outMu.Unlock()
		if f.count > 0 && n >= f.count {
			return
		}
		if !filter.Match(c) {
			return
		}
		rule, _ := benign.Match(ev)
		met.Observe(ev, c, rule)
		if rule == nil && ev.Failed() {
			failures++
		}
		if rule != nil && (f.ctr.summary || f.output != "json") && !f.showBenign {
			hidden++
			return
		}
		if sum != nil && (rule == nil || f.showBenign) {
			sum.add(ev, c)
		}
		if !f.ctr.summary {
			r.Event(ev, rule, c)
		}
		n++
		if f.count > 0 && n >= f.count {
			cancel()
		}
	}
	queue := resolver.NewQueue(correlate.QueueOptions{Out: emit, Wait: f.ctr.wait})
	defer queue.Close()
	joiner, stopAudit := startAudit(ctx, f, queue.Push, flush)
	defer stopAudit()
	sink := tracer.Sink{
		Event: joiner.Process,
		// A trickle of events is seen at once; a storm is written in
		// large blocks.
		Idle: flush,
		Lost: func(delta, total uint64) {
			met.Lost(total)
			log.Warn().Uint64("lost", delta).Uint64("lost_total", total).
				Msg("ring buffer full: records lost; raise --buffer-size or narrow the filters")
		},
		Malformed: func(raw []byte, err error) {
			log.Warn().Int("bytes", len(raw)).Msgf("skipped a malformed record: %v", err)
		},
	}

	if f.cpuProfile != "" {
		stopProfile, err := startCPUProfile(f.cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	log.Info().Int("syscalls", len(t.Attached())).Msgf("ready: tracing %d syscalls", len(t.Attached()))

	var exited chan int // the command's exit status
	if ch != nil {
		if err := ch.release(); err != nil {
			return fmt.Errorf("start %s: %w", cmdArgs[0], err)
		}
		exited = make(chan int, 1)
		go func() {
			exited <- ch.wait()
			cancel()
		}()
	}
	runErr := t.Run(ctx, sink)
	stopAudit()   // releases the events still held, in order
	queue.Close() // and so does the container queue, behind it
	if sum != nil {
		if err := writeSummary(sum, &f.ctr, f.output == "json", out); err != nil && runErr == nil {
			runErr = err
		}
	}
	if err := out.Flush(); err != nil && runErr == nil {
		runErr = fmt.Errorf("write output: %w", err)
	}
	// --count, --duration or a read error may end tracing while the
	// command still runs: detach now, and still wait for the command
	// below, so that it is not left behind and its status is ctrace's.
	t.Close()
	if hidden > 0 {
		log.Info().Int("hidden", hidden).Msgf("hid %d known-harmless failures (runc set-up, loader probing); --show-benign shows them", hidden)
	}
	if lost := t.Lost(); lost > 0 {
		log.Warn().Uint64("lost_total", lost).Msgf("%d records lost in all", lost)
	}
	status := 0
	if ch != nil {
		select {
		case status = <-exited:
		default:
			log.Info().Msgf("tracing stopped; waiting for %s to exit", cmdArgs[0])
			status = <-exited
		}
	}
	if runErr != nil {
		return runErr
	}
	if status != 0 {
		return &exitError{code: status}
	}
	if f.ctr.failOnEvents && failures > 0 {
		log.Warn().Int("failures", failures).Msgf("--fail-on-events: %d failures seen", failures)
		return &exitError{code: exitFailures}
	}
	return nil
}

// startCPUProfile profiles the process from now until the returned
// function is called.
func startCPUProfile(path string) (func(), error) {
	fh, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(fh); err != nil {
		_ = fh.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := fh.Close(); err != nil {
			log.Warn().Msgf("--cpuprofile: %v", err)
		}
	}, nil
}

func parseSize(s string) (int, error) {
	mult := 1
	u := strings.ToUpper(strings.TrimSpace(s))
	u = strings.TrimSuffix(strings.TrimSuffix(u, "B"), "I")
	switch {
	case strings.HasSuffix(u, "K"):
		mult, u = 1<<10, strings.TrimSuffix(u, "K")
	case strings.HasSuffix(u, "M"):
		mult, u = 1<<20, strings.TrimSuffix(u, "M")
	case strings.HasSuffix(u, "G"):
		mult, u = 1<<30, strings.TrimSuffix(u, "G")
	}
	n, err := strconv.Atoi(u)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n * mult, nil
}

// startAudit reads LSM denials from the kernel's audit records and returns
// the joiner that attaches them to failures, and the function that stops
// it and releases what it holds. Without audit records the joiner passes
// events straight on.
func startAudit(ctx context.Context, f *runFlags, out func(*tracer.Event), flush func()) (*audit.Joiner, func()) {
	var restore func() error
	if f.audit {
		var err error
		if restore, err = audit.EnableTemporarily(); err != nil {
			log.Warn().Msgf("--audit: %v", err)
		}
	}
	wait := f.reasonWait
	rd, err := audit.OpenReader()
	if av := audit.Probe(); err != nil || !av.Usable() {
		log.Info().Str("reason", "lsm_audit").Msgf("LSM denials from audit: %s", av.String())
		wait = 0
	}
	j := audit.NewJoiner(audit.JoinerOptions{Wait: wait, Out: out, Flush: flush})
	var wg sync.WaitGroup
	// The reader outlives ctx: when the command exits or ^C ends the
	// run, the denials of the last failures may still be on their way,
	// and the joiner is given until their deadlines to take them.
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	if rd != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := rd.Run(rctx, j.Record); err != nil {
				log.Warn().Msgf("reading audit records: %v", err)
			}
			j.SetWait(0) // no more records: stop holding
		}()
	}
	var once sync.Once
	return j, func() {
		once.Do(func() {
			sctx, cancel := context.WithTimeout(context.Background(), wait+time.Second)
			j.Settle(sctx)
			cancel()
			stop()
			j.Close()
			wg.Wait()
			if rd != nil {
				_ = rd.Close()
			}
			if restore != nil {
				if err := restore(); err != nil {
					log.Warn().Msgf("--audit: turning auditing off again: %v", err)
				}
			}
		})
	}
}
