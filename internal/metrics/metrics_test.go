package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/benign"
	"github.com/ctrace-dev/ctrace/tracer"
)

func TestListenAddr(t *testing.T) {
	for in, want := range map[string]string{
		"9464": "127.0.0.1:9464", ":9464": ":9464", "0.0.0.0:9464": "0.0.0.0:9464",
		"127.0.0.1:0": "127.0.0.1:0", "[::1]:9464": "[::1]:9464",
		"fd00:10:244::5:9464": "[fd00:10:244::5]:9464", "10.244.1.5:9464": "10.244.1.5:9464",
	} {
		if got, err := ListenAddr(in); err != nil || got != want {
			t.Errorf("ListenAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "70000", "host", "host:port", ":99999", "fd00::5", "fd00::5:port"} {
		if got, err := ListenAddr(bad); err == nil {
			t.Errorf("ListenAddr(%q) = %q, accepted", bad, got)
		}
	}
}

func failure(sc string, e unix.Errno, rs ...tracer.Reason) *tracer.Event {
	return &tracer.Event{Syscall: sc, Errno: e, Ret: -int64(e), Reasons: rs}
}

func TestObserveAndCaps(t *testing.T) {
	m := New(Options{ContainerLabels: true, MaxContainers: 2, MaxSeries: 4})
	web := &correlate.Container{ID: "web", Namespace: "k8s.io", Known: true}
	m.Observe(failure("mount", unix.EPERM, &tracer.KernelLogReason{}, &tracer.CapabilityReason{}), web, nil)
	m.Observe(failure("mount", unix.EPERM, &tracer.CapabilityReason{}), web, nil)
	m.Observe(failure("openat", unix.ENOENT), nil, nil)
	m.Observe(&tracer.Event{Syscall: "openat"}, nil, nil) // a success (--all): not counted
	m.Observe(failure("mount", unix.ENOENT), nil, &benign.Rule{Name: "runc-masked-path"})
	// Unknown to containerd: a correlation miss.
	m.Observe(failure("setns", unix.EINVAL), &correlate.Container{ID: "gone", Namespace: "k8s.io"}, nil)
	// A third container is beyond MaxContainers.
	m.Observe(failure("setns", unix.EINVAL), &correlate.Container{ID: "third", Namespace: "k8s.io", Known: true}, nil)
	// Series 5 and 6 are beyond MaxSeries.
	m.Observe(failure("chroot", unix.EPERM), nil, nil)
	m.Observe(failure("execve", unix.EACCES), nil, nil)

	get := func(vs ...string) float64 { return testutil.ToFloat64(m.failures.WithLabelValues(vs...)) }
	checks := []struct {
		labels []string
		want   float64
	}{
		{[]string{"mount", "EPERM", "k8s.io", "capability", "web"}, 2},
		{[]string{"openat", "ENOENT", "", "none", ""}, 1},
		{[]string{"setns", "EINVAL", "k8s.io", "none", "gone"}, 1},
		{[]string{"setns", "EINVAL", "k8s.io", "none", "other"}, 1},
		{[]string{"other", "other", "other", "other", "other"}, 2},
	}
	for _, c := range checks {
		if got := get(c.labels...); got != c.want {
			t.Errorf("ctrace_failures_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.failures); n != 5 {
		t.Errorf("%d series, want 4 and the overflow one", n)
	}
	if got := testutil.ToFloat64(m.benign.WithLabelValues("runc-masked-path")); got != 1 {
		t.Errorf("benign %v", got)
	}
	if got := testutil.ToFloat64(m.misses); got != 1 {
		t.Errorf("misses %v", got)
	}
	m.Lost(3)
	m.Lost(3)
	m.Lost(10)
	if got := testutil.ToFloat64(m.lost); got != 10 {
		t.Errorf("lost %v, want the kernel's total 10", got)
	}
	var nilM *Metrics
	nilM.Observe(failure("mount", unix.EPERM), nil, nil) // off: no-op
	nilM.Lost(1)
}

func TestReasonLabel(t *testing.T) {
	if got := ReasonLabel(nil); got != ReasonNone {
		t.Errorf("%s", got)
	}
	rs := []tracer.Reason{&tracer.KernelLogReason{}, tracer.SeccompReason{}, &tracer.CapabilityReason{}}
	if got := ReasonLabel(rs); got != "seccomp" {
		t.Errorf("%s", got)
	}
}

// kindReason is a reason of a given kind, for the label's rank alone.
type kindReason tracer.ReasonKind

func (k kindReason) Kind() tracer.ReasonKind    { return tracer.ReasonKind(k) }
func (k kindReason) Text(*tracer.Event) string  { return string(k) }
func (k kindReason) AppendJSON(b []byte) []byte { return b }

// TestEveryReasonKindHasALabel: a failure with one reason of any kind is
// labelled with that kind, never "none"; no two kinds share a rank, so
// the label of several does not depend on their order.
func TestEveryReasonKindHasALabel(t *testing.T) {
	ranks := map[int]tracer.ReasonKind{}
	for _, k := range tracer.ReasonKinds {
		if got := ReasonLabel([]tracer.Reason{kindReason(k)}); got != string(k) {
			t.Errorf("a failure with a %s reason is labelled %q, want %q: give the kind a rank in reasonRank", k, got, k)
		}
		if o, ok := ranks[reasonRank[k]]; ok {
			t.Errorf("%s and %s share rank %d", k, o, reasonRank[k])
		}
		ranks[reasonRank[k]] = k
	}
	// The seeds' incident: the permission walk names the component; the
	// capability checks the kernel denied on the way are context.
	seeds := []tracer.Reason{&tracer.CapabilityReason{Cap: "CAP_DAC_OVERRIDE"}, kindReason(tracer.ReasonPermission)}
	if got := ReasonLabel(seeds); got != "permission" {
		t.Errorf("permission and capability reasons are labelled %q, want permission", got)
	}
}
