// Command kubenode brings up the tests' Kubernetes node (make kubenode)
// registered with an API server (etcd and kube-apiserver, package
// kubeapitest) and its controller manager and scheduler, with
// deploy/rbac.yaml applied and an admin kubeconfig, and keeps them until
// interrupted, then tears them down: a one-node cluster to try ctrace,
// crictl, static pods, kubectl apply of the manifests and ctrace's Events
// against by hand.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ctrace-dev/ctrace/internal/testing/kubeapitest"
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
	// The API server first: the kubelet registers with it as the node,
	// so kubectl sees the node and runs pods on it.
	api, err := kubeapitest.Start(ctx, filepath.Join(*dir, "api"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubenode:", err)
		os.Exit(1)
	}
	// The controller manager and scheduler: a DaemonSet or a pod without
	// spec.nodeName applied with kubectl becomes a pod on the node.
	if err := api.StartControllers(ctx); err != nil {
		api.Stop()
		fmt.Fprintln(os.Stderr, "kubenode:", err)
		os.Exit(1)
	}
	if err := api.Namespace(ctx, "default"); err != nil {
		api.Stop()
		fmt.Fprintln(os.Stderr, "kubenode:", err)
		os.Exit(1)
	}
	n, err := kubenodetest.StartWith(ctx, *dir, kubenodetest.Options{API: api})
	if err != nil {
		api.Stop()
		fmt.Fprintln(os.Stderr, "kubenode:", err)
		os.Exit(1)
	}
	// As an operator would; the tests apply it through client-go.
	if _, err := exec.LookPath("kubectl"); err != nil {
		fmt.Fprintln(os.Stderr, "kubenode: no kubectl: apply deploy/rbac.yaml with one to try the DaemonSet's service account")
	} else if out, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", api.Kubeconfig, "apply", "-f", "deploy/rbac.yaml").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "kubenode: kubectl apply -f deploy/rbac.yaml: %v\n%s", err, out)
	}
	fmt.Printf(`node up in %s
  API server:       %s   kubeconfig %s
                    e.g. kubectl --kubeconfig %s get nodes; sudo bin/ctrace run --k8s-events --kubeconfig %s --containerd-address %s
  control plane:    kube-controller-manager and kube-scheduler (logs in %s): kubectl apply -f deploy/daemonset.yaml schedules and runs its pod here
                    (its containerd volume is /run/containerd: point it at %s for this node's pods)`+"\n",
		time.Since(t0).Round(time.Millisecond), api.URL, api.Kubeconfig, api.Kubeconfig, api.Kubeconfig, n.Address, api.Dir, n.SocketDir)
	fmt.Printf(`  containerd (CRI): %s   e.g. crictl -r unix://%s pods
  static pods:      %s   (imagePullPolicy: Never; images %s, %s)
  pod logs:         %s
  pod network:      %s on bridge %s
  ctrace:           sudo bin/ctrace run --containerd-address %s
Ctrl-C tears the node down.
`, n.Address, n.Address, n.Manifests, kubenodetest.Image, kubenodetest.PauseImage,
		n.PodLogs, kubenodetest.Subnet, kubenodetest.Bridge, n.Address)
	<-ctx.Done()
	fmt.Println("tearing the node down")
	// The kubelet first: it talks to the API server until it stops.
	n.Stop()
	api.Stop()
}
