// Package deploy holds the Kubernetes manifests; its tests decode them into
// the Kubernetes API types and check the fields that decide what ctrace
// may do on a node.
package deploy

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// decode reads a manifest into v, failing on any field v's type lacks
// (a misspelt or misplaced key would otherwise be dropped silently by the
// API server's lenient decoding in older clusters).
func decode(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// image is the release both manifests pin: a version tag, never :latest,
// so that every node runs the same ctrace.
const image = "ghcr.io/ctrace-dev/ctrace:v0.1.0"

func TestImagePinned(t *testing.T) {
	if !regexp.MustCompile(`^ghcr\.io/ctrace-dev/ctrace:v[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(image) {
		t.Errorf("image %s is not pinned to a release", image)
	}
}

// agentArgs are the DaemonSet's arguments: metrics on the pod IP only,
// Events on the pods.
var agentArgs = []string{"run", "-o", "none", "--metrics-addr", "$(POD_IP):9464", "--k8s-events"}

func mountsOf(c *corev1.Container) map[string]corev1.VolumeMount {
	m := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		m[vm.Name] = vm
	}
	return m
}

func hostPaths(t *testing.T, vols []corev1.Volume) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, v := range vols {
		if v.HostPath == nil {
			t.Errorf("volume %s is not a hostPath volume", v.Name)
			continue
		}
		if v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathDirectory {
			t.Errorf("volume %s: hostPath type should be Directory (never create paths on the node)", v.Name)
		}
		m[v.Name] = v.HostPath.Path
	}
	return m
}

func TestDebugPod(t *testing.T) {
	var pod corev1.Pod
	decode(t, "debug-pod.yaml", &pod)
	if pod.Kind != "Pod" || pod.APIVersion != "v1" {
		t.Fatalf("kind %s/%s", pod.APIVersion, pod.Kind)
	}
	s := pod.Spec
	if s.NodeName != "NODE_NAME" {
		t.Errorf("nodeName %q: the pod is pinned to the node being debugged (NODE_NAME placeholder)", s.NodeName)
	}
	if !s.HostPID || s.HostNetwork || s.HostIPC {
		t.Errorf("hostPID=%v hostNetwork=%v hostIPC=%v; want only hostPID", s.HostPID, s.HostNetwork, s.HostIPC)
	}
	if s.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %s; a debug pod runs once", s.RestartPolicy)
	}
	if len(s.Containers) != 1 || len(s.InitContainers) != 0 {
		t.Fatalf("%d containers, %d init containers; want one container", len(s.Containers), len(s.InitContainers))
	}
	c := &s.Containers[0]
	if c.Image != image || !slices.Equal(c.Command, []string{"/ctrace"}) || !slices.Equal(c.Args, []string{"run"}) {
		t.Errorf("image %s command %v args %v", c.Image, c.Command, c.Args)
	}
	sc := c.SecurityContext
	if sc == nil || sc.Privileged == nil || !*sc.Privileged {
		t.Errorf("the debug pod is privileged, as kubectl debug's sysadmin profile")
	}
	// No tracefs volume: privileged, ctrace makes a tracefs instance of
	// its own for the tracepoints' ids.
	if got := hostPaths(t, s.Volumes); !reflect.DeepEqual(got, map[string]string{"host-root": "/"}) {
		t.Errorf("host paths %v; want only the node's root", got)
	}
	want := map[string]corev1.VolumeMount{
		"host-root": {Name: "host-root", MountPath: "/host", ReadOnly: true},
	}
	if got := mountsOf(c); !reflect.DeepEqual(got, want) {
		t.Errorf("mounts %+v; want %+v", got, want)
	}
}

func TestDaemonSet(t *testing.T) {
	var ds appsv1.DaemonSet
	decode(t, "daemonset.yaml", &ds)
	if ds.Kind != "DaemonSet" || ds.APIVersion != "apps/v1" {
		t.Fatalf("kind %s/%s", ds.APIVersion, ds.Kind)
	}
	if !reflect.DeepEqual(ds.Spec.Selector.MatchLabels, ds.Spec.Template.Labels) {
		t.Errorf("selector %v does not match the template's labels %v", ds.Spec.Selector.MatchLabels, ds.Spec.Template.Labels)
	}
	s := ds.Spec.Template.Spec
	if !s.HostPID || s.HostNetwork || s.HostIPC {
		t.Errorf("hostPID=%v hostNetwork=%v hostIPC=%v; want only hostPID", s.HostPID, s.HostNetwork, s.HostIPC)
	}
	// The token is for --k8s-events, with rbac.yaml's grants (TestRBAC).
	if s.AutomountServiceAccountToken == nil || !*s.AutomountServiceAccountToken || s.ServiceAccountName != "ctrace" {
		t.Errorf("automountServiceAccountToken %v, serviceAccountName %q; want the ctrace service account's token", s.AutomountServiceAccountToken, s.ServiceAccountName)
	}
	if len(s.Tolerations) != 1 || s.Tolerations[0].Operator != corev1.TolerationOpExists || s.Tolerations[0].Key != "" {
		t.Errorf("tolerations %+v; want one that tolerates every taint", s.Tolerations)
	}
	if len(s.Containers) != 1 {
		t.Fatalf("%d containers", len(s.Containers))
	}
	c := &s.Containers[0]
	if c.Image != image {
		t.Errorf("image %s", c.Image)
	}
	if !slices.Equal(c.Args, agentArgs) {
		t.Errorf("args %v, want %v", c.Args, agentArgs)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if e := env["POD_IP"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "status.podIP" {
		t.Errorf("POD_IP %+v; want it from status.podIP", e)
	}
	if e := env["NODE_NAME"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("NODE_NAME %+v; want the node's name from the downward API (the Events' reportingInstance)", e)
	}
	if e := env["HOST_IP"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "status.hostIP" {
		t.Errorf("HOST_IP %+v; want the node's IP from the downward API", e)
	}
	if v := env["OTEL_EXPORTER_OTLP_ENDPOINT"].Value; v != "http://$(HOST_IP):"+collectorPort(t) {
		t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT %q; want the collector agent's port on the node", v)
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 9464 || c.Ports[0].Name != "metrics" {
		t.Errorf("ports %+v", c.Ports)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "metrics" {
			t.Errorf("%s probe %+v; want GET /healthz on the metrics port", name, p)
		}
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := c.Resources.Requests[res], c.Resources.Limits[res]
		if req.IsZero() || lim.IsZero() || req.Cmp(lim) > 0 {
			t.Errorf("%s: request %s, limit %s", res, req.String(), lim.String())
		}
	}

	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("no securityContext")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("the agent is not privileged: it has the capabilities it uses")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation must be false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("readOnlyRootFilesystem must be true")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("capabilities must drop ALL")
	}
	if got := DaemonSetCapabilities(t); !slices.Equal(got, []string{"AUDIT_READ", "BPF", "PERFMON", "SYS_PTRACE", "SYS_RESOURCE"}) {
		t.Errorf("added capabilities %v", got)
	}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeUnconfined {
		t.Errorf("seccomp must be Unconfined: the default profile refuses bpf(2)")
	}
	if got := hostPaths(t, s.Volumes); !reflect.DeepEqual(got, map[string]string{"host-proc": "/proc", "containerd": "/run/containerd", "tracefs": "/sys/kernel/tracing"}) {
		t.Errorf("host paths %v; want the node's /proc, containerd's socket directory and tracefs only", got)
	}
	want := map[string]corev1.VolumeMount{
		"host-proc":  {Name: "host-proc", MountPath: "/host/proc", ReadOnly: true},
		"containerd": {Name: "containerd", MountPath: "/host/run/containerd", ReadOnly: true},
		"tracefs":    {Name: "tracefs", MountPath: "/sys/kernel/tracing", ReadOnly: true},
	}
	if got := mountsOf(c); !reflect.DeepEqual(got, want) {
		t.Errorf("mounts %+v; want %+v", got, want)
	}
}

// TestNetworkPolicy: the example lets only Prometheus reach the agent's
// pods, on the metrics port only.
func TestNetworkPolicy(t *testing.T) {
	var ds appsv1.DaemonSet
	decode(t, "daemonset.yaml", &ds)
	var np networkingv1.NetworkPolicy
	decode(t, "networkpolicy.yaml", &np)
	if np.Kind != "NetworkPolicy" || np.APIVersion != "networking.k8s.io/v1" || np.Namespace != ds.Namespace {
		t.Fatalf("kind %s/%s in %q; want a NetworkPolicy in the DaemonSet's namespace %q", np.APIVersion, np.Kind, np.Namespace, ds.Namespace)
	}
	if !reflect.DeepEqual(np.Spec.PodSelector.MatchLabels, ds.Spec.Template.Labels) {
		t.Errorf("podSelector %v does not select the DaemonSet's pods %v", np.Spec.PodSelector.MatchLabels, ds.Spec.Template.Labels)
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("policyTypes %v; want Ingress", np.Spec.PolicyTypes)
	}
	if len(np.Spec.Ingress) != 1 {
		t.Fatalf("%d ingress rules; want one", len(np.Spec.Ingress))
	}
	in := np.Spec.Ingress[0]
	if len(in.From) == 0 || in.From[0].NamespaceSelector == nil || in.From[0].PodSelector == nil {
		t.Errorf("from %+v; want a namespace and pod selector (only Prometheus)", in.From)
	}
	port := ds.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort
	if len(in.Ports) != 1 || in.Ports[0].Port == nil || in.Ports[0].Port.IntVal != port ||
		in.Ports[0].Protocol == nil || *in.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("ports %+v; want TCP %d only", in.Ports, port)
	}
}

// RBACManifests decodes rbac.yaml, strictly: its service account, cluster
// role and binding.
func RBACManifests(t testing.TB) (*corev1.ServiceAccount, *rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding) {
	t.Helper()
	b, err := os.ReadFile("rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sa *corev1.ServiceAccount
	var role *rbacv1.ClusterRole
	var binding *rbacv1.ClusterRoleBinding
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		var v any
		switch meta.Kind {
		case "ServiceAccount":
			sa = &corev1.ServiceAccount{}
			v = sa
		case "ClusterRole":
			role = &rbacv1.ClusterRole{}
			v = role
		case "ClusterRoleBinding":
			binding = &rbacv1.ClusterRoleBinding{}
			v = binding
		default:
			t.Fatalf("rbac.yaml: unexpected kind %q", meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
			t.Fatalf("rbac.yaml: %s: %v", meta.Kind, err)
		}
	}
	if sa == nil || role == nil || binding == nil {
		t.Fatal("rbac.yaml lacks its ServiceAccount, ClusterRole or ClusterRoleBinding")
	}
	return sa, role, binding
}

// TestRBAC: the DaemonSet's service account may create and patch events
// and get pods, and nothing else (TestEventsRBAC in package kubeapi tries
// it against an API server).
func TestRBAC(t *testing.T) {
	var ds appsv1.DaemonSet
	decode(t, "daemonset.yaml", &ds)
	sa, role, binding := RBACManifests(t)
	if sa.Name != ds.Spec.Template.Spec.ServiceAccountName || sa.Namespace != ds.Namespace {
		t.Errorf("service account %s/%s; the DaemonSet runs as %s/%s", sa.Namespace, sa.Name, ds.Namespace, ds.Spec.Template.Spec.ServiceAccountName)
	}
	if binding.RoleRef != (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name}) {
		t.Errorf("roleRef %+v; want the ClusterRole %s", binding.RoleRef, role.Name)
	}
	if len(binding.Subjects) != 1 || binding.Subjects[0] != (rbacv1.Subject{Kind: "ServiceAccount", Name: sa.Name, Namespace: sa.Namespace}) {
		t.Errorf("subjects %+v; want the service account alone", binding.Subjects)
	}
	type grant struct{ group, resource, verb string }
	got := map[grant]bool{}
	for _, r := range role.Rules {
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			t.Errorf("rule %+v: names or URLs; want none", r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					got[grant{g, res, v}] = true
				}
			}
		}
	}
	want := map[grant]bool{
		{"events.k8s.io", "events", "create"}: true, {"events.k8s.io", "events", "patch"}: true,
		{"", "events", "create"}: true, {"", "events", "patch"}: true,
		{"", "pods", "get"}: true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("grants %v; want %v", got, want)
	}
}

// DaemonSetCapabilities are the capabilities the DaemonSet adds, sorted.
func DaemonSetCapabilities(t testing.TB) []string {
	var ds appsv1.DaemonSet
	b, err := os.ReadFile("daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, &ds); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range ds.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add {
		out = append(out, string(c))
	}
	sort.Strings(out)
	return out
}

// TestStrictDecoding proves that the decoding above refuses what a typo
// would produce.
func TestStrictDecoding(t *testing.T) {
	var pod corev1.Pod
	bad := []byte("apiVersion: v1\nkind: Pod\nspec:\n  hostPIDs: true\n")
	if err := yaml.UnmarshalStrict(bad, &pod); err == nil {
		t.Fatal("hostPIDs (for hostPID) was accepted")
	}
}

// collectorPort is the node port of the collector agent's OTLP receiver.
func collectorPort(t *testing.T) string {
	t.Helper()
	ds, _ := collectorManifests(t)
	for _, p := range ds.Spec.Template.Spec.Containers[0].Ports {
		if p.Name == "otlp-grpc" {
			return fmt.Sprint(p.HostPort)
		}
	}
	t.Fatal("the collector has no otlp-grpc port")
	return ""
}

// collectorManifests decodes otel-collector.yaml: its DaemonSet and its
// configuration, strictly.
func collectorManifests(t *testing.T) (*appsv1.DaemonSet, map[string]any) {
	t.Helper()
	b, err := os.ReadFile("otel-collector.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ds *appsv1.DaemonSet
	var conf map[string]any
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		var v any
		switch meta.Kind {
		case "ConfigMap":
			v = &corev1.ConfigMap{}
		case "DaemonSet":
			v = &appsv1.DaemonSet{}
		case "ServiceAccount":
			v = &corev1.ServiceAccount{}
		case "ClusterRole":
			v = &rbacv1.ClusterRole{}
		case "ClusterRoleBinding":
			v = &rbacv1.ClusterRoleBinding{}
		default:
			t.Fatalf("otel-collector.yaml: unexpected kind %q", meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
			t.Fatalf("otel-collector.yaml: %s: %v", meta.Kind, err)
		}
		switch v := v.(type) {
		case *corev1.ConfigMap:
			if err := yaml.Unmarshal([]byte(v.Data["collector.yaml"]), &conf); err != nil {
				t.Fatalf("collector.yaml: %v", err)
			}
		case *appsv1.DaemonSet:
			ds = v
		}
	}
	if ds == nil || conf == nil {
		t.Fatal("otel-collector.yaml lacks its DaemonSet or its ConfigMap")
	}
	return ds, conf
}

// The collector agent's configuration: a logs pipeline from the OTLP
// receiver on the port ctrace sends to, every component it names defined,
// and the config file the container is given.
func TestOTelCollector(t *testing.T) {
	ds, conf := collectorManifests(t)
	section := func(name string) map[string]any {
		m, _ := conf[name].(map[string]any)
		return m
	}
	grpc := section("receivers")["otlp"].(map[string]any)["protocols"].(map[string]any)["grpc"].(map[string]any)
	if ep, _ := grpc["endpoint"].(string); !strings.HasSuffix(ep, ":"+collectorPort(t)) {
		t.Errorf("OTLP gRPC endpoint %q does not listen on the hostPort %s", ep, collectorPort(t))
	}
	logs, _ := section("service")["pipelines"].(map[string]any)["logs"].(map[string]any)
	if logs == nil {
		t.Fatal("no logs pipeline")
	}
	for _, kind := range []string{"receivers", "processors", "exporters"} {
		names, _ := logs[kind].([]any)
		if len(names) == 0 && kind != "processors" {
			t.Errorf("the logs pipeline has no %s", kind)
		}
		for _, n := range names {
			if _, ok := section(kind)[n.(string)]; !ok {
				t.Errorf("the logs pipeline names %s %q, which is not defined", kind, n)
			}
		}
	}
	c := ds.Spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "--config=/conf/collector.yaml") {
		t.Errorf("collector args %v", c.Args)
	}
}
