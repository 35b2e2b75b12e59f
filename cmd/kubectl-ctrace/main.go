// Command kubectl-ctrace is a kubectl plugin (kubectl ctrace): it runs
// ctrace in a debug pod on a node, with the privileges
// deploy/debug-pod.yaml gives it, streams ctrace's output, and deletes
// the pod when ctrace ends, on Ctrl-C or SIGTERM, and when the stream
// breaks.
//
//	kubectl ctrace run POD|pod/POD|node/NODE [ctrace run flags]
//	kubectl ctrace doctor node/NODE [ctrace doctor flags]
//
// It takes kubectl's connection flags (--kubeconfig, --context, -n, ...)
// from k8s.io/cli-runtime, as every kubectl plugin should.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
)

// defaultImage is the image deploy/debug-pod.yaml names: a release, never
// :latest, so that the plugin and the manifests run the same ctrace.
const defaultImage = "ghcr.io/ctrace-dev/ctrace:v0.1.0"

const usage = `Run ctrace in a debug pod on a node, stream its output, and delete the pod
when it ends (also on Ctrl-C and when the stream breaks).

Usage:
  kubectl ctrace run POD|pod/POD|node/NODE [flags] [ctrace run flags]
  kubectl ctrace doctor node/NODE [flags] [ctrace doctor flags]

With a pod, ctrace runs on the pod's node and shows that pod's containers
only (ctrace run --pod POD --k8s-namespace NAMESPACE); with node/NODE, the
whole node. ctrace's own flags follow the target; after --, every argument
goes to ctrace as it is (ctrace's --kubeconfig, say).

Examples:
  kubectl ctrace run web-0 -n shop -e %%mount
  kubectl ctrace run node/worker-1 --errno EPERM,EACCES --duration 1m
  kubectl ctrace doctor node/worker-1

Flags:
%s`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is bad input: exit status 2, as kubectl's.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// invocation is a parsed command line.
type invocation struct {
	sub        string   // run or doctor
	kind, name string   // pod or node, and its name
	ctraceArgs []string // passed to ctrace after the subcommand
	image      string
	namespace  string // the debug pod's and a named pod's namespace
	start      time.Duration
	config     *genericclioptions.ConfigFlags
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("kubectl-ctrace", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	inv := &invocation{config: genericclioptions.NewConfigFlags(true)}
	inv.config.AddFlags(fs)
	fs.StringVar(&inv.image, "image", defaultImage, "the ctrace image the debug pod runs (imported on the node or pulled)")
	fs.DurationVar(&inv.start, "start-timeout", 2*time.Minute, "how long the debug pod may take to start")
	help := fs.BoolP("help", "h", false, "this help")
	err := inv.parse(fs, args)
	if *help {
		fmt.Fprintf(stdout, usage, fs.FlagUsages())
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "kubectl-ctrace: %v\nSee 'kubectl ctrace --help'.\n", err)
		return 2
	}
	// Ctrl-C, SIGTERM and a closed terminal end the session; the pod is
	// deleted with a context of its own.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	code, err := inv.execute(ctx, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "kubectl-ctrace: %v\n", err)
		var ue *usageError
		if errors.As(err, &ue) {
			return 2
		}
		if code == 0 {
			code = 1
		}
	}
	return code
}

// parse splits args into the plugin's flags (kubectl's connection flags,
// --image, --start-timeout, -h), the subcommand, the target, and ctrace's
// arguments: whatever follows the target that is not one of the plugin's
// flags, and everything after --.
func (inv *invocation) parse(fs *pflag.FlagSet, args []string) error {
	var ours, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if len(positional) < 2 {
				return &usageError{"-- before the target: name POD, pod/POD or node/NODE first"}
			}
			inv.ctraceArgs = append(inv.ctraceArgs, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			if len(positional) < 2 {
				positional = append(positional, a)
			} else {
				inv.ctraceArgs = append(inv.ctraceArgs, a)
			}
			continue
		}
		f, inline := lookup(fs, a)
		if f == nil {
			if len(positional) < 2 {
				return &usageError{fmt.Sprintf("unknown flag %s before the target: ctrace's flags follow POD, pod/POD or node/NODE", a)}
			}
			inv.ctraceArgs = append(inv.ctraceArgs, a)
			continue
		}
		ours = append(ours, a)
		// A flag that takes a value and has none inline takes the next
		// argument, as pflag would.
		if !inline && f.NoOptDefVal == "" && i+1 < len(args) {
			i++
			ours = append(ours, args[i])
		}
	}
	if err := fs.Parse(ours); err != nil {
		return &usageError{err.Error()}
	}
	if h, _ := fs.GetBool("help"); h {
		return nil
	}
	if len(positional) == 0 {
		return &usageError{"no subcommand: run or doctor"}
	}
	inv.sub = positional[0]
	if inv.sub != "run" && inv.sub != "doctor" {
		return &usageError{fmt.Sprintf("unknown subcommand %q: run or doctor", inv.sub)}
	}
	if len(positional) < 2 {
		if inv.sub == "doctor" {
			return &usageError{"doctor needs a target: node/NODE"}
		}
		return &usageError{"run needs a target: POD, pod/POD or node/NODE"}
	}
	target := positional[1]
	kind, name, found := strings.Cut(target, "/")
	if !found {
		kind, name = "pod", target
	}
	switch kind {
	case "node", "nodes", "no":
		kind = "node"
	case "pod", "pods", "po":
		kind = "pod"
	default:
		return &usageError{fmt.Sprintf("target %q: POD, pod/POD or node/NODE", target)}
	}
	if name == "" || strings.Contains(name, "/") {
		return &usageError{fmt.Sprintf("target %q: POD, pod/POD or node/NODE, with a name", target)}
	}
	if inv.sub == "doctor" && kind != "node" {
		return &usageError{fmt.Sprintf("target %q: doctor checks a node: node/NODE", target)}
	}
	if inv.start <= 0 {
		return &usageError{fmt.Sprintf("--start-timeout %s: a positive duration", inv.start)}
	}
	if inv.image == "" {
		return &usageError{"--image: an image reference"}
	}
	inv.kind, inv.name = kind, name
	return nil
}

// lookup finds the plugin's flag that arg names (--name, --name=value,
// -x, -xvalue, -x=value) and says whether its value is inline.
func lookup(fs *pflag.FlagSet, arg string) (*pflag.Flag, bool) {
	if strings.HasPrefix(arg, "--") {
		name, _, inline := strings.Cut(arg[2:], "=")
		return fs.Lookup(name), inline
	}
	f := fs.ShorthandLookup(arg[1:2])
	return f, len(arg) > 2
}

// execute resolves the target to a node, runs the debug pod there and
// returns ctrace's exit status.
func (inv *invocation) execute(ctx context.Context, stdout, stderr io.Writer) (int, error) {
	cfg, err := inv.config.ToRESTConfig()
	if err != nil {
		return 1, fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := inv.config.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return 1, fmt.Errorf("namespace: %w", err)
	}
	inv.namespace = ns
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 1, fmt.Errorf("client: %w", err)
	}
	node, args, err := inv.resolve(ctx, c)
	if err != nil {
		return 1, err
	}
	s := &session{client: c, namespace: ns, node: node, image: inv.image, args: args,
		start: inv.start, stdout: stdout, stderr: stderr}
	return s.run(ctx)
}
