// Package kubeapitest runs a Kubernetes API server for tests: etcd and
// kube-apiserver built from their Go modules (test/kubenode/build.sh,
// cached), on loopback ports, with serving certificates, service-account
// signing keys and an admin credential it makes at start, and a
// kubeconfig that kubectl and client-go take. RBAC is on (as in a real
// cluster), so a service account may do only what it is granted.
//
// It has no controller manager and no scheduler: pods created through it
// are API objects until a kubelet is given them.
package kubeapitest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ServiceCIDR is the cluster's service range: addresses no other network
// on a test machine uses (the API server needs one; nothing routes it).
const ServiceCIDR = "10.214.0.0/24"

// Server is a running etcd and kube-apiserver.
type Server struct {
	Dir        string // certificates, keys, etcd's data, logs, the kubeconfig
	URL        string // https://127.0.0.1:PORT
	Kubeconfig string // the admin's (system:masters)
	CACert     []byte // PEM of the CA the server's certificate chains to

	etcd, apiserver *exec.Cmd
	exited          map[*exec.Cmd]chan struct{}
	config          *rest.Config
}

// Binaries builds etcd and kube-apiserver with test/kubenode/build.sh, or
// finds them in its cache.
func Binaries() (etcd, apiserver string, err error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", "", errors.New("cannot locate the kubeapitest source file")
	}
	script := filepath.Join(filepath.Dir(file), "..", "..", "..", "test", "kubenode", "build.sh")
	cmd := exec.Command(script, "etcd", "kube-apiserver")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("%s: %w\n%s", script, err, stderr.String())
	}
	paths := strings.Fields(string(out))
	if len(paths) != 2 {
		return "", "", fmt.Errorf("%s printed %q, want two paths", script, out)
	}
	return paths[0], paths[1], nil
}

// Start brings etcd and the API server up in dir and waits until the API
// server is ready (its RBAC roles bootstrapped). On error what started is
// stopped again.
func Start(ctx context.Context, dir string) (s *Server, err error) {
	etcdBin, apiBin, err := Binaries()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s = &Server{Dir: dir, exited: map[*exec.Cmd]chan struct{}{}}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if err := s.makeCredentials(); err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	s.etcd, err = s.start(etcdBin, "etcd.log",
		"--name=test", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=test="+peerURL, "--log-level=warn",
		// A test's etcd: no fsync per write, which a loaded CI disk makes slow.
		"--unsafe-no-fsync",
	)
	if err != nil {
		return nil, err
	}
	s.URL = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	p := func(name string) string { return filepath.Join(dir, name) }
	s.apiserver, err = s.start(apiBin, "kube-apiserver.log",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[2]),
		"--tls-cert-file="+p("apiserver.crt"), "--tls-private-key-file="+p("apiserver.key"),
		"--client-ca-file="+p("ca.crt"),
		"--service-account-key-file="+p("sa.pub"), "--service-account-signing-key-file="+p("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range="+ServiceCIDR,
		"--allow-privileged=true",
		"--cert-dir="+p("certs"),
		"--profiling=false",
		"--v=1",
	)
	if err != nil {
		return nil, err
	}
	s.Kubeconfig = p("kubeconfig")
	if err := s.writeKubeconfig(s.Kubeconfig); err != nil {
		return nil, err
	}
	s.config, err = clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx, 2*time.Minute); err != nil {
		return nil, err
	}
	return s, nil
}

// Config is the admin's client configuration.
func (s *Server) Config() *rest.Config { return rest.CopyConfig(s.config) }

// Client is a client with the admin's credential.
func (s *Server) Client() (*kubernetes.Clientset, error) { return kubernetes.NewForConfig(s.Config()) }

// TokenKubeconfig writes a kubeconfig at path that authenticates with a
// bearer token (a service account's), as a pod's in-cluster credential
// does.
func (s *Server) TokenKubeconfig(path, token string) error {
	c := clientcmdapi.NewConfig()
	c.Clusters["test"] = &clientcmdapi.Cluster{Server: s.URL, CertificateAuthorityData: s.CACert}
	c.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: token}
	c.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "sa"}
	c.CurrentContext = "test"
	return clientcmd.WriteToFile(*c, path)
}

// Log returns the API server's log, for a failing test.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "kube-apiserver.log"))
	return string(b)
}

func (s *Server) start(bin, log string, args ...string) (*exec.Cmd, error) {
	f, err := os.Create(filepath.Join(s.Dir, log))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Both die with the test process, whatever ends it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	done := make(chan struct{})
	s.exited[cmd] = done
	go func() { _ = cmd.Wait(); close(done) }()
	return cmd, nil
}

// waitReady polls /readyz until it answers ok, the API server exits, or
// the timeout passes.
func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	rt, err := rest.TransportFor(s.config)
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: rt, Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
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
			return fmt.Errorf("kube-apiserver not ready after %v (last: %s):\n%s", timeout, last, tail(s.Log(), 3000))
		case <-s.exited[s.apiserver]:
			return fmt.Errorf("kube-apiserver exited:\n%s", tail(s.Log(), 3000))
		case <-s.exited[s.etcd]:
			b, _ := os.ReadFile(filepath.Join(s.Dir, "etcd.log"))
			return fmt.Errorf("etcd exited:\n%s", tail(string(b), 3000))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// Stop ends the API server, then etcd, and waits for both.
func (s *Server) Stop() {
	for _, c := range []*exec.Cmd{s.apiserver, s.etcd} {
		if c == nil || c.Process == nil {
			continue
		}
		_ = c.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited[c]:
		case <-time.After(15 * time.Second):
			_ = c.Process.Kill()
			<-s.exited[c]
		}
	}
}

// freePorts returns n loopback ports free at the time of the call.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// makeCredentials writes the CA, the API server's serving certificate,
// the admin's client certificate and the service-account key pair.
func (s *Server) makeCredentials() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ctrace-test-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	s.CACert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(filepath.Join(s.Dir, "ca.crt"), s.CACert, 0o644); err != nil {
		return err
	}
	issue := func(name string, tmpl *x509.Certificate) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		kb, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(s.Dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(s.Dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	}
	if err := issue("apiserver", &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.214.0.1")},
	}); err != nil {
		return err
	}
	// system:masters: the admin group RBAC lets do everything.
	if err := issue("admin", &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.Dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
}

func (s *Server) writeKubeconfig(path string) error {
	cert, err := os.ReadFile(filepath.Join(s.Dir, "admin.crt"))
	if err != nil {
		return err
	}
	key, err := os.ReadFile(filepath.Join(s.Dir, "admin.key"))
	if err != nil {
		return err
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		return err
	}
	c := clientcmdapi.NewConfig()
	c.Clusters["ctrace-test"] = &clientcmdapi.Cluster{Server: s.URL, CertificateAuthorityData: s.CACert}
	c.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	c.Contexts["ctrace-test"] = &clientcmdapi.Context{Cluster: "ctrace-test", AuthInfo: "admin"}
	c.CurrentContext = "ctrace-test"
	return clientcmd.WriteToFile(*c, path)
}
