package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// readyProbe is the path of the failing openat calls the harness makes to
// see that a peer tracer, which has no ready line, is attached.
const readyProbe = "/nonexistent-ctrbench-ready/"

// failMarker is in the path of every failing call of ctrbench fail and lat.
var failMarker = []byte("/nonexistent-ctrbench/")

// tracer is one way of tracing that the success-path loops run under.
type tracer struct {
	Name  string   // key in the results
	Label string   // for the table and the plot
	Cmd   []string // a tracer that runs beside the loop; nil for none and strace
	Wrap  []string // a prefix for the loop's command line (strace)
	// Stdout of the tracer goes to /dev/null instead of to the harness.
	DevNull bool
	// ReadyLine: the tracer says on stderr when it is attached (ctrace);
	// otherwise the harness waits until the tracer shows a failing openat
	// of its own.
	ReadyLine bool
}

// session is a tracer process running beside the loops.
type session struct {
	cmd     *exec.Cmd
	start   time.Time
	readyAt time.Duration // from exec to attached
	// cpuAtReady is the tracer's CPU time when it became ready.
	cpuAtReady time.Duration

	mu       sync.Mutex
	stderr   []string // the last lines
	ready    chan struct{}
	once     sync.Once
	lostLast uint64
	lostSeen bool
	done     chan struct{} // closed when stdout and stderr reached EOF

	// Counting of the stdout stream (ctrace's events).
	lines, marked uint64
	// onLine, when set, sees every stdout line (latency runs).
	onLine func(line []byte, at int64)
}

var lostRe = regexp.MustCompile(`lost_total=(\d+)`)

// startSession starts a tracer and waits until it is attached.
func startSession(t tracer, ctraceBin string, extra []string, onLine func([]byte, int64)) (*session, error) {
	args := append(append([]string{}, t.Cmd...), extra...)
	switch args[0] {
	case "ctrace":
		args[0] = ctraceBin
	case "self":
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		args[0] = self
	}
	s := &session{
		cmd:    exec.Command(args[0], args[1:]...),
		ready:  make(chan struct{}),
		done:   make(chan struct{}),
		onLine: onLine,
	}
	s.cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stdout io.ReadCloser
	var err error
	if t.DevNull {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		s.cmd.Stdout = f
	} else if stdout, err = s.cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	s.start = time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.readStderr(stderr, t.ReadyLine) }()
	if stdout != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.readStdout(stdout, !t.ReadyLine) }()
	}
	go func() { wg.Wait(); close(s.done) }()

	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		if !t.ReadyLine {
			// A failing openat the tracer should show once attached.
			_, _ = unix.Open(readyProbe+strconv.Itoa(n), unix.O_RDONLY, 0)
		}
		select {
		case <-s.ready:
			s.readyAt = time.Since(s.start)
			s.cpuAtReady = procCPU(s.cmd.Process.Pid)
			return s, nil
		case <-s.done:
			_ = s.cmd.Wait()
			return nil, fmt.Errorf("%s exited before it was attached: %s", args[0], s.lastStderr())
		case <-deadline:
			s.kill()
			return nil, fmt.Errorf("%s not attached after 30 s: %s", args[0], s.lastStderr())
		case <-tick.C:
		}
	}
}

func (s *session) markReady() { s.once.Do(func() { close(s.ready) }) }

func (s *session) lastStderr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.stderr, " | ")
}

func (s *session) readStderr(r io.Reader, readyLine bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		s.mu.Lock()
		if len(s.stderr) >= 20 {
			s.stderr = s.stderr[1:]
		}
		s.stderr = append(s.stderr, line)
		if m := lostRe.FindStringSubmatch(line); m != nil {
			if n, err := strconv.ParseUint(m[1], 10, 64); err == nil && n >= s.lostLast {
				s.lostLast, s.lostSeen = n, true
			}
		}
		s.mu.Unlock()
		if readyLine && strings.Contains(line, "ready:") {
			s.markReady()
		}
		if !readyLine && isProbeLine(line) {
			s.markReady() // perf trace writes its output on stderr
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

func isProbeLine(line string) bool {
	return strings.Contains(line, "ctrbench-ready") || strings.Contains(line, "ctrace-bench/")
}

// readStdout counts lines and the lines of ctrbench's failing calls. A
// session with onLine scans line by line; otherwise it counts in large
// blocks, cheaply enough to keep up with a storm of events.
func (s *session) readStdout(r io.Reader, probe bool) {
	if s.onLine != nil || probe {
		br := bufio.NewReaderSize(r, 1<<20)
		for {
			line, err := br.ReadSlice('\n')
			if len(line) > 0 {
				if probe && isProbeLine(string(line)) {
					s.markReady()
				}
				if bytes.Contains(line, failMarker) {
					s.marked++
				}
				if s.onLine != nil {
					s.onLine(line, monoNow())
				}
				s.lines++
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil {
				return
			}
		}
	}
	buf := make([]byte, 0, 4<<20)
	keep := len(failMarker) - 1
	tail := 0
	for {
		n, err := r.Read(buf[tail:cap(buf)])
		if n > 0 {
			b := buf[:tail+n]
			s.marked += uint64(bytes.Count(b, failMarker))
			s.lines += uint64(bytes.Count(b[tail:], []byte{'\n'}))
			// A marker cut by this read starts in the last keep bytes,
			// which cannot hold a whole one.
			tail = min(keep, len(b))
			copy(buf[:tail], b[len(b)-tail:])
		}
		if err != nil {
			return
		}
	}
}

type stopResult struct {
	cpu     time.Duration // user + system, whole life
	maxRSS  int64         // bytes
	lost    uint64
	lostOK  bool // a lost total was printed
	exit    string
	drained time.Duration // from the stop signal to exit
}

// stop ends a tracer with SIGINT and collects its resource use.
func (s *session) stop() stopResult {
	t0 := time.Now()
	_ = s.cmd.Process.Signal(unix.SIGINT)
	timer := time.AfterFunc(60*time.Second, func() { _ = s.cmd.Process.Kill() })
	<-s.done
	err := s.cmd.Wait()
	timer.Stop()
	var r stopResult
	r.drained = time.Since(t0)
	if err != nil {
		r.exit = err.Error()
	}
	if ru, ok := s.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		r.maxRSS = ru.Maxrss * 1024
	}
	s.mu.Lock()
	r.lost, r.lostOK = s.lostLast, s.lostSeen
	s.mu.Unlock()
	return r
}

func (s *session) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
	_ = s.cmd.Wait()
}

// procCPU is a running process's user + system time, from /proc (10 ms
// resolution).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which ends with the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// loopResult is what ctrbench prints.
type loopResult struct {
	Mode       string  `json:"mode"`
	Threads    int     `json:"threads"`
	Iterations uint64  `json:"iterations"`
	Unexpected uint64  `json:"unexpected"`
	ThreadNS   uint64  `json:"thread_ns"`
	NSPerIter  float64 `json:"ns_per_iter"`
	CPUPerIter float64 `json:"cpu_ns_per_iter"`
	// FastNSPerCall is the time per call of the fastest 1% of the batches
	// of calls the loop timed (see ctrbench.c: the calls no other guest of
	// the machine got in the way of).
	FastNSPerCall float64 `json:"batch_p1_ns_per_call"`
}

// runLoop runs ctrbench, under wrap when set.
func runLoop(ctx context.Context, wrap []string, loopBin string, args ...string) (loopResult, error) {
	argv := append(append(append([]string{}, wrap...), loopBin), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	var r loopResult
	if err := cmd.Run(); err != nil {
		return r, fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(errb.String()))
	}
	// strace may add lines of its own; the result is the JSON one.
	for _, line := range bytes.Split(out.Bytes(), []byte{'\n'}) {
		if bytes.HasPrefix(line, []byte("{")) {
			if err := json.Unmarshal(line, &r); err != nil {
				return r, err
			}
			return r, nil
		}
	}
	return r, fmt.Errorf("%s: no result in %q", strings.Join(argv, " "), out.String())
}

// monoNow is CLOCK_MONOTONIC in nanoseconds, the clock ctrbench lat puts in
// its paths.
func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
