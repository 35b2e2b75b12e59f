package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/check"
	"github.com/ctrace-dev/ctrace/internal/hostroot"
)

func newCheckCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Say what ctrace can do on this node, and by which mechanism",
		Long: `Load and attach every ctrace program once, then report the kernel, its BTF,
tracefs, lockdown and LSMs, and for each syscall family and each kind of
reason whether it works here and how. Exit status 0 when ctrace run can
work, 1 when it cannot: when a required item (marked FAIL) fails, such as
the privileges or a --host-root that does not hold the node's file
system. check changes nothing on the node: no mount is left behind (it
reads securityfs through a detached mount when the node has none), and
every program it loads is gone when it exits. If a ctrace run --audit was
killed and left kernel auditing on, check turns it off again (see
ctrace run --help).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageError("-o/--output: unknown output format %q; valid: text, json", output)
			}
			restoreAuditLeftover()
			// A --host-root that is not a directory is a failing item of
			// the report, not a usage error.
			hr, err := hostroot.Resolve(hostRootFlag, correlate.KnownAddresses)
			rep := check.Run(check.Options{HostRoot: hr, HostRootErr: err})
			if output == "json" {
				err = rep.WriteJSON(os.Stdout)
			} else {
				err = rep.WriteText(os.Stdout)
			}
			if err != nil {
				return fmt.Errorf("write output: %w", err)
			}
			if !rep.CanRun {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
