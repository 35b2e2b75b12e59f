package main

import (
	"github.com/rs/zerolog/log"
	"github.com/spf13/cobra"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/hostroot"
)

// hostRootFlag is --host-root, shared by run, check and doctor.
var hostRootFlag string

func addHostRootFlag(root *cobra.Command) {
	root.PersistentFlags().StringVar(&hostRootFlag, "host-root", "",
		"where the node's root file system is mounted when ctrace runs in a container; default: "+hostroot.DefaultMount+
			" when "+hostroot.DefaultMount+"/proc or "+hostroot.DefaultMount+"/run/containerd exists, else /")
}

// resolveHostRoot finds the node's file system (see package hostroot).
func resolveHostRoot() (*hostroot.Root, error) {
	hr, err := hostroot.Resolve(hostRootFlag, correlate.KnownAddresses)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return hr, nil
}

// useHostRoot points container attribution at the node's /proc and
// containerd socket when ctrace runs in a container with the node's root
// mounted (--host-root, or /host detected), and says so.
func (f *runFlags) useHostRoot() error {
	hr, err := resolveHostRoot()
	if err != nil {
		return err
	}
	if hr.OnHost() {
		return nil
	}
	log.Info().Msg(hr.Summary())
	if hr.MountNSKnown && hr.SameMountNS {
		log.Warn().Msgf("--host-root %s, but ctrace runs in the node's own mount namespace", hr.Path)
	}
	f.ctr.procRoot = hr.Proc
	f.hostRoot = hr.Path
	if f.ctr.address == "" && hr.Containerd != "" {
		f.ctr.address = hr.Containerd
	}
	return nil
}
