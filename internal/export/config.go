package export

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Protocols are the OTLP transports ctrace speaks (the Go SDK has no
// http/json exporter for logs).
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// Config is what the user asked for on the command line; empty or nil
// fields fall back to the standard OTEL_EXPORTER_OTLP_* environment
// variables (the LOGS_ variant first), then to defaults. Flags win.
type Config struct {
	// Endpoint is HOST:PORT (the port defaults to 4317 for gRPC, 4318
	// for HTTP) or a URL (http:// means plaintext, https:// TLS; for
	// HTTP the URL's path is the logs path, /v1/logs when empty).
	Endpoint string
	// Protocol is ProtocolGRPC or ProtocolHTTP; default gRPC.
	Protocol string
	// Insecure, when set, says whether to use plaintext. When not, TLS
	// is used unless the endpoint is a loopback address or an http://
	// URL: a collector on the same host is usually reached without TLS,
	// one across the network must not be.
	Insecure *bool
	// Timeout bounds one batch's export, its retries included; default
	// 10 s.
	Timeout time.Duration
}

// target is a Config resolved against the environment.
type target struct {
	protocol string
	hostPort string
	urlPath  string // HTTP only
	insecure bool
	timeout  time.Duration
	tls      *tls.Config // nil when insecure
}

// Enabled says whether export was asked for: by an endpoint flag or by an
// OTLP endpoint in the environment.
func (c Config) Enabled(getenv func(string) string) bool {
	return c.Endpoint != "" || env(getenv, "ENDPOINT") != ""
}

// env returns OTEL_EXPORTER_OTLP_LOGS_<name>, or else OTEL_EXPORTER_OTLP_<name>.
func env(getenv func(string) string, name string) string {
	if v := getenv("OTEL_EXPORTER_OTLP_LOGS_" + name); v != "" {
		return v
	}
	return getenv("OTEL_EXPORTER_OTLP_" + name)
}

// An ArgError names the flag (or environment variable) that holds a bad
// value, the value, what is wrong and what is allowed, for the caller's
// usage message.
type ArgError struct {
	Arg   string
	Value string
	Msg   string
}

func (e *ArgError) Error() string {
	if e.Value == "" {
		return e.Arg + ": " + e.Msg
	}
	return e.Arg + " " + e.Value + ": " + e.Msg
}

// Check validates c against the environment without starting anything.
func (c Config) Check(getenv func(string) string) error {
	_, err := c.resolve(getenv)
	return err
}

func (c Config) resolve(getenv func(string) string) (target, error) {
	var t target
	t.protocol, t.timeout = c.Protocol, c.Timeout
	protoArg := "--otlp-protocol"
	if t.protocol == "" {
		protoArg = "OTEL_EXPORTER_OTLP_PROTOCOL"
		if t.protocol = env(getenv, "PROTOCOL"); t.protocol == "" {
			t.protocol = ProtocolGRPC
		}
	}
	if t.protocol != ProtocolGRPC && t.protocol != ProtocolHTTP {
		return t, &ArgError{protoArg, t.protocol, fmt.Sprintf("unknown protocol; allowed: %s, %s", ProtocolGRPC, ProtocolHTTP)}
	}
	port := "4317"
	if t.protocol == ProtocolHTTP {
		port = "4318"
	}

	endpoint, endpointArg, generic := c.Endpoint, "--otlp-endpoint", false
	if endpoint == "" {
		endpointArg = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"
		if endpoint = getenv(endpointArg); endpoint == "" {
			endpointArg, generic = "OTEL_EXPORTER_OTLP_ENDPOINT", true
			endpoint = getenv(endpointArg)
		}
	}
	if endpoint == "" {
		return t, &ArgError{"--otlp-endpoint", "", "no endpoint; allowed: HOST:PORT or a URL, here or in OTEL_EXPORTER_OTLP_ENDPOINT"}
	}
	badEndpoint := func(why string) error {
		return &ArgError{endpointArg, endpoint, fmt.Sprintf("%s; allowed: HOST:PORT or a URL such as http://HOST:%s", why, port)}
	}
	scheme := ""
	host := endpoint
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return t, badEndpoint(err.Error())
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return t, badEndpoint("the scheme must be http or https")
		}
		scheme, host, t.urlPath = u.Scheme, u.Host, u.Path
		if generic {
			// The spec: the generic endpoint is a base URL.
			t.urlPath = strings.TrimSuffix(t.urlPath, "/") + "/v1/logs"
		}
	}
	if t.urlPath == "" || t.urlPath == "/" {
		t.urlPath = "/v1/logs"
	}
	h, p, err := net.SplitHostPort(host)
	if err != nil {
		// No port: the protocol's default.
		h, p = strings.Trim(host, "[]"), port
	}
	if h == "" {
		return t, badEndpoint("no host")
	}
	if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
		return t, badEndpoint("bad port")
	}
	t.hostPort = net.JoinHostPort(h, p)

	switch {
	case c.Insecure != nil:
		t.insecure = *c.Insecure
	case scheme != "":
		t.insecure = scheme == "http"
	case env(getenv, "INSECURE") != "":
		t.insecure = strings.EqualFold(env(getenv, "INSECURE"), "true")
	default:
		t.insecure = isLoopback(h)
	}

	if t.timeout == 0 {
		t.timeout = 10 * time.Second
		if ms := env(getenv, "TIMEOUT"); ms != "" {
			n, err := strconv.Atoi(ms)
			if err != nil || n <= 0 {
				return t, &ArgError{"OTEL_EXPORTER_OTLP_TIMEOUT", ms, "not a timeout; allowed: milliseconds, a positive integer"}
			}
			t.timeout = time.Duration(n) * time.Millisecond
		}
	}
	if t.timeout < 0 {
		return t, &ArgError{"--otlp-timeout", t.timeout.String(), "negative; allowed: a duration such as 5s (0 means the default, 10s)"}
	}
	if !t.insecure {
		if t.tls, err = tlsConfig(getenv); err != nil {
			return t, err
		}
	}
	return t, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tlsConfig builds the client's TLS configuration: the system's roots, or
// the CA in OTEL_EXPORTER_OTLP_CERTIFICATE, and a client certificate
// when OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and _CLIENT_KEY name one.
func tlsConfig(getenv func(string) string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca := env(getenv, "CERTIFICATE"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, &ArgError{"OTEL_EXPORTER_OTLP_CERTIFICATE", ca, err.Error() + "; allowed: a PEM file of CA certificates"}
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, &ArgError{"OTEL_EXPORTER_OTLP_CERTIFICATE", ca, "no PEM certificate in it; allowed: a PEM file of CA certificates"}
		}
	}
	cert, key := env(getenv, "CLIENT_CERTIFICATE"), env(getenv, "CLIENT_KEY")
	if (cert == "") != (key == "") {
		return nil, &ArgError{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", cert, "without its key; allowed: both it and OTEL_EXPORTER_OTLP_CLIENT_KEY, or neither"}
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, &ArgError{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", cert, err.Error() + "; allowed: a PEM certificate and key"}
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// errTLSToPlain recognises a TLS handshake answered by a plaintext server.
var errTLSToPlain = errors.New("the endpoint does not speak TLS")

func tlsHint(err error) string {
	s := err.Error()
	if strings.Contains(s, "first record does not look like a TLS handshake") ||
		strings.Contains(s, "server gave HTTP response to HTTPS client") {
		return errTLSToPlain.Error() + ": if the collector listens without TLS, pass --otlp-insecure (or use an http:// endpoint)"
	}
	return ""
}
