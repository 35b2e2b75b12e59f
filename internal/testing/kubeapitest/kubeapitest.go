// Package kubeapitest runs a Kubernetes API server for tests: etcd and
// kube-apiserver built from their Go modules (test/kubenode/build.sh,
// cached), on loopback ports, with serving certificates, service-account
// signing keys and an admin credential it makes at start, and a
// kubeconfig that kubectl and client-go take. RBAC is on (as in a real
// cluster), so a service account may do only what it is granted.
//
// Start gives it no controller manager and no scheduler: pods created
// through it are API objects until a kubelet is given them, and a
// DaemonSet makes no pods. StartControllers adds both (kube-controller-
// manager and kube-scheduler, built the same way), which a cluster that
// runs workloads as a user applies them needs.
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

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	// The controller manager and the scheduler, once StartControllers
	// has run.
	controllerManager, scheduler *exec.Cmd
	exited                       map[*exec.Cmd]chan struct{}
	config                       *rest.Config
	// The CA's key stays in memory: a node joining the cluster gets its
	// client and serving certificates from Issue.
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	// serial numbers the certificates issued by the CA
	serial int64
}

// Binaries builds etcd and kube-apiserver with test/kubenode/build.sh, or
// finds them in its cache.
func Binaries() (etcd, apiserver string, err error) {
	paths, err := build("etcd", "kube-apiserver")
	if err != nil {
		return "", "", err
	}
	return paths[0], paths[1], nil
}

// build runs test/kubenode/build.sh for the binaries named and returns
// their paths, in the same order.
func build(names ...string) ([]string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return nil, errors.New("cannot locate the kubeapitest source file")
	}
	script := filepath.Join(filepath.Dir(file), "..", "..", "..", "test", "kubenode", "build.sh")
	cmd := exec.Command(script, names...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", script, err, stderr.String())
	}
	paths := strings.Fields(string(out))
	if len(paths) != len(names) {
		return nil, fmt.Errorf("%s printed %q, want %d paths", script, out, len(names))
	}
	return paths, nil
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
		// Logs, exec and attach go from the API server to the kubelet's
		// port: it authenticates there with a client certificate of the
		// CA and checks the kubelet's serving certificate against the
		// same CA (Issue gives a node both), at the node's InternalIP.
		"--kubelet-client-certificate="+p("apiserver-kubelet-client.crt"),
		"--kubelet-client-key="+p("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority="+p("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
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

// Namespace creates the namespace ns if it is missing, with what the
// controller manager (which this cluster has not) puts in every
// namespace: the default service account, which the ServiceAccount
// admission plugin requires of a pod that names none, and the
// kube-root-ca.crt config map that service-account token volumes
// project.
func (s *Server) Namespace(ctx context.Context, ns string) error {
	c, err := s.Client()
	if err != nil {
		return err
	}
	ignoreExists := func(err error) error {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return fmt.Errorf("service account %s/default: %w", ns, err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt"}, Data: map[string]string{"ca.crt": string(s.CACert)}}
	if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return fmt.Errorf("config map %s/kube-root-ca.crt: %w", ns, err)
	}
	return nil
}

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

// Stop ends the scheduler and the controller manager when they run, then
// the API server, then etcd, and waits for each.
func (s *Server) Stop() {
	for _, c := range []*exec.Cmd{s.scheduler, s.controllerManager, s.apiserver, s.etcd} {
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
	s.ca, _ = x509.ParseCertificate(caDER)
	s.caKey, s.serial = caKey, 1
	s.CACert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(filepath.Join(s.Dir, "ca.crt"), s.CACert, 0o644); err != nil {
		return err
	}
	if err := s.issue("apiserver", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.214.0.1")},
	}); err != nil {
		return err
	}
	// system:masters: the admin group RBAC lets do everything.
	if err := s.issue("admin", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return err
	}
	// The API server's credential at kubelets (logs, exec), as kubeadm
	// makes it: system:masters, so a kubelet's webhook authorization
	// lets it read any node's logs.
	if err := s.issue("apiserver-kubelet-client", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
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

// issue writes NAME.crt and NAME.key in Dir: a new key and a
// certificate of tmpl (its subject, usages and names) signed by the CA.
func (s *Server) issue(name string, tmpl *x509.Certificate) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	s.serial++
	tmpl.SerialNumber = big.NewInt(s.serial)
	now := time.Now()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.ca, &key.PublicKey, s.caKey)
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

// NodeCredentials are what a kubelet needs to join: a kubeconfig with
// the node's client certificate (system:node:NAME in system:nodes, which
// the Node authorizer knows), a serving certificate for its port at ip,
// and the CA that signed the API server's client certificate.
type NodeCredentials struct {
	Kubeconfig   string
	ServingCert  string
	ServingKey   string
	ClientCAFile string
}

// NodeCredentials issues the credentials of the node called name whose
// kubelet serves at ip, and writes them in Dir.
func (s *Server) NodeCredentials(name string, ip net.IP) (*NodeCredentials, error) {
	client, serving := "node-"+name, "node-"+name+"-serving"
	if err := s.issue(client, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "system:node:" + name, Organization: []string{"system:nodes"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, err
	}
	if err := s.issue(serving, &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{name}, IPAddresses: []net.IP{ip},
	}); err != nil {
		return nil, err
	}
	p := func(n string) string { return filepath.Join(s.Dir, n) }
	c := &NodeCredentials{
		Kubeconfig:  p(client + ".kubeconfig"),
		ServingCert: p(serving + ".crt"), ServingKey: p(serving + ".key"),
		ClientCAFile: p("ca.crt"),
	}
	if err := s.writeCertKubeconfig(c.Kubeconfig, "system:node:"+name, p(client+".crt"), p(client+".key")); err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Server) writeKubeconfig(path string) error {
	return s.writeCertKubeconfig(path, "admin", filepath.Join(s.Dir, "admin.crt"), filepath.Join(s.Dir, "admin.key"))
}

// writeCertKubeconfig writes a kubeconfig for the user whose client
// certificate and key are the files given, embedded.
func (s *Server) writeCertKubeconfig(path, user, certFile, keyFile string) error {
	cert, err := os.ReadFile(certFile)
	if err != nil {
		return err
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		return err
	}
	c := clientcmdapi.NewConfig()
	c.Clusters["ctrace-test"] = &clientcmdapi.Cluster{Server: s.URL, CertificateAuthorityData: s.CACert}
	c.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	c.Contexts["ctrace-test"] = &clientcmdapi.Context{Cluster: "ctrace-test", AuthInfo: user}
	c.CurrentContext = "ctrace-test"
	return clientcmd.WriteToFile(*c, path)
}
