package export

import (
	"errors"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name    string
		cfg     Config
		env     map[string]string
		want    target
		wantArg string // the ArgError's Arg, for a bad value
	}{
		{name: "loopback grpc is plaintext", cfg: Config{Endpoint: "127.0.0.1:4317"},
			want: target{protocol: "grpc", hostPort: "127.0.0.1:4317", urlPath: "/v1/logs", insecure: true, timeout: 10 * time.Second}},
		{name: "localhost without port", cfg: Config{Endpoint: "localhost", Protocol: "http/protobuf"},
			want: target{protocol: "http/protobuf", hostPort: "localhost:4318", urlPath: "/v1/logs", insecure: true, timeout: 10 * time.Second}},
		{name: "remote is TLS", cfg: Config{Endpoint: "otel-agent.observability:4317"},
			want: target{protocol: "grpc", hostPort: "otel-agent.observability:4317", urlPath: "/v1/logs", timeout: 10 * time.Second}},
		{name: "remote with --otlp-insecure", cfg: Config{Endpoint: "10.0.0.5:4317", Insecure: &yes},
			want: target{protocol: "grpc", hostPort: "10.0.0.5:4317", urlPath: "/v1/logs", insecure: true, timeout: 10 * time.Second}},
		{name: "loopback with --otlp-insecure=false", cfg: Config{Endpoint: "[::1]:4317", Insecure: &no},
			want: target{protocol: "grpc", hostPort: "[::1]:4317", urlPath: "/v1/logs", timeout: 10 * time.Second}},
		{name: "URL scheme decides", cfg: Config{Endpoint: "http://collector:4318/custom", Protocol: "http/protobuf"},
			want: target{protocol: "http/protobuf", hostPort: "collector:4318", urlPath: "/custom", insecure: true, timeout: 10 * time.Second}},
		{name: "environment", env: map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "https://gw.example:4318/base", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
			"OTEL_EXPORTER_OTLP_TIMEOUT": "2500"},
			want: target{protocol: "http/protobuf", hostPort: "gw.example:4318", urlPath: "/base/v1/logs", timeout: 2500 * time.Millisecond}},
		{name: "logs variable before the generic one", env: map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4317", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://b:4317"},
			want: target{protocol: "grpc", hostPort: "b:4317", urlPath: "/v1/logs", insecure: true, timeout: 10 * time.Second}},
		{name: "flags win", cfg: Config{Endpoint: "127.0.0.1:9999", Protocol: "grpc", Timeout: time.Second},
			env:  map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://gw:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_INSECURE": "false"},
			want: target{protocol: "grpc", hostPort: "127.0.0.1:9999", urlPath: "/v1/logs", insecure: false, timeout: time.Second}},
		{name: "insecure from the environment", cfg: Config{Endpoint: "collector:4317"}, env: map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "true"},
			want: target{protocol: "grpc", hostPort: "collector:4317", urlPath: "/v1/logs", insecure: true, timeout: 10 * time.Second}},
		{name: "unknown protocol", cfg: Config{Endpoint: "a:1", Protocol: "http/json"}, wantArg: "--otlp-protocol"},
		{name: "unknown protocol in the environment", cfg: Config{Endpoint: "a:1"}, env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "udp"}, wantArg: "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{name: "bad port", cfg: Config{Endpoint: "a:99999"}, wantArg: "--otlp-endpoint"},
		{name: "bad scheme", cfg: Config{Endpoint: "ftp://a:1"}, wantArg: "--otlp-endpoint"},
		{name: "no host", cfg: Config{Endpoint: ":4317"}, wantArg: "--otlp-endpoint"},
		{name: "bad timeout", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:1", "OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, wantArg: "OTEL_EXPORTER_OTLP_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.resolve(func(k string) string { return tt.env[k] })
			if tt.wantArg != "" {
				var ae *ArgError
				if !errors.As(err, &ae) || ae.Arg != tt.wantArg {
					t.Fatalf("err = %v, want an error naming %s", err, tt.wantArg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got.tls == nil) != got.insecure {
				t.Errorf("tls config %v with insecure %v", got.tls, got.insecure)
			}
			got.tls = nil
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestEnabled(t *testing.T) {
	none := func(string) string { return "" }
	if (Config{}).Enabled(none) {
		t.Error("enabled without an endpoint")
	}
	if !(Config{}).Enabled(func(k string) string {
		if k == "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT" {
			return "http://x:4318"
		}
		return ""
	}) {
		t.Error("not enabled by OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
	}
	if !(Config{Endpoint: "x:1"}).Enabled(none) {
		t.Error("not enabled by the flag")
	}
}
