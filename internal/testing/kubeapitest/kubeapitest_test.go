package kubeapitest

import (
	"context"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
)

// TestStart brings the API server up and talks to it as the admin of the
// kubeconfig it wrote, as kubectl would.
func TestStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	cfg, err := clientcmd.LoadFromFile(s.Kubeconfig)
	if err != nil || cfg.CurrentContext == "" {
		t.Fatalf("kubeconfig %s: %v", s.Kubeconfig, err)
	}
	c, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion == "" || v.GitVersion == "v0.0.0" {
		t.Errorf("version %+v: the build's -X flags did not take", v)
	}
	for _, ns := range []string{"default", "kube-system"} {
		if _, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s: %v", ns, err)
		}
	}
	if _, err := c.RbacV1().ClusterRoles().Get(ctx, "cluster-admin", metav1.GetOptions{}); err != nil {
		t.Errorf("RBAC's bootstrap roles: %v", err)
	}
	if _, err := os.Stat(s.Dir + "/etcd"); err != nil {
		t.Error(err)
	}
}
