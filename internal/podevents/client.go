package podevents

import (
	"context"
	"fmt"
	"time"

	authv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// NewClient returns a client of the API server: from the kubeconfig file
// when one is named, else from the pod's service account (in-cluster).
func NewClient(kubeconfig, userAgent string) (kubernetes.Interface, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
		}
	} else {
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster credentials (run in a pod with a service account, or name a --kubeconfig): %w", err)
		}
	}
	cfg.UserAgent = userAgent
	// Events are few (rate-limited before this); a slow API server must
	// not hold a write for long.
	cfg.Timeout = 10 * time.Second
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client of the Kubernetes API: %w", err)
	}
	return c, nil
}

// CheckAccess asks the API server whether ctrace's credentials may create
// and patch events.k8s.io events in every namespace, and returns the verbs
// it may not use; an error when the server could not be asked.
func CheckAccess(ctx context.Context, c kubernetes.Interface) (denied []string, err error) {
	for _, verb := range []string{"create", "patch"} {
		r, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authv1.SelfSubjectAccessReview{
			Spec: authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{
				Verb: verb, Group: "events.k8s.io", Resource: "events",
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			return denied, fmt.Errorf("access review: %w", err)
		}
		if !r.Status.Allowed {
			denied = append(denied, verb)
		}
	}
	return denied, nil
}
