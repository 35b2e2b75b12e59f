package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ListenAddr turns a --metrics-addr value into an address for net.Listen.
// A bare port ("9464") binds the loopback interface only, so that metrics
// are not exposed by accident; "host:port", ":9464" and "0.0.0.0:9464" are
// used as Go's net package reads them (":9464": every interface). An IPv6
// address without brackets before the port ("fd00::5:9464") is taken as
// [fd00::5]:9464: a manifest writes $(POD_IP):9464 whatever the pod IP's
// family.
func ListenAddr(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", errors.New("empty address")
	}
	if p, err := strconv.Atoi(v); err == nil {
		if p < 0 || p > 65535 {
			return "", fmt.Errorf("port %d out of range", p)
		}
		return net.JoinHostPort("127.0.0.1", v), nil
	}
	host, port, err := net.SplitHostPort(v)
	if i := strings.LastIndexByte(v, ':'); err != nil && i > 0 && !strings.Contains(v, "[") {
		if ip := net.ParseIP(v[:i]); ip != nil && ip.To4() == nil {
			host, port, err = v[:i], v[i+1:], nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("%q is neither a port nor host:port: %v", v, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", fmt.Errorf("invalid port %q", port)
	}
	return net.JoinHostPort(host, port), nil
}

// Server serves /metrics and /healthz.
type Server struct {
	ln  net.Listener
	srv *http.Server
	err chan error
}

// Serve listens on addr (see ListenAddr) and serves m in the background.
// healthy answers /healthz: nil is 200 "ok", an error 503 with its text.
func Serve(addr string, m *Metrics, healthy func() error) (*Server, error) {
	a, err := ListenAddr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", a)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:          m.reg, // counts its own errors
		EnableOpenMetrics: true,
	}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if healthy != nil {
			if err := healthy(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, err)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	s := &Server{
		ln: ln,
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
		},
		err: make(chan error, 1),
	}
	go func() { s.err <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address the server listens on, with the port the kernel
// picked for port 0.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, letting scrapes in progress finish for a
// moment.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if e := <-s.err; e != nil && !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}
