package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/tracer"
)

func containerTestEvent(syscall string, errno unix.Errno, at time.Time) *tracer.Event {
	return &tracer.Event{Time: at, Syscall: syscall, Ret: -int64(errno), Errno: errno,
		Proc: tracer.Proc{PID: 4242, TID: 4242, Comm: "mount"}}
}

func TestSummaryTable(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 12, 3, 4, 0, time.Local)
	web := &correlate.Container{ID: "web", Namespace: "default", Known: true}
	// The table names errnos and reasons as the event lines do.
	s := newSummarySink(&runFlags{}, nil).t
	ev := containerTestEvent("mount", unix.EPERM, t0)
	ev.Reasons = []tracer.Reason{{Kind: tracer.ReasonSeccomp}}
	s.Add(ev, web)
	s.Add(containerTestEvent("mount", unix.EPERM, t0.Add(time.Second)), web)
	s.Add(containerTestEvent("openat", unix.ENOENT, t0.Add(2*time.Second)), nil)
	ok := containerTestEvent("openat", 0, t0)
	s.Add(ok, nil) // successes are not counted
	var b bytes.Buffer
	if err := s.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	want := `CONTAINER    SYSCALL  ERRNO   COUNT  FIRST         LAST          REASON
default/web  mount    EPERM   2      12:03:04.000  12:03:05.000  seccomp: blocked by the process's seccomp filter
host         openat   ENOENT  1      12:03:06.000  12:03:06.000  -
total                         3                                  
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := s.Write(&b, true); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Summary []struct {
			Container, Syscall, Errno string
			Count                     int
			Reason                    *string
		}
		Total int
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil || strings.Count(b.String(), "\n") != 1 {
		t.Fatalf("JSON %q: %v", b.String(), err)
	}
	if doc.Total != 3 || len(doc.Summary) != 2 || doc.Summary[0].Count != 2 || doc.Summary[1].Reason != nil {
		t.Errorf("JSON summary %s", b.String())
	}
}

func TestContainerText(t *testing.T) {
	ev := containerTestEvent("mount", unix.EPERM, time.Date(2026, 1, 2, 12, 3, 4, 123456000, time.Local))
	var b bytes.Buffer
	r := newRenderer("text", &b, false)
	r.eventIn(ev, nil, &correlate.Container{ID: "test1", Namespace: "default"})
	if got := b.String(); !strings.HasPrefix(got, "12:03:04.123456 default/test1 mount[4242] uid=0 mount(") {
		t.Errorf("text %q", got)
	}
	b.Reset()
	r.eventIn(ev, nil, &correlate.Container{ID: "x", Namespace: "k8s.io", Pod: "web-7d9f", PodNamespace: "shop", ContainerName: "nginx"})
	if got := b.String(); !strings.HasPrefix(got, "12:03:04.123456 shop/web-7d9f/nginx mount[4242] ") {
		t.Errorf("text %q", got)
	}
}

func TestContainerJSON(t *testing.T) {
	ev := containerTestEvent("mount", unix.EPERM, time.Now())
	c := &correlate.Container{ID: "abc", Namespace: "k8s.io", Known: true, Source: correlate.SourceCgroup,
		Runtime: "io.containerd.runc.v2", ShimPID: 77,
		Labels: map[string]string{correlate.LabelPodName: "web", correlate.LabelPodNamespace: "shop", "team": "x"},
		Pod:    "web", PodNamespace: "shop"}
	var b bytes.Buffer
	newRenderer("json", &b, false).eventIn(ev, nil, c)
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
	newRenderer("json", &b, false).eventIn(ev, nil, nil)
	if !strings.Contains(b.String(), `"container":null`) {
		t.Errorf("host event: %s", b.String())
	}
}
