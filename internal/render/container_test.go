package render

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/testing/eventtest"
)

func TestContainerText(t *testing.T) {
	ev := eventtest.Call("mount", unix.EPERM, time.Date(2026, 1, 2, 12, 3, 4, 123456000, time.Local))
	var b bytes.Buffer
	r := New("text", &b, false)
	r.Event(ev, Findings{Container: &correlate.Container{ID: "test1", Namespace: "default"}})
	if got := b.String(); !strings.HasPrefix(got, "12:03:04.123456 default/test1 mount[4242] uid=0 mount(") {
		t.Errorf("text %q", got)
	}
	b.Reset()
	r.Event(ev, Findings{Container: &correlate.Container{ID: "x", Namespace: "k8s.io", Pod: "web-7d9f", PodNamespace: "shop", ContainerName: "nginx"}})
	if got := b.String(); !strings.HasPrefix(got, "12:03:04.123456 shop/web-7d9f/nginx mount[4242] ") {
		t.Errorf("text %q", got)
	}
}

func TestContainerJSON(t *testing.T) {
	ev := eventtest.Call("mount", unix.EPERM, time.Now())
	c := &correlate.Container{ID: "abc", Namespace: "k8s.io", Known: true, Source: correlate.SourceCgroup,
		Runtime: "io.containerd.runc.v2", ShimPID: 77,
		Labels: map[string]string{correlate.LabelPodName: "web", correlate.LabelPodNamespace: "shop", "team": "x"},
		Pod:    "web", PodNamespace: "shop"}
	var b bytes.Buffer
	New("json", &b, false).Event(ev, Findings{Container: c})
	var out struct {
		Container map[string]any `json:"container"`
	}
	if err := json.Unmarshal(b.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	got := out.Container
	if got["id"] != "abc" || got["namespace"] != "k8s.io" || got["known"] != true || got["source"] != "cgroup" ||
		got["image"] != "" || got["runtime"] != "io.containerd.runc.v2" || got["shim_pid"] != float64(77) ||
		got["pod"] != "web" || got["pod_namespace"] != "shop" {
		t.Errorf("container %v", got)
	}
	labels, _ := got["labels"].(map[string]any)
	if len(labels) != 2 || labels["team"] != nil {
		t.Errorf("labels %v: want the io.kubernetes ones only", labels)
	}
	b.Reset()
	New("json", &b, false).Event(ev, Findings{})
	if !strings.Contains(b.String(), `"container":null`) {
		t.Errorf("host event: %s", b.String())
	}
}
