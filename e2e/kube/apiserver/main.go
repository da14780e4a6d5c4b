// Command apiserver is a real kube-apiserver (k8s.io/kubernetes v1.31.0),
// built from the Go module for meshward's Kubernetes tests: no cluster, no
// download of a release binary. `make kube-apiserver` builds it.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
