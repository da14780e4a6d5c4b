package envoy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
)

// Resources are one sidecar's resources by type (listeners, routes,
// clusters, endpoints), as go-control-plane's caches take them.
type Resources map[resource.Type][]types.Resource

// ResourceTypes are the types Build makes, in the order Envoy needs them
// (clusters before their endpoints, listeners before their routes).
func ResourceTypes() []resource.Type {
	return []resource.Type{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType}
}

// Build makes a sidecar's resources. It refuses a description that would
// make an invalid or unsafe configuration, naming the field; every
// resource it returns passes ValidateAll, and so does every typed config
// inside one.
func Build(s Sidecar) (Resources, error) {
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("sidecar %q: %w", s.Node, err)
	}
	r, err := s.build()
	if err != nil {
		return nil, fmt.Errorf("sidecar %q: %w", s.Node, err)
	}
	for typ, items := range r {
		for _, it := range items {
			if err := it.(validatable).ValidateAll(); err != nil {
				return nil, fmt.Errorf("sidecar %q: %s %q: %w", s.Node, typ, cachev3.GetResourceName(it), err)
			}
		}
	}
	return r, nil
}

func (s *Sidecar) build() (Resources, error) {
	limits, err := s.bufferLimits()
	if err != nil {
		return nil, err
	}
	r := Resources{}
	add := func(typ resource.Type, items ...types.Resource) { r[typ] = append(r[typ], items...) }
	for i, socks := range [][]Socket{s.Inbound, s.Draining} {
		for _, sock := range socks {
			l, err := s.inboundListener(sock, i == 1)
			if err != nil {
				return nil, err
			}
			add(resource.ListenerType, l)
		}
	}
	out, err := s.outboundListener()
	if err != nil {
		return nil, err
	}
	add(resource.ListenerType, out)
	add(resource.RouteType, s.outboundRoute())
	add(resource.ClusterType, staticCluster(InboundClusterName(s.Service, s.App), []Socket{s.App}, nil))
	authz, err := s.authzClusters()
	if err != nil {
		return nil, err
	}
	for _, c := range authz {
		add(resource.ClusterType, c)
	}
	if rc := s.Filter.Code.Remote; rc != nil {
		add(resource.ClusterType, staticCluster(WasmCodeCluster, []Socket{rc.Server}, nil))
	}
	// Endpoints are always present, empty for a peer without any: an
	// EDS cluster waits for its assignment, and Consistent wants one.
	r[resource.EndpointType] = []types.Resource{}
	for i := range s.Calls {
		p := &s.Calls[i]
		c, err := s.outboundCluster(p)
		if err != nil {
			return nil, err
		}
		add(resource.ClusterType, c)
		add(resource.EndpointType, assignment(OutboundClusterName(*p), p.Endpoints))
	}
	s.applyBufferLimits(r, limits)
	return r, nil
}

// Versions are a digest of each type's resources: a rebuild that changes
// only endpoints (a rotation) changes only the endpoints' version, so Envoy
// is sent nothing else.
func (r Resources) Versions() (map[resource.Type]string, error) {
	out := make(map[resource.Type]string, len(ResourceTypes()))
	opts := proto.MarshalOptions{Deterministic: true}
	for _, typ := range ResourceTypes() {
		items := slices.Clone(r[typ])
		slices.SortFunc(items, func(a, b types.Resource) int {
			return strings.Compare(cachev3.GetResourceName(a), cachev3.GetResourceName(b))
		})
		h := sha256.New()
		for _, it := range items {
			b, err := opts.Marshal(it)
			if err != nil {
				return nil, fmt.Errorf("%s %q: %w", typ, cachev3.GetResourceName(it), err)
			}
			fmt.Fprintf(h, "%d:", len(b))
			h.Write(b)
		}
		out[typ] = hex.EncodeToString(h.Sum(nil)[:8])
	}
	return out, nil
}

// Snapshot makes a cache snapshot with the given version per type and
// checks it is consistent (every RDS and EDS name a listener or cluster
// refers to is present, and nothing else).
func (r Resources) Snapshot(versions map[resource.Type]string) (*cachev3.Snapshot, error) {
	snap := &cachev3.Snapshot{}
	for _, typ := range ResourceTypes() {
		v, ok := versions[typ]
		if !ok || v == "" {
			return nil, fmt.Errorf("snapshot: no version for %s", typ)
		}
		snap.Resources[cachev3.GetResponseType(typ)] = cachev3.NewResources(v, r[typ])
	}
	if err := snap.Consistent(); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return snap, nil
}
