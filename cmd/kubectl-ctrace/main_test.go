package main

import (
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/yaml"
)

func parse(args ...string) (*invocation, error) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	inv := &invocation{config: genericclioptions.NewConfigFlags(true)}
	inv.config.AddFlags(fs)
	fs.StringVar(&inv.image, "image", defaultImage, "")
	fs.DurationVar(&inv.start, "start-timeout", 60e9, "")
	fs.BoolP("help", "h", false, "")
	return inv, inv.parse(fs, args)
}

// TestParse splits a command line into the plugin's flags, the target
// and ctrace's arguments, wherever kubectl's flags stand.
func TestParse(t *testing.T) {
	inv, err := parse("run", "web-0", "-n", "shop", "-e", "%mount", "--context=prod", "--errno", "EPERM", "--image", "x/y:1", "--", "--kubeconfig", "/k")
	if err != nil {
		t.Fatal(err)
	}
	if inv.sub != "run" || inv.kind != "pod" || inv.name != "web-0" || inv.image != "x/y:1" {
		t.Errorf("parsed %+v", inv)
	}
	if *inv.config.Namespace != "shop" || *inv.config.Context != "prod" {
		t.Errorf("namespace %q context %q", *inv.config.Namespace, *inv.config.Context)
	}
	if want := []string{"-e", "%mount", "--errno", "EPERM", "--kubeconfig", "/k"}; !reflect.DeepEqual(inv.ctraceArgs, want) {
		t.Errorf("ctrace's arguments %q, want %q", inv.ctraceArgs, want)
	}
	inv, err = parse("--kubeconfig", "/c", "-nkube-system", "doctor", "nodes/w1", "--fix")
	if err != nil {
		t.Fatal(err)
	}
	if inv.sub != "doctor" || inv.kind != "node" || inv.name != "w1" || *inv.config.KubeConfig != "/c" ||
		*inv.config.Namespace != "kube-system" || !reflect.DeepEqual(inv.ctraceArgs, []string{"--fix"}) {
		t.Errorf("parsed %+v, ctrace's arguments %q", inv, inv.ctraceArgs)
	}
	if inv, err = parse("run", "pod/web-0"); err != nil || inv.kind != "pod" || inv.name != "web-0" {
		t.Errorf("pod/web-0: %+v %v", inv, err)
	}
}

// TestBadInput: exit status 2, naming the argument and what is allowed.
func TestBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "no subcommand: run or doctor"},
		{[]string{"trace", "web-0"}, `unknown subcommand "trace": run or doctor`},
		{[]string{"run"}, "run needs a target: POD, pod/POD or node/NODE"},
		{[]string{"doctor"}, "doctor needs a target: node/NODE"},
		{[]string{"run", "deploy/web"}, `target "deploy/web": POD, pod/POD or node/NODE`},
		{[]string{"run", "node/"}, `target "node/": POD, pod/POD or node/NODE, with a name`},
		{[]string{"doctor", "web-0"}, `target "web-0": doctor checks a node: node/NODE`},
		{[]string{"run", "-e", "%mount", "web-0"}, "unknown flag -e before the target"},
		{[]string{"run", "--", "web-0"}, "-- before the target"},
		{[]string{"run", "web-0", "--start-timeout", "0s"}, "--start-timeout 0s: a positive duration"},
		{[]string{"run", "web-0", "--start-timeout", "soon"}, `invalid argument "soon" for "--start-timeout"`},
	} {
		var stderr strings.Builder
		code := run(c.args, io.Discard, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%q: exit %d, %q; want exit 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
	var stdout strings.Builder
	if code := run([]string{"--help"}, &stdout, io.Discard); code != 0 || !strings.Contains(stdout.String(), "kubectl ctrace run POD") {
		t.Errorf("--help: exit %d:\n%s", code, stdout.String())
	}
}

// TestDebugPodAsManifest: the plugin's pod has deploy/debug-pod.yaml's
// privileges, host namespaces, volumes, image and tolerations; only what
// debugPod's comment lists differs.
func TestDebugPodAsManifest(t *testing.T) {
	b, err := os.ReadFile("../../deploy/debug-pod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m corev1.Pod
	if err := yaml.UnmarshalStrict(b, &m); err != nil {
		t.Fatal(err)
	}
	p := debugPod("ns", "w1", defaultImage, []string{"run", "-e", "%mount"})
	mc, pc := m.Spec.Containers[0], p.Spec.Containers[0]
	if p.Spec.NodeName != "w1" || !reflect.DeepEqual(pc.Args, []string{"run", "-e", "%mount"}) {
		t.Errorf("node %q args %q", p.Spec.NodeName, pc.Args)
	}
	for what, eq := range map[string]bool{
		"hostPID":                       p.Spec.HostPID == m.Spec.HostPID,
		"restartPolicy":                 p.Spec.RestartPolicy == m.Spec.RestartPolicy,
		"terminationGracePeriodSeconds": reflect.DeepEqual(p.Spec.TerminationGracePeriodSeconds, m.Spec.TerminationGracePeriodSeconds),
		"tolerations":                   reflect.DeepEqual(p.Spec.Tolerations, m.Spec.Tolerations),
		"volumes":                       reflect.DeepEqual(p.Spec.Volumes, m.Spec.Volumes),
		"image":                         pc.Image == mc.Image,
		"imagePullPolicy":               pc.ImagePullPolicy == mc.ImagePullPolicy,
		"command":                       reflect.DeepEqual(pc.Command, mc.Command),
		"securityContext":               reflect.DeepEqual(pc.SecurityContext, mc.SecurityContext),
		"volumeMounts":                  reflect.DeepEqual(pc.VolumeMounts, mc.VolumeMounts),
		"labels": p.Labels["app.kubernetes.io/name"] == m.Labels["app.kubernetes.io/name"] &&
			p.Labels["app.kubernetes.io/component"] == m.Labels["app.kubernetes.io/component"],
	} {
		if !eq {
			t.Errorf("%s differs from deploy/debug-pod.yaml", what)
		}
	}
	if !m.Spec.HostPID || mc.SecurityContext == nil || mc.SecurityContext.Privileged == nil || !*mc.SecurityContext.Privileged {
		t.Errorf("deploy/debug-pod.yaml is no longer privileged with hostPID: update debugPod and this test")
	}
}
