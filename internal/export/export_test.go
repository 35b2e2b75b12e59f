package export

import (
	"context"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctrace-dev/ctrace/internal/testing/otelcoltest"
)

// An event as -o json prints it (docs/json-schema.md), of a pod's container.
const podEvent = `{"time":"2026-11-23T08:21:39.820633522Z","syscall":"mount","family":"mount","ret":-1,"errno":"EPERM","error":"Operation not permitted",` +
	`"args":{"source":"none","target":"/mnt","fstype":"tmpfs","flags":"MS_RDONLY","data":null},` +
	`"proc":{"pid":4242,"tid":4243,"ppid":4200,"comm":"mount","uid":0,"gid":0,"cgroup_id":9001,"cgroup":"/k8s.io/abc","mntns":4026531841,"pidns":4026531836,"netns":4026531840,"userns":4026531837},` +
	`"reasons":[{"kind":"capability","cap":"CAP_SYS_ADMIN","userns":4026531837,"init_userns":true},{"kind":"kernel_log","message":"tmpfs: Bad value for 'size'"}],` +
	`"container":{"id":"abc123","namespace":"k8s.io","known":true,"source":"cgroup","image":"docker.io/library/busybox:1.36","runtime":"io.containerd.runc.v2","shim_pid":77,` +
	`"labels":{"io.kubernetes.pod.name":"web-0"},"pod":"web-0","pod_namespace":"shop","pod_uid":"6f1c","container_name":"app"},` +
	`"hints":["mount needs CAP_SYS_ADMIN in the initial user namespace"],"repeat_count":3}`

const podText = `08:21:39.820633 shop/web-0/app mount[4242] uid=0 mount("none", "/mnt", "tmpfs", MS_RDONLY, NULL) = -1 EPERM (Operation not permitted)`

func wantPodAttrs() map[string]any {
	return map[string]any{
		"ctrace.syscall": "mount", "ctrace.family": "mount", "ctrace.ret": int64(-1),
		"ctrace.errno": "EPERM", "ctrace.error": "Operation not permitted",
		"ctrace.args": map[string]any{"source": "none", "target": "/mnt", "fstype": "tmpfs", "flags": "MS_RDONLY", "data": nil},
		"process.pid": int64(4242), "thread.id": int64(4243), "process.parent_pid": int64(4200),
		"process.executable.name": "mount", "process.real_user.id": int64(0),
		"ctrace.proc.gid": int64(0), "ctrace.proc.cgroup_id": int64(9001), "ctrace.proc.cgroup": "/k8s.io/abc",
		"ctrace.proc.mntns": int64(4026531841), "ctrace.proc.pidns": int64(4026531836),
		"ctrace.proc.netns": int64(4026531840), "ctrace.proc.userns": int64(4026531837),
		"ctrace.reasons": []any{
			map[string]any{"kind": "capability", "cap": "CAP_SYS_ADMIN", "userns": int64(4026531837), "init_userns": true},
			map[string]any{"kind": "kernel_log", "message": "tmpfs: Bad value for 'size'"},
		},
		"container.id": "abc123", "ctrace.container.namespace": "k8s.io", "ctrace.container.known": true,
		"ctrace.container.source": "cgroup", "container.image.name": "docker.io/library/busybox:1.36",
		"container.runtime.name": "io.containerd.runc.v2", "ctrace.container.shim_pid": int64(77),
		"container.label.io.kubernetes.pod.name": "web-0",
		"k8s.pod.name":                           "web-0", "k8s.namespace.name": "shop", "k8s.pod.uid": "6f1c", "k8s.container.name": "app",
		"ctrace.hints":        []any{"mount needs CAP_SYS_ADMIN in the initial user namespace"},
		"ctrace.repeat_count": int64(3),
	}
}

// warnings collects what the exporter warns about.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) add(m string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, m)
}

func (w *warnings) all() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.msgs, "\n")
}

func newExporter(t *testing.T, cfg Config, queue int, w *warnings) *Exporter {
	t.Helper()
	e, err := New(Options{Config: cfg, QueueSize: queue, Version: "v-test", Warn: w.add, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func closeExporter(t *testing.T, e *Exporter) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		t.Error(err)
	}
}

// Each record arrives with the text as its body, WARN, the call's time,
// and every JSON field as an attribute with the value it had; over gRPC
// and over HTTP.
func TestExportAttributes(t *testing.T) {
	col := otelcoltest.Start(t)
	for _, proto := range []string{ProtocolGRPC, ProtocolHTTP} {
		t.Run(proto, func(t *testing.T) {
			addr := col.GRPC
			if proto == ProtocolHTTP {
				addr = col.HTTP
			}
			before, _ := col.Records()
			w := &warnings{}
			e := newExporter(t, Config{Endpoint: addr, Protocol: proto}, 0, w)
			at := time.Date(2026, 11, 23, 8, 21, 39, 820633522, time.UTC)
			e.Export(Record{Time: at, Text: podText, JSON: []byte(podEvent), Failed: true})
			closeExporter(t, e)
			if s := e.Stats(); s != (Stats{Sent: 1}) {
				t.Errorf("stats = %+v, want 1 sent; warnings: %s", s, w.all())
			}
			recs := col.Wait(t, 10*time.Second, "the record", func(r []otelcoltest.Record) bool { return len(r) > len(before) })
			r := recs[len(recs)-1]
			if r.Body != podText || r.Severity != 13 || r.SeverityText != "WARN" || !r.Time.Equal(at) {
				t.Errorf("record: body %q, severity %d %q, time %v", r.Body, r.Severity, r.SeverityText, r.Time)
			}
			if !reflect.DeepEqual(r.Attrs, wantPodAttrs()) {
				for k, v := range wantPodAttrs() {
					if !reflect.DeepEqual(r.Attrs[k], v) {
						t.Errorf("attribute %s = %#v, want %#v", k, r.Attrs[k], v)
					}
				}
				for k, v := range r.Attrs {
					if _, ok := wantPodAttrs()[k]; !ok {
						t.Errorf("unexpected attribute %s = %#v", k, v)
					}
				}
			}
			host, _ := os.Hostname()
			if r.Resource["host.name"] != host || r.Resource["service.name"] != "ctrace" || r.Resource["service.version"] != "v-test" {
				t.Errorf("resource = %v", r.Resource)
			}
		})
	}
}

// A host process has no container attributes at all, and a success is INFO.
func TestExportHostSuccess(t *testing.T) {
	got, err := Attributes([]byte(`{"time":"x","syscall":"openat","ret":3,"proc":{"pid":1,"comm":"init"},"reasons":[],"container":null}`))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	for _, kv := range got {
		m[string(kv.Key)] = kv.Value.String()
	}
	want := map[string]any{"ctrace.syscall": "openat", "ctrace.ret": "3", "process.pid": "1", "process.executable.name": "init", "ctrace.reasons": "[]"}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("attributes = %v, want %v", m, want)
	}
}

// The collector goes away mid-run: Export does not block, what could not
// be sent is counted as failed and warned about, and once the collector is
// back later records arrive. Every record is accounted for.
func TestExportCollectorAway(t *testing.T) {
	col := otelcoltest.Start(t)
	w := &warnings{}
	e := newExporter(t, Config{Endpoint: col.GRPC, Timeout: 1500 * time.Millisecond}, 0, w)
	rec := func(i int) Record {
		return Record{Time: time.Now(), Text: "event", JSON: []byte(`{"syscall":"mount","n":` + string(rune('0'+i)) + `}`), Failed: true}
	}
	e.Export(rec(0))
	col.Wait(t, 10*time.Second, "the first record", func(r []otelcoltest.Record) bool { return len(r) == 1 })

	col.Stop()
	start := time.Now()
	for i := 1; i <= 5; i++ {
		e.Export(rec(i))
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Export blocked for %v with the collector away", d)
	}
	deadline := time.Now().Add(20 * time.Second)
	for e.Stats().Failed < 5 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if s := e.Stats(); s.Failed != 5 {
		t.Fatalf("stats with the collector away = %+v, want 5 failed", s)
	}
	if !strings.Contains(w.all(), "OTLP export to grpc "+col.GRPC+" (plaintext) failed") {
		t.Errorf("warnings = %q", w.all())
	}

	col.Restart()
	e.Export(rec(6))
	e.Export(rec(7))
	recs := col.Wait(t, 20*time.Second, "the records after the restart", func(r []otelcoltest.Record) bool { return len(r) == 3 })
	closeExporter(t, e)
	if got := recs[2].Attrs["ctrace.n"]; got != int64(7) {
		t.Errorf("last record's n = %v", got)
	}
	if s := e.Stats(); s != (Stats{Sent: 3, Failed: 5}) {
		t.Errorf("stats = %+v, want 3 sent, 5 failed", s)
	}
	// One warning for the burst, one at Close for what failed since.
	if n := strings.Count(w.all(), "failed"); n > 2 {
		t.Errorf("%d warnings within a minute:\n%s", n, w.all())
	}
}

// With nothing listening and a small queue, Export drops what does not fit
// and counts it; every record is sent, failed or dropped. At most the
// queue, the SDK's queue and the record in the worker's hands get as far as
// failing.
func TestExportQueueFull(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	w := &warnings{}
	e := newExporter(t, Config{Endpoint: addr, Timeout: 500 * time.Millisecond}, 8, w)
	for i := 0; i < 1000; i++ {
		e.Export(Record{Time: time.Now(), Text: "x", JSON: []byte(`{}`), Failed: true})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = e.Close(ctx)
	s := e.Stats()
	if s.Sent != 0 || s.Dropped < 1000-(2*8+1) || s.Sent+s.Failed+s.Dropped != 1000 {
		t.Errorf("stats = %+v: want about 1000 dropped, and 1000 in all", s)
	}
}

// TLS against a plaintext collector fails with a message that says so and
// what to do.
func TestExportTLSToPlaintext(t *testing.T) {
	col := otelcoltest.Start(t)
	for _, proto := range []string{ProtocolGRPC, ProtocolHTTP} {
		t.Run(proto, func(t *testing.T) {
			addr := col.GRPC
			if proto == ProtocolHTTP {
				addr = col.HTTP
			}
			no := false
			w := &warnings{}
			e := newExporter(t, Config{Endpoint: addr, Protocol: proto, Insecure: &no, Timeout: time.Second}, 0, w)
			e.Export(Record{Time: time.Now(), Text: "x", JSON: []byte(`{}`), Failed: true})
			closeExporter(t, e)
			if s := e.Stats(); s.Failed != 1 {
				t.Errorf("stats = %+v, want 1 failed", s)
			}
			msg := w.all()
			if !strings.Contains(msg, "(TLS) failed") || !strings.Contains(msg, "does not speak TLS") || !strings.Contains(msg, "--otlp-insecure") {
				t.Errorf("warning = %q; want it to say that the endpoint does not speak TLS and to name --otlp-insecure", msg)
			}
		})
	}
}
