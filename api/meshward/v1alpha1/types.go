// Package v1alpha1 is meshward's own policy kind (meshward.io/v1alpha1), for
// what Istio's AuthorizationPolicy cannot say.
package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Group and version of meshward's kinds.
const (
	Group      = "meshward.io"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
	Kind       = "MeshwardPolicy"
)

// MeshwardPolicy configures meshward for a namespace.
type MeshwardPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              MeshwardPolicySpec `json:"spec"`
}

// MeshwardPolicySpec is what a MeshwardPolicy says.
type MeshwardPolicySpec struct {
	// DefaultAction is the decision for workloads of the namespace that no
	// ALLOW AuthorizationPolicy selects: DENY (meshward's default, zero trust)
	// or ALLOW (Istio's behaviour, for namespaces being migrated).
	DefaultAction string `json:"defaultAction,omitempty"`
}
