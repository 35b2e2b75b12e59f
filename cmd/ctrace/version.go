package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at build time: go build -ldflags "-X main.version=... -X main.commit=...
// -X main.buildDate=2006-01-02T15:04:05Z" (make build and make release do).
var (
	version   = "dev"
	commit    = ""
	buildDate = "" // RFC 3339; the commit's date in releases
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of ctrace and of what it was built with",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ebpfVersion := buildInfo()
			out := fmt.Sprintf("ctrace %s\ncommit: %s\n", version, c)
			if buildDate != "" {
				out += "built: " + buildDate + "\n"
			}
			out += fmt.Sprintf("go: %s\ncilium/ebpf: %s\n", runtime.Version(), ebpfVersion)
			_, err := fmt.Fprint(cmd.OutOrStdout(), out)
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
