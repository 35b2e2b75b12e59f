package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

// Attribute names for the fields of ctrace's JSON event (docs/json-schema.md)
// that OpenTelemetry's semantic conventions name. Every other field keeps
// its JSON name under "ctrace.": ctrace.syscall, ctrace.errno,
// ctrace.args (a map), ctrace.reasons (a list of maps), ctrace.proc.cgroup,
// ctrace.container.namespace (containerd's namespace, which is not
// Kubernetes'), and fields added later, such as hints, without a change
// here.
var (
	procAttrs = map[string]string{
		"pid":     string(semconv.ProcessPIDKey),
		"ppid":    string(semconv.ProcessParentPIDKey),
		"tid":     string(semconv.ThreadIDKey),
		"comm":    string(semconv.ProcessExecutableNameKey),
		"cmdline": string(semconv.ProcessCommandArgsKey),
		"uid":     string(semconv.ProcessRealUserIDKey),
	}
	containerAttrs = map[string]string{
		"id":             string(semconv.ContainerIDKey),
		"image":          string(semconv.ContainerImageNameKey),
		"runtime":        string(semconv.ContainerRuntimeNameKey),
		"pod":            string(semconv.K8SPodNameKey),
		"pod_namespace":  string(semconv.K8SNamespaceNameKey),
		"pod_uid":        string(semconv.K8SPodUIDKey),
		"container_name": string(semconv.K8SContainerNameKey),
	}
)

// containerLabelPrefix is the semantic conventions' container.label.<key>.
const containerLabelPrefix = "container.label."

// Attributes flattens one JSON event, as `ctrace run -o json` prints it,
// into log record attributes: semantic-convention names where there is
// one, ctrace.<field> otherwise, nested objects other than proc and
// container kept as maps. The event's time is the record's timestamp, not
// an attribute.
func Attributes(event []byte) ([]attribute.KeyValue, error) {
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	kvs := make([]attribute.KeyValue, 0, len(top)+16)
	for _, k := range sortedKeys(top) {
		v := top[k]
		switch k {
		case "time":
			continue
		case "proc":
			kvs = appendObject(kvs, v, procAttrs, "ctrace.proc.")
			continue
		case "container":
			kvs = appendObject(kvs, v, containerAttrs, "ctrace.container.")
			continue
		}
		if v != nil {
			kvs = append(kvs, attribute.KeyValue{Key: attribute.Key("ctrace." + k), Value: value(v)})
		}
	}
	return kvs, nil
}

func appendObject(kvs []attribute.KeyValue, v any, names map[string]string, prefix string) []attribute.KeyValue {
	obj, ok := v.(map[string]any)
	if !ok {
		return kvs // null: a host process
	}
	for _, k := range sortedKeys(obj) {
		fv := obj[k]
		if fv == nil {
			continue
		}
		if k == "labels" && prefix == "ctrace.container." {
			if labels, ok := fv.(map[string]any); ok {
				for _, lk := range sortedKeys(labels) {
					kvs = append(kvs, attribute.KeyValue{Key: attribute.Key(containerLabelPrefix + lk), Value: value(labels[lk])})
				}
				continue
			}
		}
		name, ok := names[k]
		if !ok {
			name = prefix + k
		}
		kvs = append(kvs, attribute.KeyValue{Key: attribute.Key(name), Value: value(fv)})
	}
	return kvs
}

// value converts a decoded JSON value: integers stay integers, objects
// become maps (keys sorted, for stable output) and arrays slices.
func value(v any) attribute.Value {
	switch v := v.(type) {
	case string:
		return attribute.StringValue(v)
	case bool:
		return attribute.BoolValue(v)
	case json.Number:
		if !strings.ContainsAny(string(v), ".eE") {
			if n, err := v.Int64(); err == nil {
				return attribute.Int64Value(n)
			}
		}
		f, _ := v.Float64()
		return attribute.Float64Value(f)
	case []any:
		vs := make([]attribute.Value, len(v))
		for i, e := range v {
			vs[i] = value(e)
		}
		return attribute.SliceValue(vs...)
	case map[string]any:
		kvs := make([]attribute.KeyValue, 0, len(v))
		for _, k := range sortedKeys(v) {
			kvs = append(kvs, attribute.KeyValue{Key: attribute.Key(k), Value: value(v[k])})
		}
		return attribute.MapValue(kvs...)
	}
	return attribute.Value{} // null: an empty value, as OTLP has one
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
