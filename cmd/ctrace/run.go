package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/rs/zerolog/log"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/audit"
	"github.com/ctrace-dev/ctrace/internal/metrics"
	"github.com/ctrace-dev/ctrace/internal/netns"
	"github.com/ctrace-dev/ctrace/internal/pipeline"
	"github.com/ctrace-dev/ctrace/tracer"
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
	noHints    bool
	audit      bool
	reasonWait time.Duration
	ctr        containerFlags
	metrics    metricsFlags
	otlp       otlpFlags
	dedup      dedupFlags
	k8s        podEventsFlags
	cpuProfile string
	// hostRoot is the node's root when ctrace runs in a container ("" on
	// the host); set from --host-root.
	hostRoot string
	// doctorInterval is how often the doctor's checks are rerun for the
	// metrics.
	doctorInterval time.Duration
	doctorFix      bool // --doctor-fix: doctor --fix on each round (doctor.go)
}

func newRunCommand() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [flags] [-- CMD [ARGS...]]",
		Short: "Stream failing syscalls, node-wide or of one command and its descendants",
		Long: `Stream failing mount, namespace, open and exec syscalls of every process on
this node, as strace shows them. With -- CMD, run CMD and trace only it and
its descendants; ctrace then exits with CMD's exit status.

A run ends after --duration or --count, when CMD exits, on SIGINT, SIGTERM
or SIGHUP, or when its stdout is closed (ctrace run | head): exit status 0.
After the first signal ctrace still passes on the failures it holds for
--reason-wait; a second signal ends it at once. ctrace leaves no mount and,
once it has exited, no program behind. --audit turns kernel auditing off
again on every one of these ends; if ctrace is killed (SIGKILL, out of
memory) auditing stays on until the next ctrace run or ctrace check, which
turns it off (the record is /run/ctrace/audit-enabled.json).`,
		Example: `  sudo ctrace run
  sudo ctrace run -e %mount --errno EPERM,EACCES
  sudo ctrace run -o json -- ./start-container.sh`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() < 0 && len(args) > 0 {
				return usageError("unexpected argument %q: put the command to trace after --", args[0])
			}
			if err := checkEmpty(cmd.Flags()); err != nil {
				return err
			}
			return run(cmd.Context(), &f, args)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// register defines run's flags on fl.
func (f *runFlags) register(fl *pflag.FlagSet) {
	fl.StringSliceVarP(&f.syscalls, "syscalls", "e", nil, "syscalls to trace, by name or %family (%mount, %open, %namespace, %exec, %runtime: stat, access, mkdir, symlink and chdir calls of container runtimes only); default all")
	fl.StringSliceVar(&f.errnos, "errno", nil, "only failures with these errors (EPERM,EACCES,...)")
	fl.UintSliceVarP(&f.pids, "pid", "p", nil, "only these processes")
	fl.StringSliceVar(&f.comms, "comm", nil, "only processes with these names (as in /proc/PID/comm)")
	fl.BoolVar(&f.all, "all", false, "show successful calls too")
	fl.StringVarP(&f.output, "output", "o", "text", "output format: text, json, or none (with --otlp-endpoint or --metrics-addr)")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (e.g. 30s)")
	fl.IntVar(&f.count, "count", 0, "stop after this many events")
	fl.StringVar(&f.bufferSize, "buffer-size", "8M", "ring buffer size, a power of two from 4K to 1G (K, M, G suffixes)")
	fl.BoolVar(&f.audit, "audit", false, "turn kernel auditing on while ctrace runs, if it is off, so that LSM denials (Landlock, AppArmor, SELinux) are named; it affects the whole node, and is turned off at exit, or by the next ctrace run or check if ctrace was killed")
	fl.DurationVar(&f.reasonWait, "reason-wait", audit.DefaultWait, "how long a failure that an LSM may have caused waits for its audit record (at most 10s)")
	fl.BoolVar(&f.explain, "explain", false, "say so in text output when no reason for a failure was found")
	fl.BoolVar(&f.noHints, "no-hints", false, "leave out the hints (what to do about a failure's reason) in text and JSON output and OTLP records")
	f.ctr.register(fl)
	f.metrics.register(fl)
	fl.DurationVar(&f.doctorInterval, "doctor-interval", time.Minute, "with --metrics-addr, how often ctrace doctor's checks run for the ctrace_netns_findings gauges (at least 1s)")
	fl.BoolVar(&f.doctorFix, "doctor-fix", false, "every --doctor-interval, also carry out ctrace doctor --fix (off by default; needs write access to the node's netns and CNI state)")
	f.otlp.register(fl)
	f.dedup.register(fl)
	f.k8s.register(fl)
	// For measuring ctrace's own cost per event (docs/BENCHMARKS.md).
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the run to this file")
	_ = fl.MarkHidden("cpuprofile")
	fl.BoolVar(&f.showBenign, "show-benign", false, "show known-harmless failures in text output (runc set-up, loader and PATH probing); JSON always has them, marked \"benign\"")
}

// run traces until the run ends: flags checked, the node checked, the
// tracer loaded, then every event goes through the pipeline (permission ->
// audit join -> containers -> filter -> netns -> benign -> dedup -> hints
// -> limit; cmd/ctrace/pipeline.go) to the sinks (metrics, summary, text
// or JSON, OTLP), and the exit status says how it went.
func run(ctx context.Context, f *runFlags, cmdArgs []string) error {
	opts, filter, err := f.check(len(cmdArgs) > 0)
	if err != nil {
		return err
	}
	if err := preflight(); err != nil {
		return err
	}
	restoreAuditLeftover()
	if err := f.useHostRoot(); err != nil {
		return err
	}
	if err := checkPIDs(f.pids, f.ctr.procRoot); err != nil {
		return err
	}
	met, health, stopMetrics, err := f.metrics.start(opts.BufferSize)
	if err != nil {
		return err
	}
	defer stopMetrics()
	t, err := openTracer(opts)
	if err != nil {
		return err
	}
	closeTracer := sync.OnceFunc(func() { _ = t.Close() })
	defer closeTracer()
	health.Attached(len(t.Attached()))
	ctx, end, hurry, release := runContext(ctx, f.duration, len(cmdArgs) > 0)
	defer release()
	cmd, err := traceCommand(t, cmdArgs)
	if err != nil {
		return err
	}
	defer cmd.close()
	// Network namespace files: whose they were, learnt from the
	// resolver's containers as containerd changes them.
	nsIndex := netns.NewIndex(netns.IndexOptions{Root: f.hostRoot})
	resolver, err := startResolver(ctx, &f.ctr, nsIndex.Observe)
	if err != nil {
		return err
	}
	defer resolver.Close()
	if met != nil || f.doctorFix {
		stopDoctor := startDoctor(ctx, resolver, met, f)
		defer stopDoctor()
	}
	p, err := f.pipeline(ctx, end, resolver, filter, nsIndex, met)
	if err != nil {
		return err
	}
	defer p.Abort()
	stopProfile, err := startCPUProfile(f.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()

	log.Info().Int("syscalls", len(t.Attached())).Msgf("ready: tracing %d syscalls", len(t.Attached()))
	if err := cmd.start(end); err != nil {
		return err
	}
	runErr := t.Run(ctx, tracerSink(p.Pipeline, health))
	health.Stopped(runErr)
	// Detaching waits for a grace period per tracepoint, one after
	// another in the kernel (about 1.5 s for every syscall here, however
	// many goroutines close them): it runs while the stages settle and
	// the sinks write out. --count, --duration or a read error may end
	// tracing while the command still runs: the programs are detached
	// all the same, and the command is waited for below, so that it is
	// not left behind and its status is ctrace's.
	detached := make(chan struct{})
	go func() {
		defer close(detached)
		closeTracer()
	}()
	// What the stages still hold is passed on (the last failures' audit
	// records may still be on their way), then the sinks write out; a
	// second signal passes it on at once.
	cctx, cancel := context.WithTimeout(hurry, f.reasonWait+time.Second)
	if err := p.Close(cctx); err != nil && runErr == nil {
		runErr = err
	}
	cancel()
	<-detached
	reportUnseen(p.tally.Hidden, t.Lost())
	reportLimited(p.dedup)
	return exitStatus(runErr, cmd.exitStatus(), f.ctr.failOnEvents, p.tally.Failures)
}

// openTracer loads and attaches the programs and says what this kernel
// leaves out.
func openTracer(opts tracer.Options) (*tracer.Tracer, error) {
	t, err := tracer.Open(opts)
	if err != nil {
		return nil, err
	}
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
	return t, nil
}

// runContext is the run's life. It ends on SIGINT, SIGTERM or SIGHUP when
// no command is traced (with one, the command's exit decides: see
// traceCommand), after --duration, or when end is called (--count, the
// command's exit, stdout closed). hurry is done when a signal comes after
// the run ended (a second Ctrl-C): what the stages still hold for
// --reason-wait is then passed on at once. SIGPIPE is caught, so that a
// closed stdout is an error on write (see stdoutWriter) and not the end
// of ctrace before it restored what it changed. release stops watching
// the signals.
func runContext(parent context.Context, duration time.Duration, hasCmd bool) (ctx context.Context, end context.CancelFunc, hurry context.Context, release func()) {
	var cancels []context.CancelFunc
	ctx = parent
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		cancels = append(cancels, cancel)
	}
	ctx, end = context.WithCancel(ctx)
	cancels = append(cancels, end)
	hurry, hurryNow := context.WithCancel(context.WithoutCancel(parent))
	cancels = append(cancels, hurryNow)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGPIPE)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case s := <-sigs:
				switch {
				case s == unix.SIGPIPE:
				case ctx.Err() == nil && !hasCmd:
					log.Info().Msgf("%s: stopping; again to stop without waiting for reasons", unix.SignalName(s.(unix.Signal)))
					end()
				case ctx.Err() != nil:
					log.Info().Msgf("%s: stopping now", unix.SignalName(s.(unix.Signal)))
					hurryNow()
				}
			}
		}
	}()
	return ctx, end, hurry, func() {
		signal.Stop(sigs)
		close(stop)
		wg.Wait()
		for i := len(cancels) - 1; i >= 0; i-- {
			cancels[i]()
		}
	}
}

// tracerSink feeds the tracer's records to the pipeline, and says when
// records are lost or malformed. With /healthz (health not nil), the
// reader's rounds are its heartbeat: every idle moment, which comes at
// least every 200 ms, and every metrics.BeatEvery events in a storm.
func tracerSink(p *pipeline.Pipeline, health *metrics.Health) tracer.Sink {
	event, idle := p.Process, p.Idle
	if health != nil {
		n := 0 // Event and Idle are called from Run's goroutine only
		event = func(ev *tracer.Event) {
			if n++; n == metrics.BeatEvery {
				n = 0
				health.Beat()
			}
			p.Process(ev)
		}
		idle = func() {
			health.Beat()
			p.Idle()
		}
	}
	return tracer.Sink{
		Event: event,
		Idle:  idle,
		Lost: func(delta, total uint64) {
			p.Lost(delta, total)
			log.Warn().Uint64("lost", delta).Uint64("lost_total", total).
				Msg("ring buffer full: records lost; raise --buffer-size or narrow the filters")
		},
		Malformed: func(raw []byte, err error) {
			log.Warn().Int("bytes", len(raw)).Msgf("skipped a malformed record: %v", err)
		},
	}
}

// reportUnseen says at exit what the user did not see: the known-harmless
// failures hidden and the records lost.
func reportUnseen(hidden int, lost uint64) {
	if hidden > 0 {
		log.Info().Int("hidden", hidden).Msgf("hid %d known-harmless failures (runc set-up, loader and PATH probing); --show-benign shows them", hidden)
	}
	if lost > 0 {
		log.Warn().Uint64("lost_total", lost).Msgf("%d records lost in all", lost)
	}
}

// exitStatus is the run's outcome: ctrace's own error first, then the
// traced command's exit status, then --fail-on-events.
func exitStatus(runErr error, cmdStatus int, failOnEvents bool, failures int) error {
	if runErr != nil {
		return runErr
	}
	if cmdStatus != 0 {
		return &exitError{code: cmdStatus}
	}
	if failOnEvents && failures > 0 {
		log.Warn().Int("failures", failures).Msgf("--fail-on-events: %d failures seen", failures)
		return &exitError{code: exitFailures}
	}
	return nil
}

// startCPUProfile profiles the process from now until the returned
// function is called (--cpuprofile); without a path it does nothing.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
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
