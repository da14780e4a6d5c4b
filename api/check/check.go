// Package check is the wire format of the HTTP check that the meshward Wasm
// filter sends to the authorizer. The authorizer's gRPC ext_authz API carries
// the same facts in Envoy's CheckRequest; both end up in one policy.Request.
package check

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Path is where the authorizer serves the HTTP check.
const Path = "/v1/check"

// MaxRequestBytes bounds a check request body, as encoded. It is above
// Envoy's default limit on a request's headers (60 KiB), so that the facts of
// any request Envoy accepts fit unless their JSON escaping inflates them; the
// filter then sends the headers no policy names only while they fit, and
// denies a request whose decisive facts do not (it never fails open on them).
// With --max-in-flight 512 the authorizer holds at most 32 MiB of bodies.
const MaxRequestBytes = 64 << 10

// Request carries the facts of one hop, as the filter sees them.
type Request struct {
	// SourcePrincipal is the SPIFFE ID of the peer certificate ("" if none).
	SourcePrincipal string `json:"source_principal"`
	// SourceAddress is the peer's ip:port.
	SourceAddress string `json:"source_address,omitempty"`
	// RequestPrincipal is the <iss>/<sub> of the JWT Istio's authentication
	// filter validated (its istio_authn dynamic metadata), "" without one.
	RequestPrincipal string `json:"request_principal,omitempty"`
	// RemoteAddress is the original client's IP, when a trusted proxy passed it on.
	RemoteAddress string `json:"remote_address,omitempty"`
	// Destination is the workload being called (its SPIFFE ID or host).
	Destination string `json:"destination"`
	// DestinationNamespace, DestinationLabels and DestinationService say which
	// policies select the destination (Istio's selector and targetRefs).
	DestinationNamespace string            `json:"destination_namespace,omitempty"`
	DestinationLabels    map[string]string `json:"destination_labels,omitempty"`
	DestinationService   string            `json:"destination_service,omitempty"`
	// DestinationAddress is the ip:port the request was sent to.
	DestinationAddress string `json:"destination_address,omitempty"`
	Method             string `json:"method"`
	Path               string `json:"path"`
	Host               string `json:"host,omitempty"`
	// Headers are the request's headers (lower-case names), without
	// credentials (see DroppedHeaders).
	Headers map[string]string `json:"headers,omitempty"`
	SNI     string            `json:"sni,omitempty"`
	// OmittedHeaders names the headers the filter left out to stay within
	// MaxRequestBytes; OmittedHeadersTruncated says that even some of their
	// names did not fit. The authorizer denies the request when a policy for
	// its destination reads a header it was not sent.
	OmittedHeaders          []string `json:"omitted_headers,omitempty"`
	OmittedHeadersTruncated bool     `json:"omitted_headers_truncated,omitempty"`
}

// DroppedHeaders carry credentials: the filter never sends them to the
// authorizer, so they can be neither logged nor leaked from there.
var DroppedHeaders = map[string]bool{"authorization": true, "proxy-authorization": true, "cookie": true}

// Response is the authorizer's answer.
type Response struct {
	Allow bool `json:"allow"`
	// Reason is a short stable id ("allowed", "no-matching-rule", "quarantined", ...).
	Reason string `json:"reason"`
	// Rule names the policy rule that decided, if any.
	Rule string `json:"rule,omitempty"`
	// Status is the HTTP status a denial is answered with (403 when 0; 429
	// when rate limited).
	Status int `json:"status,omitempty"`
	// Obligations the filter must fulfil on an allowed request ("encrypt":
	// the body is encrypted by Encryption as a Service).
	Obligations []string `json:"obligations,omitempty"`
	// Epoch changes with every policy or quarantine change: a cached
	// decision from an older epoch is stale. Epochs of different Instances
	// are not comparable.
	Epoch    uint64 `json:"epoch"`
	Instance string `json:"instance,omitempty"`
	// CacheTTLMillis is how long the filter may reuse this answer for the same
	// source principal, method, path, host and destination (0: not at all).
	CacheTTLMillis uint32 `json:"cache_ttl_ms,omitempty"`
}

// DecodeRequest parses and validates a check request body. Its errors name the
// field or the byte offset that is wrong.
func DecodeRequest(body []byte) (Request, error) {
	var r Request
	if len(body) > MaxRequestBytes {
		return r, fmt.Errorf("check request: body is %d bytes, limit %d", len(body), MaxRequestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Request{}, fmt.Errorf("check request: %w", describeJSONError(err, dec))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Request{}, fmt.Errorf("check request: trailing data after JSON object at offset %d", dec.InputOffset())
	}
	return r, r.Validate()
}

// Validate checks the fields a decision needs.
func (r Request) Validate() error {
	switch {
	case r.Destination == "":
		return errors.New("check request: field \"destination\" is empty")
	case r.Method == "":
		return errors.New("check request: field \"method\" is empty")
	case r.Path == "*" && r.Method != "OPTIONS":
		return fmt.Errorf("check request: field \"path\" is \"*\" (asterisk-form), which only OPTIONS may use, not %q", r.Method)
	case r.Path != "*" && (r.Path == "" || r.Path[0] != '/'):
		return fmt.Errorf("check request: field \"path\" must start with '/' (or be \"*\" for OPTIONS), got %q", r.Path)
	}
	for i, name := range r.OmittedHeaders {
		if name == "" {
			return fmt.Errorf("check request: field \"omitted_headers\"[%d] is empty", i)
		}
	}
	return nil
}

// DecodeResponse parses an authorizer answer.
func DecodeResponse(body []byte) (Response, error) {
	var r Response
	if err := json.Unmarshal(body, &r); err != nil {
		return Response{}, fmt.Errorf("check response: %w", err)
	}
	if r.Reason == "" {
		return Response{}, errors.New("check response: field \"reason\" is empty")
	}
	return r, nil
}

func describeJSONError(err error, dec *json.Decoder) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("malformed JSON at offset %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		return fmt.Errorf("field %q at offset %d: want %s, got %s", typ.Field, typ.Offset, typ.Type, typ.Value)
	case errors.Is(err, io.EOF):
		return errors.New("empty body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("malformed JSON: truncated at offset %d", dec.InputOffset())
	default:
		return fmt.Errorf("at offset %d: %w", dec.InputOffset(), err)
	}
}
