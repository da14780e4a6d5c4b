// Package kubeconfig finds the Kubernetes API a component talks to: a
// kubeconfig file, or the cluster it runs in.
package kubeconfig

import (
	"errors"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Load returns the API's configuration from the --kubeconfig file or, with
// inCluster, from the pod's service account; nil when neither is asked for.
func Load(path string, inCluster bool) (*rest.Config, error) {
	switch {
	case path != "" && inCluster:
		return nil, errors.New("give --kubeconfig or --in-cluster, not both")
	case inCluster:
		return rest.InClusterConfig()
	case path != "":
		return clientcmd.BuildConfigFromFlags("", path)
	}
	return nil, nil
}
