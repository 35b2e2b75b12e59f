package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/rs/zerolog/log"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/tracer"
)

// The command of `ctrace run -- CMD` is started through a hidden helper:
// ctrace re-executes itself, the helper waits until the tracer has added its
// pid to the traced set, then execs CMD. So CMD is traced from its first
// instruction, its own failing execve included (a command not found shows
// as the execve calls of the PATH search).
const execHelper = "__exec"

func init() {
	// The helper must exec from its main thread. An exec from any other
	// thread makes the kernel end the main thread first (de_thread), and
	// that thread's exit, with the pid the tracer follows, reads in the
	// kernel as the process's exit: CMD would drop out of the traced set
	// before its first instruction. Locked in init, main runs there.
	if len(os.Args) > 1 && os.Args[1] == execHelper {
		runtime.LockOSThread()
	}
}

func newExecHelperCommand() *cobra.Command {
	return &cobra.Command{
		Use:                execHelper + " CMD [ARGS...]",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 && args[0] == "--" {
				args = args[1:]
			}
			if len(args) == 0 {
				return usageError("%s: no command", execHelper)
			}
			gate := os.NewFile(3, "gate")
			var b [1]byte
			if n, _ := gate.Read(b[:]); n != 1 {
				// The tracer went away before releasing us.
				return &exitError{code: 127}
			}
			gate.Close()
			err := execvp(args[0], args)
			fmt.Fprintf(os.Stderr, "ctrace: %s: %v\n", args[0], err)
			if errors.Is(err, unix.ENOENT) {
				return &exitError{code: 127}
			}
			return &exitError{code: 126}
		},
	}
}

// execvp searches PATH as execvp(3) does, trying each candidate, so that
// every attempt is a real execve that ctrace can show.
func execvp(name string, argv []string) error {
	if strings.Contains(name, "/") {
		return syscall.Exec(name, argv, os.Environ())
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	var first error
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		err := syscall.Exec(filepath.Join(dir, name), argv, os.Environ())
		if first == nil || (errors.Is(first, unix.ENOENT) && !errors.Is(err, unix.ENOENT)) {
			first = err
		}
	}
	return first
}

// child is a command being traced.
type child struct {
	cmd    *exec.Cmd
	gate   *os.File
	done   chan struct{} // closed when the command has exited
	sigs   chan os.Signal
	exited chan int // the command's exit status, once started
	name   string   // as the user gave it
}

// traceCommand starts `ctrace run -- CMD`'s command held before its exec,
// in the traced set; nil without a command. ctrace then reads until the
// command exits and drains what is left. A terminal's ^C reaches the
// command too (same process group), so ctrace only waits for it; a
// SIGTERM or SIGHUP sent to ctrace alone is passed on to the command,
// once, until the command exits.
func traceCommand(t *tracer.Tracer, args []string) (*child, error) {
	if len(args) == 0 {
		return nil, nil
	}
	ch, err := startChild(args)
	if err != nil {
		return nil, err
	}
	if err := t.Trace(ch.pid()); err != nil {
		_ = ch.cmd.Process.Kill()
		return nil, err
	}
	ch.sigs = make(chan os.Signal, 1)
	signal.Notify(ch.sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	go forwardSignals(ch.sigs, ch)
	return ch, nil
}

// start lets the command exec, and calls end when it has exited.
func (c *child) start(end func()) error {
	if c == nil {
		return nil
	}
	if err := c.release(); err != nil {
		return fmt.Errorf("start %s: %w", c.name, err)
	}
	c.exited = make(chan int, 1)
	go func() {
		c.exited <- c.wait()
		end()
	}()
	return nil
}

// exitStatus waits for the command to exit and returns its status; 0
// without a command.
func (c *child) exitStatus() int {
	if c == nil {
		return 0
	}
	select {
	case status := <-c.exited:
		return status
	default:
		log.Info().Msgf("tracing stopped; waiting for %s to exit", c.name)
		return <-c.exited
	}
}

// close stops passing signals on.
func (c *child) close() {
	if c != nil {
		signal.Stop(c.sigs)
	}
}

// startChild starts CMD held before its exec.
func startChild(args []string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find ctrace's own binary to start %s: %w", args[0], err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", args[0], err)
	}
	cmd := exec.Command(self, append([]string{execHelper, "--"}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{r}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start %s: %w", args[0], err)
	}
	r.Close()
	return &child{cmd: cmd, gate: w, done: make(chan struct{}), name: args[0]}, nil
}

func (c *child) pid() uint32 { return uint32(c.cmd.Process.Pid) }

// release lets the command exec.
func (c *child) release() error {
	defer c.gate.Close()
	_, err := c.gate.Write([]byte{1})
	return err
}

// wait waits for the command to exit and returns its exit status as a
// shell would (128+signal when killed). Signals are forwardSignals' job.
func (c *child) wait() int {
	err := c.cmd.Wait()
	close(c.done)
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 1
}

// forwardSignals passes SIGTERM and SIGHUP on to the traced command until
// it exits.
// SIGINT is not passed on: from a terminal the command has it already.
func forwardSignals(sigs <-chan os.Signal, ch *child) {
	for {
		select {
		case <-ch.done:
			return
		case s := <-sigs:
			if s == unix.SIGTERM || s == unix.SIGHUP {
				_ = ch.cmd.Process.Signal(s)
			}
		}
	}
}
