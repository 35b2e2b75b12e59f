package otelcoltest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// Record is one log record as the collector received it, with its
// resource's attributes beside it. Attribute values are Go values: string,
// int64, float64, bool, []any (an array) and map[string]any (a kvlist).
type Record struct {
	Time         time.Time
	Severity     int
	SeverityText string
	Body         any
	Attrs        map[string]any
	Resource     map[string]any
	Scope        string
}

// The OTLP JSON encoding (opentelemetry-proto's JSON mapping): 64-bit
// integers are strings, enums are numbers, keys are lowerCamelCase.
type (
	exportRequest struct {
		ResourceLogs []struct {
			Resource struct {
				Attributes []keyValue `json:"attributes"`
			} `json:"resource"`
			ScopeLogs []struct {
				Scope struct {
					Name string `json:"name"`
				} `json:"scope"`
				LogRecords []struct {
					TimeUnixNano   string     `json:"timeUnixNano"`
					SeverityNumber int        `json:"severityNumber"`
					SeverityText   string     `json:"severityText"`
					Body           anyValue   `json:"body"`
					Attributes     []keyValue `json:"attributes"`
				} `json:"logRecords"`
			} `json:"scopeLogs"`
		} `json:"resourceLogs"`
	}
	keyValue struct {
		Key   string   `json:"key"`
		Value anyValue `json:"value"`
	}
	anyValue struct {
		StringValue *string  `json:"stringValue"`
		IntValue    *string  `json:"intValue"`
		DoubleValue *float64 `json:"doubleValue"`
		BoolValue   *bool    `json:"boolValue"`
		ArrayValue  *struct {
			Values []anyValue `json:"values"`
		} `json:"arrayValue"`
		KvlistValue *struct {
			Values []keyValue `json:"values"`
		} `json:"kvlistValue"`
	}
)

func (v anyValue) value() any {
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case v.IntValue != nil:
		n, _ := strconv.ParseInt(*v.IntValue, 10, 64)
		return n
	case v.DoubleValue != nil:
		return *v.DoubleValue
	case v.BoolValue != nil:
		return *v.BoolValue
	case v.ArrayValue != nil:
		out := make([]any, 0, len(v.ArrayValue.Values))
		for _, e := range v.ArrayValue.Values {
			out = append(out, e.value())
		}
		return out
	case v.KvlistValue != nil:
		return attrs(v.KvlistValue.Values)
	}
	return nil
}

func attrs(kvs []keyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value.value()
	}
	return m
}

// Records returns every log record received so far, in arrival order.
func (c *Collector) Records() ([]Record, error) {
	b, err := os.ReadFile(c.out)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Record
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var req exportRequest
		if err := json.Unmarshal(line, &req); err != nil {
			// The last line may be in the middle of its write.
			if !bytes.HasSuffix(b, []byte("\n")) {
				break
			}
			return out, fmt.Errorf("collector output: %w", err)
		}
		for _, rl := range req.ResourceLogs {
			res := attrs(rl.Resource.Attributes)
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					ns, _ := strconv.ParseInt(lr.TimeUnixNano, 10, 64)
					out = append(out, Record{
						Time:         time.Unix(0, ns),
						Severity:     lr.SeverityNumber,
						SeverityText: lr.SeverityText,
						Body:         lr.Body.value(),
						Attrs:        attrs(lr.Attributes),
						Resource:     res,
						Scope:        sl.Scope.Name,
					})
				}
			}
		}
	}
	return out, sc.Err()
}

// Wait polls the records until match accepts them or timeout passes, and
// returns the last records read; it fails tb on a timeout.
func (c *Collector) Wait(tb testing.TB, timeout time.Duration, what string, match func([]Record) bool) []Record {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		recs, err := c.Records()
		if err != nil {
			tb.Fatal(err)
		}
		if match(recs) {
			return recs
		}
		if time.Now().After(deadline) {
			tb.Fatalf("collector: %s not received within %v; %d records received", what, timeout, len(recs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
