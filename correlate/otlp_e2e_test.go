package correlate

import (
	"strings"
	"testing"
	"time"

	"github.com/ctrace-dev/ctrace/internal/testing/ctrdtest"
	"github.com/ctrace-dev/ctrace/internal/testing/otelcoltest"
)

// A failure in a pod's container reaches the collector with the container
// and pod attributes under their semantic-convention names, taken from
// containerd and the pod's CRI labels.
func TestOTLPContainerAttributes(t *testing.T) {
	needE2E(t)
	col := otelcoltest.Start(t)
	cr := startCtrace(t, "-o", "none", "-e", "mount", "--containerd-address", ctrd.Address, "--otlp-endpoint", col.GRPC)
	cr.waitStderr(t, "connected", 1)
	id := runPrefix + "-otlp"
	labels := map[string]string{
		LabelPodName: "web-0", LabelPodNamespace: "shop", LabelPodUID: "6f1c2d3e-0000-4000-8000-000000000001", LabelContainerName: "app",
	}
	if _, err := ctrd.Run(ctx(t), ctrdtest.RunOptions{ID: id, Labels: labels, Args: []string{"/bin/mount", "-t", "tmpfs", "none", "/mnt"}}); err != nil {
		t.Fatal(err)
	}
	recs := col.Wait(t, 30*time.Second, "the container's mount", func(rs []otelcoltest.Record) bool {
		for _, r := range rs {
			if r.Attrs["container.id"] == id && r.Attrs["ctrace.syscall"] == "mount" && r.Attrs["process.executable.name"] == "mount" {
				return true
			}
		}
		return false
	})
	if err := cr.stop(); err != nil {
		t.Errorf("ctrace exit: %v; stderr:\n%s", err, cr.stderrText())
	}
	for _, r := range recs {
		if r.Attrs["container.id"] != id || r.Attrs["process.executable.name"] != "mount" {
			continue
		}
		want := map[string]any{
			"ctrace.errno":                    "EPERM",
			"k8s.pod.name":                    "web-0",
			"k8s.namespace.name":              "shop",
			"k8s.pod.uid":                     labels[LabelPodUID],
			"k8s.container.name":              "app",
			"container.runtime.name":          "io.containerd.runc.v2",
			"ctrace.container.namespace":      "default",
			"ctrace.container.known":          true,
			"container.label." + LabelPodName: "web-0",
		}
		for k, v := range want {
			if r.Attrs[k] != v {
				t.Errorf("%s = %#v, want %#v", k, r.Attrs[k], v)
			}
		}
		if body, _ := r.Body.(string); !strings.Contains(body, "shop/web-0/app") {
			t.Errorf("body %q does not name the pod", body)
		}
		return
	}
}
