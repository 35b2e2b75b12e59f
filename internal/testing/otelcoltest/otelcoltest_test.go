package otelcoltest

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The collector receives a record over OTLP/HTTP JSON, survives a restart
// on the same ports, and Records returns the values sent.
func TestCollectorRoundTrip(t *testing.T) {
	c := Start(t)
	send := func(body string) {
		t.Helper()
		req := `{"resourceLogs":[{"resource":{"attributes":[{"key":"host.name","value":{"stringValue":"n1"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000001","severityNumber":13,"body":{"stringValue":"` + body + `"},"attributes":[{"key":"n","value":{"intValue":"42"}},{"key":"l","value":{"arrayValue":{"values":[{"kvlistValue":{"values":[{"key":"k","value":{"boolValue":true}}]}}]}}}]}]}]}]}`
		resp, err := http.Post("http://"+c.HTTP+"/v1/logs", "application/json", strings.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %s", resp.Status)
		}
	}
	send("first")
	recs := c.Wait(t, 10*time.Second, "the first record", func(r []Record) bool { return len(r) == 1 })
	r := recs[0]
	if r.Body != "first" || r.Severity != 13 || r.Time.UnixNano() != 1700000000000000001 {
		t.Errorf("record = %+v", r)
	}
	if r.Attrs["n"] != int64(42) || r.Resource["host.name"] != "n1" {
		t.Errorf("attributes = %v, resource = %v", r.Attrs, r.Resource)
	}
	l, ok := r.Attrs["l"].([]any)
	if !ok || len(l) != 1 || l[0].(map[string]any)["k"] != true {
		t.Errorf("l = %#v", r.Attrs["l"])
	}
	c.Stop()
	c.Restart()
	send("second")
	recs = c.Wait(t, 10*time.Second, "the second record", func(r []Record) bool { return len(r) == 2 })
	if recs[1].Body != "second" {
		t.Errorf("second record = %+v", recs[1])
	}
}
