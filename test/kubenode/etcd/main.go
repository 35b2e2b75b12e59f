// Command etcd is the etcd server of the tests' Kubernetes API server
// (internal/testing/kubeapitest), built from the etcd release that
// k8s.io/kubernetes itself requires, so that the API server is paired with
// the etcd it was tested with.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
