package kubeapitest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Controllers are the controller manager's controllers StartControllers
// runs: what applying a DaemonSet, a Deployment or a namespace needs, and
// the service accounts, tokens and CA bundle each namespace gets. Left
// out, as in no cluster of one test node they would do anything: the
// cloud, node IPAM, volumes, and the rest that takes more memory and
// CPU than a 2-core CI machine should give away.
var Controllers = []string{
	"serviceaccount-controller",                // each namespace's default service account
	"serviceaccount-token-controller",          // its token, and the controllers' own (--use-service-account-credentials)
	"root-ca-certificate-publisher-controller", // kube-root-ca.crt, which projected token volumes mount
	"namespace-controller",                     // kubectl delete namespace
	"garbage-collector-controller",             // a DaemonSet's pods go with it
	"clusterrole-aggregation-controller",       // admin, edit, view get their rules
	"daemonset-controller",
	"deployment-controller",
	"replicaset-controller",
	// The kubelet registers the node with the not-ready NoSchedule
	// taint; this controller takes it off once the node is Ready, or a
	// pod that tolerates no taints (any but a DaemonSet's) stays Pending.
	"node-lifecycle-controller",
}

// StartControllers starts kube-controller-manager (Controllers) and
// kube-scheduler against the server, as a cluster's control plane runs
// them: each with a client certificate of the user RBAC's bootstrap roles
// name (system:kube-controller-manager, system:kube-scheduler), the
// controllers each with a service account of its own, the service-account
// tokens signed with the API server's key, leader election off (one of
// each). It waits until both answer /healthz and the controllers have
// given kube-system its default service account and CA bundle. Stop stops
// them. On error what started is stopped again.
func (s *Server) StartControllers(ctx context.Context) (err error) {
	if s.controllerManager != nil {
		return fmt.Errorf("kube-controller-manager already runs")
	}
	paths, err := build("kube-controller-manager", "kube-scheduler")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.stopControllers()
		}
	}()
	p := func(name string) string { return filepath.Join(s.Dir, name) }
	for _, c := range []struct{ name, user string }{
		{"controller-manager", "system:kube-controller-manager"},
		{"scheduler", "system:kube-scheduler"},
	} {
		if err := s.issue(c.name, &x509.Certificate{
			Subject:     pkix.Name{CommonName: c.user},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}); err != nil {
			return err
		}
		if err := s.writeCertKubeconfig(p(c.name+".kubeconfig"), c.user, p(c.name+".crt"), p(c.name+".key")); err != nil {
			return err
		}
	}
	// Their ports serve /healthz (and metrics, which nothing here reads):
	// on loopback, away from the defaults (10257, 10259) a real control
	// plane on this machine would use.
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	s.controllerManager, err = s.start(paths[0], "kube-controller-manager.log",
		"--kubeconfig="+p("controller-manager.kubeconfig"),
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[0]),
		"--leader-elect=false",
		"--controllers="+strings.Join(Controllers, ","),
		// The service-account tokens it makes (the legacy secrets, and
		// its controllers' own) verify with the API server's
		// --service-account-key-file; the CA bundle it publishes in
		// every namespace is the one the API server's certificate
		// chains to.
		"--service-account-private-key-file="+p("sa.key"),
		"--root-ca-file="+p("ca.crt"),
		// Each controller as its own service account, with the roles
		// RBAC bootstraps for it (system:controller:daemon-set-controller
		// ...), not with the manager's broad credential: a missing grant
		// shows here as it would in a cluster.
		"--use-service-account-credentials=true",
		"--profiling=false",
		"--v=1",
	)
	if err != nil {
		return err
	}
	s.scheduler, err = s.start(paths[1], "kube-scheduler.log",
		"--kubeconfig="+p("scheduler.kubeconfig"),
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[1]),
		"--leader-elect=false",
		"--profiling=false",
		"--v=1",
	)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		cmd  *exec.Cmd
		port int
		log  string
	}{{s.controllerManager, ports[0], "kube-controller-manager.log"}, {s.scheduler, ports[1], "kube-scheduler.log"}} {
		if err := s.waitHealthy(ctx, c.cmd, c.port, c.log, time.Minute); err != nil {
			return err
		}
	}
	return s.waitNamespaceReady(ctx, metav1.NamespaceSystem, time.Minute)
}

// waitHealthy polls a control-plane component's /healthz until it
// answers ok, the process exits, or the timeout passes. Its serving
// certificate is one it made for itself at start, in memory: nothing
// to check it against, and the request carries no credential (/healthz
// is one of the paths it answers without).
func (s *Server) waitHealthy(ctx context.Context, cmd *exec.Cmd, port int, log string, timeout time.Duration) error {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	url := "https://127.0.0.1:" + strconv.Itoa(port) + "/healthz"
	name := strings.TrimSuffix(log, ".log")
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := hc.Do(req); err == nil {
			b := make([]byte, 512)
			n, _ := resp.Body.Read(b)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, b[:n])
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy after %v (last: %s):\n%s", name, timeout, last, tail(s.ComponentLog(log), 3000))
		case <-s.exited[cmd]:
			return fmt.Errorf("%s exited:\n%s", name, tail(s.ComponentLog(log), 3000))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitNamespaceReady waits until the controllers have given namespace ns
// its default service account and kube-root-ca.crt: a pod created there
// before would be refused (no service account) or could not start (no
// CA bundle for its token volume).
func (s *Server) waitNamespaceReady(ctx context.Context, ns string, timeout time.Duration) error {
	c, err := s.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		_, saErr := c.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		_, cmErr := c.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if saErr == nil && cmErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s has no default service account or kube-root-ca.crt after %v (%v; %v); the controller manager's log:\n%s",
				ns, timeout, saErr, cmErr, tail(s.ComponentLog("kube-controller-manager.log"), 3000))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ComponentLog returns the log of a component of the cluster, by its
// file name in Dir (kube-apiserver.log, etcd.log,
// kube-controller-manager.log, kube-scheduler.log), for a failing test.
func (s *Server) ComponentLog(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, name))
	return string(b)
}

// stopControllers stops what StartControllers started, for its errors.
func (s *Server) stopControllers() {
	for _, c := range []*exec.Cmd{s.scheduler, s.controllerManager} {
		if c != nil && c.Process != nil {
			_ = c.Process.Kill()
			<-s.exited[c]
		}
	}
	s.scheduler, s.controllerManager = nil, nil
}
