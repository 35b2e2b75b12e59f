package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newGenDocsCommand writes man pages and shell completions generated from
// the command tree, for release archives. Hidden: users get them packaged.
func newGenDocsCommand() *cobra.Command {
	var manDir, complDir string
	cmd := &cobra.Command{
		Use:    "gendocs",
		Short:  "Write man pages and shell completions (for packaging)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root := cmd.Root()
			if manDir != "" {
				if err := os.MkdirAll(manDir, 0o755); err != nil {
					return err
				}
				// Reproducible: the date of the source, not of the build.
				date := time.Unix(0, 0).UTC()
				if buildDate != "" {
					if t, err := time.Parse(time.RFC3339, buildDate); err == nil {
						date = t
					}
				}
				hdr := &doc.GenManHeader{Title: "CTRACE", Section: "8", Source: "ctrace " + version, Manual: "ctrace manual", Date: &date}
				if err := doc.GenManTree(root, hdr, manDir); err != nil {
					return err
				}
			}
			if complDir != "" {
				if err := os.MkdirAll(complDir, 0o755); err != nil {
					return err
				}
				gens := map[string]func(string) error{
					"ctrace.bash": func(p string) error { return root.GenBashCompletionFileV2(p, true) },
					"_ctrace":     root.GenZshCompletionFile,
					"ctrace.fish": func(p string) error { return root.GenFishCompletionFile(p, true) },
				}
				for name, gen := range gens {
					if err := gen(filepath.Join(complDir, name)); err != nil {
						return fmt.Errorf("%s: %w", name, err)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&manDir, "man", "", "write man pages (section 8) to this directory")
	cmd.Flags().StringVar(&complDir, "completions", "", "write bash, zsh and fish completions to this directory")
	return cmd
}
