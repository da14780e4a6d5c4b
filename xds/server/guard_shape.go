package server

import (
	"fmt"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/envoy"
)

// Bounds on one request and on what a stream may hold subscribed: every
// name a stream subscribes to is kept for its life (here and in
// go-control-plane), and a type URL becomes a metric label, so a client
// that names anything it likes would grow the server without end.
const (
	// maxNames: a sidecar subscribes to a cluster's endpoints per service
	// it may call, and to a few of the authorizer's.
	maxNames       = catalog.MaxServices + 64
	maxNameBytes   = 512       // "outbound|<port>||<service>" is under 100
	maxNodeIDBytes = 4096      // a SPIFFE ID, "~" and an instance name
	maxNodeBytes   = 256 << 10 // Envoy's node lists its extensions: tens of KiB
	maxDetailLog   = 1 << 10   // of a NACK's error message, in the log
)

// shape is what a request asks for, state of the world or delta alike.
type shape struct {
	typ         string
	node        *corev3.Node
	names       []string // subscribed (delta: added)
	unsubscribe []string
	versions    map[string]string // delta: what the client says it holds
	delta       bool              // subscriptions add up over the stream
}

func sotwShape(req *discoveryv3.DiscoveryRequest) shape {
	return shape{typ: req.GetTypeUrl(), node: req.GetNode(), names: req.GetResourceNames()}
}

func deltaShape(req *discoveryv3.DeltaDiscoveryRequest) shape {
	return shape{typ: req.GetTypeUrl(), node: req.GetNode(), names: req.GetResourceNamesSubscribe(),
		unsubscribe: req.GetResourceNamesUnsubscribe(), versions: req.GetInitialResourceVersions(), delta: true}
}

// checkShape refuses a request outside the bounds, before anything of it
// is kept or logged; the stream ends with it.
func (r *Running) checkShape(id int64, sh shape) error {
	if err := sh.check(); err != nil {
		if g := r.acks.guardOf(id); g != nil {
			r.log.Warn().Int64("stream", id).Str("identity", g.id).Err(err).Msg("xds request refused")
		}
		return r.refuseStream("bad-request", codes.InvalidArgument, err.Error())
	}
	if sh.delta && !r.acks.fits(id, sh.typ, sh.names, sh.unsubscribe, maxNames) {
		return r.refuseStream("bad-request", codes.ResourceExhausted, fmt.Sprintf("subscriptions of %s over the limit of %d resources", sh.typ, maxNames))
	}
	return nil
}

// servedTypes are the sidecars' types and the control plane's own
// announcement (empty without an address pool).
var servedTypes = append(envoy.ResourceTypes(), resource.RuntimeType)

func (sh shape) check() error {
	if !slices.Contains(servedTypes, sh.typ) {
		return fmt.Errorf("type %q is not served (want one of %v)", clipped(sh.typ, 128), servedTypes)
	}
	if n := len(sh.names) + len(sh.unsubscribe) + len(sh.versions); n > maxNames {
		return fmt.Errorf("%d resource names in one request, limit %d", n, maxNames)
	}
	for _, list := range [][]string{sh.names, sh.unsubscribe} {
		if i := slices.IndexFunc(list, func(n string) bool { return len(n) > maxNameBytes }); i >= 0 {
			return fmt.Errorf("resource name %d is %d bytes, limit %d", i, len(list[i]), maxNameBytes)
		}
	}
	for k, v := range sh.versions {
		if len(k) > maxNameBytes || len(v) > maxNameBytes {
			return fmt.Errorf("initial resource version of %q: name or version over %d bytes", clipped(k, 128), maxNameBytes)
		}
	}
	if sh.node == nil {
		return nil
	}
	if n := len(sh.node.GetId()); n > maxNodeIDBytes {
		return fmt.Errorf("node id is %d bytes, limit %d", n, maxNodeIDBytes)
	}
	if n := proto.Size(sh.node); n > maxNodeBytes {
		return fmt.Errorf("node is %d bytes, limit %d", n, maxNodeBytes)
	}
	return nil
}

// clipped keeps a client's string short enough to echo or log.
func clipped(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
