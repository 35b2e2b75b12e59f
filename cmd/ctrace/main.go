// Command ctrace traces failing mount, namespace, open and exec syscalls
// node-wide with eBPF, and says who failed and why.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/log"
	"github.com/spf13/cobra"
)

// exitError carries a process exit status up to main.
type exitError struct {
	code int
	err  error // nil when there is nothing more to say
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError marks bad flags or arguments: exit status 2.
func usageError(format string, a ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, a...)}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "ctrace",
		Short: "Trace failing mount, namespace, open and exec syscalls node-wide",
		Long: `ctrace watches every process on this node with eBPF, without ptrace, and
prints each failing mount, namespace, open and exec syscall the way strace
would, with the process that made it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: 2, err: err}
	})
	root.AddCommand(newRunCommand(), newCheckCommand(), newVersionCommand(), newDoctorCommand(), newExecHelperCommand(), newGenDocsCommand())
	addHostRootFlag(root)
	return root
}

func main() {
	zerolog.TimeFieldFormat = zerolog.TimeFormatUnixMicro
	log.Logger = zerolog.New(zerolog.ConsoleWriter{
		Out:        os.Stderr,
		NoColor:    !isTerminal(os.Stderr),
		TimeFormat: "15:04:05",
	}).With().Timestamp().Logger()

	err := newRootCommand().Execute()
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			log.Error().Msg(ee.err.Error())
		}
		os.Exit(ee.code)
	}
	log.Error().Msg(err.Error())
	// cobra reports an unknown command as a plain error; it is bad input
	// all the same.
	if strings.HasPrefix(err.Error(), "unknown command ") {
		os.Exit(2)
	}
	os.Exit(1)
}
