package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// FailMode says what the filter does when the authorizer cannot answer.
type FailMode string

const (
	FailClosed FailMode = "closed"
	FailOpen   FailMode = "open"
)

// Config is the filter's plugin configuration (JSON).
type Config struct {
	// AuthorizerCluster is the Envoy cluster that reaches the authorizer.
	AuthorizerCluster string `json:"authorizer_cluster"`
	// AuthorizerAuthority is the :authority of the check callout.
	AuthorizerAuthority string `json:"authorizer_authority"`
	// TimeoutMillis bounds one check callout.
	TimeoutMillis uint32 `json:"timeout_ms"`
	// FailMode is "closed" (default: deny when the authorizer is unreachable) or "open".
	FailMode FailMode `json:"fail_mode"`
	// Destination names this workload in checks; empty means the SPIFFE ID
	// of the sidecar's own certificate (connection.uri_san_local_certificate),
	// or without one the request's :authority.
	Destination string `json:"destination"`
	// DestinationNamespace, DestinationLabels and DestinationService tell the
	// authorizer which policies select this workload (Istio's selector and
	// targetRefs). The namespace defaults to the one in Destination's SPIFFE ID.
	DestinationNamespace string            `json:"destination_namespace"`
	DestinationLabels    map[string]string `json:"destination_labels"`
	DestinationService   string            `json:"destination_service"`
	// DecisionCacheEntries bounds the decision cache (default 10000; 0 turns
	// it off). EpochPollMillis is how often the filter asks the authorizer for
	// its epoch (default 250): a cached answer is dropped within about that
	// long of a policy or quarantine change, and not used at all once the
	// epoch has not been confirmed for 4 polls.
	DecisionCacheEntries *int   `json:"decision_cache_entries"`
	EpochPollMillis      uint32 `json:"epoch_poll_ms"`
	// EAAS configures Encryption as a Service (off by default).
	EAAS EAASConfig `json:"eaas"`
}

const (
	defaultTimeoutMillis = 500
	maxTimeoutMillis     = 60_000
	defaultAuthority     = "meshward-authz"
	defaultCacheEntries  = 10_000
	maxCacheEntries      = 1_000_000
	defaultEpochPoll     = 250
	minEpochPoll         = 10
	maxEpochPoll         = 1000
)

// ParseConfig decodes and validates the plugin configuration, filling in
// defaults. Errors name the field that is wrong.
func ParseConfig(data []byte) (Config, error) {
	c := Config{}
	if len(bytes.TrimSpace(data)) == 0 {
		return c, errors.New("plugin configuration: empty; want a JSON object with \"authorizer_cluster\"")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("plugin configuration: %v (near offset %d)", err, dec.InputOffset())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("plugin configuration: trailing data after the JSON object at offset %d", dec.InputOffset())
	}
	return c.withDefaults()
}

func (c Config) withDefaults() (Config, error) {
	if strings.TrimSpace(c.AuthorizerCluster) == "" {
		return Config{}, errors.New("plugin configuration: \"authorizer_cluster\" is required")
	}
	if c.AuthorizerAuthority == "" {
		c.AuthorizerAuthority = defaultAuthority
	}
	if c.TimeoutMillis == 0 {
		c.TimeoutMillis = defaultTimeoutMillis
	}
	if c.TimeoutMillis > maxTimeoutMillis {
		return Config{}, fmt.Errorf("plugin configuration: \"timeout_ms\" is %d, at most %d", c.TimeoutMillis, maxTimeoutMillis)
	}
	if c.DecisionCacheEntries == nil {
		n := defaultCacheEntries
		c.DecisionCacheEntries = &n
	}
	if n := *c.DecisionCacheEntries; n < 0 || n > maxCacheEntries {
		return Config{}, fmt.Errorf("plugin configuration: \"decision_cache_entries\" is %d, want 0 to %d", n, maxCacheEntries)
	}
	if c.EpochPollMillis == 0 {
		c.EpochPollMillis = defaultEpochPoll
	}
	if c.EpochPollMillis < minEpochPoll || c.EpochPollMillis > maxEpochPoll {
		return Config{}, fmt.Errorf("plugin configuration: \"epoch_poll_ms\" is %d, want %d to %d (a change must reach cached answers within a second)",
			c.EpochPollMillis, minEpochPoll, maxEpochPoll)
	}
	switch c.FailMode {
	case "":
		c.FailMode = FailClosed
	case FailClosed, FailOpen:
	default:
		return Config{}, fmt.Errorf("plugin configuration: \"fail_mode\" is %q, want \"closed\" or \"open\"", c.FailMode)
	}
	eaasCfg, err := c.EAAS.withDefaults(c.AuthorizerCluster)
	if err != nil {
		return Config{}, err
	}
	c.EAAS = eaasCfg
	return c, nil
}
