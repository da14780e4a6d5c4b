package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// RotationKind is the kind that says how the xDS server moves one service.
const RotationKind = "MeshwardRotation"

// MeshwardRotation gives a catalog service of its namespace the pools it
// moves through and the schedule it moves by, in place of the catalog's.
type MeshwardRotation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              MeshwardRotationSpec `json:"spec"`
}

// MeshwardRotationSpec is what a MeshwardRotation says. Durations are Go
// durations ("90s", "1h30m"); an empty one is left to the default.
type MeshwardRotationSpec struct {
	// Service is the catalog service's name.
	Service string `json:"service"`
	// Ports, PortRange and Addresses are the pools the service moves
	// through (at least one of them); they replace the catalog's.
	Ports     []int32    `json:"ports,omitempty"`
	PortRange *PortRange `json:"portRange,omitempty"`
	Addresses []string   `json:"addresses,omitempty"`
	// Every is the mean time between moves, each gap drawn in
	// Every ± Jitter. Without Every the service moves when told (or by the
	// server's --rotate-every), and the other schedule fields must be left
	// out too.
	Every  string `json:"every,omitempty"`
	Jitter string `json:"jitter,omitempty"`
	// MaxPerHour bounds moves in any hour, whatever asked for them (0: no
	// bound): events can be provoked by an attacker.
	MaxPerHour int32 `json:"maxPerHour,omitempty"`
	// Blackouts are daily UTC windows ("HH:MM-HH:MM") in which timers hold off.
	Blackouts []string `json:"blackouts,omitempty"`
	// Grace, AckTimeout and HardDeadline pace each move's make-before-break
	// steps; Recent is how many past ports and addresses are never drawn
	// again (0: half the pool).
	Grace        string `json:"grace,omitempty"`
	AckTimeout   string `json:"ackTimeout,omitempty"`
	HardDeadline string `json:"hardDeadline,omitempty"`
	Recent       int32  `json:"recent,omitempty"`
}

// PortRange is the ports From to To, both included.
type PortRange struct {
	From int32 `json:"from"`
	To   int32 `json:"to"`
}
