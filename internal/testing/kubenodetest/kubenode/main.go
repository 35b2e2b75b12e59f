// Command kubenode brings up the tests' Kubernetes node (make kubenode)
// and keeps it until interrupted, then tears it down: a node to try
// ctrace, crictl or static pods against by hand.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ctrace-dev/ctrace/internal/testing/kubenodetest"
)

func main() {
	dir := flag.String("dir", "/tmp/kubenode", "the node's directory (short: socket paths are limited to 107 bytes); it must not exist")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "kubenode: unexpected argument %q; the only flag is -dir\n", flag.Arg(0))
		os.Exit(2)
	}
	if m := kubenodetest.Missing(); len(m) > 0 {
		fmt.Fprintf(os.Stderr, "kubenode: missing %v (build/deps.sh test installs them)\n", m)
		os.Exit(1)
	}
	if _, err := os.Stat(*dir); err == nil {
		fmt.Fprintf(os.Stderr, "kubenode: -dir %s exists: another node may be running there; remove it or name another\n", *dir)
		os.Exit(2)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "kubenode:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t0 := time.Now()
	n, err := kubenodetest.Start(ctx, *dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubenode:", err)
		os.Exit(1)
	}
	fmt.Printf(`node up in %s
  containerd (CRI): %s   e.g. crictl -r unix://%s pods
  static pods:      %s   (imagePullPolicy: Never; images %s, %s)
  pod logs:         %s
  pod network:      %s on bridge %s
  ctrace:           sudo bin/ctrace run --containerd-address %s
Ctrl-C tears the node down.
`, time.Since(t0).Round(time.Millisecond), n.Address, n.Address, n.Manifests, kubenodetest.Image, kubenodetest.PauseImage,
		n.PodLogs, kubenodetest.Subnet, kubenodetest.Bridge, n.Address)
	<-ctx.Done()
	fmt.Println("tearing the node down")
	n.Stop()
}
