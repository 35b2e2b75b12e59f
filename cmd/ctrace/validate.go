package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/metrics"
	"github.com/ctrace-dev/ctrace/tracer"
	"github.com/ctrace-dev/ctrace/tracer/xlat"
)

// Limits of run's flags. Every flag is checked before anything is loaded:
// a bad value is a usage error (exit status 2) that names the flag, says
// what is wrong and what is allowed.
const (
	// maxBufferSize bounds --buffer-size: the kernel takes a ring buffer
	// of up to 4 GiB less a few pages (a 32-bit size), and a buffer that
	// large is memory the node does not get back until ctrace exits.
	maxBufferSize = 1 << 30
	// maxComms is the size of the kernel's name filter (the comms map in
	// bpf/maps.h).
	maxComms = 64
	// commLen is what the kernel keeps of a process name (TASK_COMM_LEN
	// less the NUL): longer names are cut to it, as the kernel cuts them.
	commLen = 15
	// maxPID is the kernel's PID_MAX_LIMIT on 64-bit machines.
	maxPID = 1 << 22
	// maxReasonWait bounds --reason-wait: every failure that an LSM may
	// have caused waits that long before it is shown, and so does the
	// end of the run.
	maxReasonWait = 10 * time.Second
)

// check validates the flags: the tracer's options, the container filter
// and the rest of run's flags (checkEmpty has seen the lists).
func (f *runFlags) check(hasCmd bool) (tracer.Options, correlate.Filter, error) {
	o, err := f.tracerOptions(hasCmd)
	if err != nil {
		return o, correlate.Filter{}, err
	}
	filter, err := f.ctr.filter()
	if err != nil {
		return o, filter, err
	}
	switch {
	case f.duration < 0:
		return o, filter, usageError("--duration %v: negative; allowed: a duration such as 30s or 5m, 0 for no limit", f.duration)
	case f.reasonWait < 0 || f.reasonWait > maxReasonWait:
		return o, filter, usageError("--reason-wait %v: out of range; allowed: 0 (do not wait) to %v", f.reasonWait, maxReasonWait)
	case f.ctr.wait < 0:
		return o, filter, usageError("--container-wait %v: negative; allowed: a duration such as 250ms (0 means the default, %v)", f.ctr.wait, correlate.DefaultWait)
	case f.metrics.maxSeries < 1:
		return o, filter, usageError("--metrics-max-series %d: out of range; allowed: 1 or more (default %d)", f.metrics.maxSeries, metrics.DefaultMaxSeries)
	case f.doctorInterval < time.Second:
		return o, filter, usageError("--doctor-interval %v: too short; allowed: 1s or more, e.g. 1m (the default)", f.doctorInterval)
	}
	if f.metrics.addr != "" {
		if _, err := metrics.ListenAddr(f.metrics.addr); err != nil {
			return o, filter, usageError("--metrics-addr: %v", err)
		}
	}
	if f.cpuProfile != "" {
		if err := checkWritable(f.cpuProfile); err != nil {
			return o, filter, usageError("--cpuprofile %s: %v; allowed: a file in a directory that exists and ctrace may write", f.cpuProfile, err)
		}
	}
	if f.ctr.summaryFile != "" {
		if err := checkWritable(f.ctr.summaryFile); err != nil {
			return o, filter, usageError("--summary-file %s: %v; allowed: a file in a directory that exists and ctrace may write", f.ctr.summaryFile, err)
		}
	}
	if err := f.dedup.check(); err != nil {
		return o, filter, err
	}
	if err := f.otlp.check(); err != nil {
		return o, filter, err
	}
	if err := f.k8s.check(); err != nil {
		return o, filter, err
	}
	return o, filter, nil
}

// checkEmpty rejects a list flag given with nothing in it (-e ”), or an
// empty item (-e mount,): an empty list would select everything.
func checkEmpty(flags *pflag.FlagSet) error {
	var err error
	flags.Visit(func(fl *pflag.Flag) {
		sv, ok := fl.Value.(pflag.SliceValue)
		if !ok || err != nil {
			return
		}
		vs := sv.GetSlice()
		empty := len(vs) == 0
		for _, v := range vs {
			empty = empty || strings.TrimSpace(v) == ""
		}
		if empty {
			err = usageError("%s: an empty value; allowed: one or more values, comma-separated (see ctrace run --help), or no %s flag at all", flagName(fl), flagName(fl))
		}
	})
	return err
}

// flagName is how a flag is written: -e/--syscalls or --errno.
func flagName(fl *pflag.Flag) string {
	if fl.Shorthand != "" {
		return "-" + fl.Shorthand + "/--" + fl.Name
	}
	return "--" + fl.Name
}

func (f *runFlags) tracerOptions(hasCmd bool) (tracer.Options, error) {
	var o tracer.Options
	var err error
	if o.Syscalls, err = tracer.ParseSyscalls(f.syscalls); err != nil {
		return o, usageError("-e/--syscalls: %v", err)
	}
	for _, name := range f.errnos {
		name = strings.ToUpper(strings.TrimSpace(name))
		e, _ := xlat.ParseErrno(name)
		if e == 0 {
			if n, err := strconv.Atoi(name); err == nil && n > 0 && n < 4096 {
				e = unix.Errno(n)
			} else {
				return o, usageError("--errno: unknown errno %q; allowed: a number from 1 to 4095 or one of these names:\n%s", name, errnoNames())
			}
		}
		o.Errnos = append(o.Errnos, e)
	}
	for _, p := range f.pids {
		if p == 0 || p > maxPID {
			return o, usageError("--pid %d: not a process id; allowed: 1 to %d", p, maxPID)
		}
		o.PIDs = append(o.PIDs, uint32(p))
	}
	comms := map[string]bool{}
	for _, c := range f.comms {
		if len(c) > commLen {
			c = c[:commLen]
		}
		comms[c] = true
	}
	if len(comms) > maxComms {
		return o, usageError("--comm: %d names; allowed: at most %d", len(comms), maxComms)
	}
	o.Comms = f.comms
	o.All = f.all
	o.Follow = hasCmd
	// --dedup counts repeats in the kernel, in windows of --dedup-window.
	o.Aggregate = f.dedup.windowOn(f.otlp.exporting())
	if o.BufferSize, err = parseSize(f.bufferSize); err != nil {
		return o, usageError("--buffer-size %s: %v; allowed: a power of two from 4K to 1G (K, M, G suffixes)", f.bufferSize, err)
	}
	if f.output != "text" && f.output != "json" && f.output != "none" {
		return o, usageError("-o/--output: unknown output format %q; valid: text, json, none", f.output)
	}
	if f.count < 0 {
		return o, usageError("--count %d: negative; allowed: 0 (no limit) or more", f.count)
	}
	return o, nil
}

// checkPIDs says when a --pid names no process: in the node's /proc
// (procRoot, "" for /proc), since the kernel's pids are the node's.
func checkPIDs(pids []uint, procRoot string) error {
	if procRoot == "" {
		procRoot = "/proc"
	}
	for _, p := range pids {
		if _, err := os.Stat(filepath.Join(procRoot, strconv.FormatUint(uint64(p), 10))); err != nil {
			return usageError("--pid %d: no such process; allowed: the pid of a running process (on the node, not in ctrace's container)", p)
		}
	}
	return nil
}

// checkWritable says why path cannot be created or written, without
// changing it: the summary is written at the end of the run, which is late
// to find that out.
func checkWritable(path string) error {
	if st, err := os.Stat(path); err == nil {
		if st.IsDir() {
			return fmt.Errorf("is a directory")
		}
		if err := unix.Access(path, unix.W_OK); err != nil {
			return fmt.Errorf("not writable: %w", err)
		}
		return nil
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("no directory %s", dir)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("directory %s not writable: %w", dir, err)
	}
	return nil
}

// errnoNames lists the errno names, wrapped and indented.
func errnoNames() string {
	var b strings.Builder
	line := 0
	for _, n := range strings.Split(xlat.ErrnoNames(), ",") {
		if line > 0 && line+len(n)+1 > 72 {
			b.WriteString(",\n")
			line = 0
		} else if line > 0 {
			b.WriteString(", ")
		}
		if line == 0 {
			b.WriteString("  ")
			line = 2
		}
		b.WriteString(n)
		line += len(n) + 2
	}
	return b.String()
}

// parseSize parses a size in bytes with an optional K, M or G suffix
// (KB, KiB, ... too): a power of two from the page size to maxBufferSize.
func parseSize(s string) (int, error) {
	mult := uint64(1)
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
	n, err := strconv.ParseUint(u, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("not a size")
	}
	if n > math.MaxUint64/mult || n*mult > maxBufferSize {
		return 0, fmt.Errorf("too large")
	}
	n *= mult
	if n < uint64(os.Getpagesize()) {
		return 0, fmt.Errorf("smaller than a page (%d bytes)", os.Getpagesize())
	}
	if n&(n-1) != 0 {
		return 0, fmt.Errorf("not a power of two")
	}
	return int(n), nil
}
