package main

import (
	"errors"
	"os"
	"sync/atomic"

	"github.com/rs/zerolog/log"
	"golang.org/x/sys/unix"
)

// ctrace's stdout, which the event lines and the summary table share
// (package sink).

// stdoutWriter is ctrace's stdout. When its reader goes away (ctrace run
// -o json | head), a write fails with EPIPE (SIGPIPE is caught: see
// runContext): that ends the run as a normal stop, and ctrace restores
// what it changed on the node and exits 0.
type stdoutWriter struct {
	f      *os.File
	end    func()
	broken atomic.Bool
}

func (w *stdoutWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if errors.Is(err, unix.EPIPE) && w.broken.CompareAndSwap(false, true) {
		log.Info().Msg("stdout closed: stopping")
		w.end()
	}
	return n, err
}

// closedStdout is err unless it says that stdout's reader went away,
// which is how a run piped into head ends.
func closedStdout(err error) error {
	if errors.Is(err, unix.EPIPE) {
		return nil
	}
	return err
}
