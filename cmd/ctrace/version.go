package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at build time: go build -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of ctrace and of what it was built with",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ebpfVersion := buildInfo()
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "ctrace %s\ncommit: %s\ngo: %s\ncilium/ebpf: %s\n",
				version, c, runtime.Version(), ebpfVersion)
			return err
		},
	}
}

// buildInfo reads the commit (when not stamped) and the cilium/ebpf version
// from what the Go toolchain recorded in the binary.
func buildInfo() (commitID, ebpfVersion string) {
	commitID, ebpfVersion = commit, "unknown"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return commitID, ebpfVersion
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/cilium/ebpf" {
			ebpfVersion = d.Version
		}
	}
	if commitID == "" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				commitID = s.Value
			}
		}
	}
	if commitID == "" {
		commitID = "unknown"
	}
	return commitID, ebpfVersion
}
