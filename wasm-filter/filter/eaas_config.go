package filter

import (
	"fmt"
	"strings"
)

// Direction says which of a workload's listeners the filter runs on.
type Direction string

const (
	// Inbound: the destination sidecar; checks requests, decrypts marked
	// request bodies and encrypts their responses.
	Inbound Direction = "inbound"
	// Outbound: the source sidecar; no check (the destination checks),
	// encrypts request bodies to peers and decrypts their marked responses.
	Outbound Direction = "outbound"
)

// EAASConfig is the "eaas" object of the plugin configuration.
type EAASConfig struct {
	Enabled bool `json:"enabled"`
	// Cluster reaches the coordinator (the authorizer's check port);
	// default: authorizer_cluster.
	Cluster string `json:"cluster"`
	// MaxBodyBytes bounds a body the filter buffers to encrypt or decrypt
	// (default 8 MiB); a larger one is refused with 413.
	MaxBodyBytes int64     `json:"max_body_bytes"`
	Direction    Direction `json:"direction"`
	// TimeoutMillis bounds one coordinator callout (default 5000): a body of
	// megabytes travels 2^t times.
	TimeoutMillis uint32 `json:"timeout_ms"`
}

const (
	defaultEAASBodyBytes = 8 << 20
	// maxEAASBodyBytes keeps a body, its 2^t-1 fakes and the answer within
	// a Wasm VM's memory.
	maxEAASBodyBytes     = 64 << 20
	defaultEAASTimeout   = 5000
	maxEAASTimeoutMillis = 60_000
)

func (c EAASConfig) withDefaults(authorizerCluster string) (EAASConfig, error) {
	switch c.Direction {
	case "":
		c.Direction = Inbound
	case Inbound, Outbound:
	default:
		return c, fmt.Errorf("plugin configuration: \"eaas.direction\" is %q, want \"inbound\" or \"outbound\"", c.Direction)
	}
	if c.Direction == Outbound && !c.Enabled {
		// An outbound filter makes no checks: without EaaS it would do nothing.
		return c, fmt.Errorf("plugin configuration: \"eaas.direction\" is \"outbound\" but \"eaas.enabled\" is false")
	}
	if c.Cluster == "" {
		c.Cluster = authorizerCluster
	}
	if strings.TrimSpace(c.Cluster) != c.Cluster {
		return c, fmt.Errorf("plugin configuration: \"eaas.cluster\" %q has surrounding spaces", c.Cluster)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = defaultEAASBodyBytes
	}
	if c.MaxBodyBytes < 1 || c.MaxBodyBytes > maxEAASBodyBytes {
		return c, fmt.Errorf("plugin configuration: \"eaas.max_body_bytes\" is %d, want 1 to %d", c.MaxBodyBytes, maxEAASBodyBytes)
	}
	if c.TimeoutMillis == 0 {
		c.TimeoutMillis = defaultEAASTimeout
	}
	if c.TimeoutMillis > maxEAASTimeoutMillis {
		return c, fmt.Errorf("plugin configuration: \"eaas.timeout_ms\" is %d, at most %d", c.TimeoutMillis, maxEAASTimeoutMillis)
	}
	return c, nil
}
