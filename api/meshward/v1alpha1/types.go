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
	// RateLimits cap how often each source may call the namespace's
	// workloads: a token bucket per source principal, destination workload and limit.
	RateLimits []RateLimit `json:"rateLimits,omitempty"`
	// LateralMovement says what happens when a source in this namespace is
	// suspected of lateral movement.
	LateralMovement *LateralMovement `json:"lateralMovement,omitempty"`
	// Conditions are CEL expressions over the request's facts, for what
	// AuthorizationPolicy cannot say; evaluated after rate limits and before
	// the namespace's AuthorizationPolicies.
	Conditions []Condition `json:"conditions,omitempty"`
	// QuarantineExemptions are requests a quarantine does not stop, to or
	// from the namespace's workloads (health checks, say).
	QuarantineExemptions []Exemption `json:"quarantineExemptions,omitempty"`
	// HostsMatchAnyPort makes the namespace's AuthorizationPolicies match
	// `hosts` with or without the request's port ("orders" matches
	// "orders:8080"). Istio matches :authority exactly; this widens ALLOW
	// rules and narrows DENY notHosts, so it is off unless asked for.
	HostsMatchAnyPort bool `json:"hostsMatchAnyPort,omitempty"`
	// Encrypt lists the sources whose requests to the namespace's workloads
	// must have their bodies encrypted (Encryption as a Service).
	Encrypt []EncryptObligation `json:"encrypt,omitempty"`
}

// Condition is a CEL expression and what it does.
type Condition struct {
	Name string `json:"name"`
	// Action is DENY (deny when the expression is true; the default) or
	// REQUIRE (deny when it is false).
	Action     string `json:"action,omitempty"`
	Expression string `json:"expression"`
}

// Exemption matches requests by Istio's path and method forms.
type Exemption struct {
	Paths   []string `json:"paths,omitempty"`
	Methods []string `json:"methods,omitempty"`
}

// EncryptObligation names source principals (Istio's forms).
type EncryptObligation struct {
	Sources []string `json:"sources"`
}

// LateralMovement is the response to a suspected lateral movement.
type LateralMovement struct {
	// Mode is "alert" (log and count; the default) or "enforce" (also
	// quarantine the source).
	Mode string `json:"mode,omitempty"`
	// QuarantineSeconds is how long an enforced quarantine lasts (default 600).
	QuarantineSeconds int64 `json:"quarantineSeconds,omitempty"`
}

// RateLimit is one token bucket per matching source.
type RateLimit struct {
	// Sources are principals (Istio's form, cluster.local/ns/x/sa/y) with
	// exact, prefix "*", suffix and presence "*" matching; empty means every
	// source, each with its own bucket.
	Sources           []string `json:"sources,omitempty"`
	RequestsPerSecond float64  `json:"requestsPerSecond"`
	Burst             int      `json:"burst,omitempty"`
}
