package server

import (
	"context"
	"strings"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshward/meshward/internal/identity"
)

// Limits on what one client may ask of the control plane: a compromised
// workload holds a valid mesh certificate and can open streams and send
// requests as fast as it likes.
const (
	DefaultMaxStreamsPerIdentity = 8
	DefaultRequestsPerSecond     = 50
	requestBurst                 = 100
)

// guard holds what a stream proved (its certificate's identity) and what
// it may still do.
type guard struct {
	id      string // SPIFFE ID of the client certificate; "" without mutual TLS
	node    string // the node id it named first
	gen     uint64 // the ADS listener it came in on (selflisten.go)
	limiter *rate.Limiter
	// shared is the identity's, across its streams: with the stream's
	// alone, a client out of requests would open a new stream with a full
	// bucket (nil without an identity).
	shared *rate.Limiter
}

// openStream admits a new stream: with mutual TLS its certificate's
// identity is noted and streams per identity are bounded.
func (r *Running) openStream(ctx context.Context, id int64) error {
	state, _ := identity.GRPCPeer(ctx)
	who := identity.Verified(state)
	if r.mtls() && who == "" {
		return r.refuseStream("no-identity", codes.Unauthenticated, "a mesh client certificate is required")
	}
	g := &guard{id: who, gen: listenerGen(ctx), limiter: rate.NewLimiter(rate.Limit(r.requestsPerSecond()), requestBurst)}
	if who != "" {
		n := float64(r.maxStreams())
		g.shared = r.acks.budget(who, rate.Limit(r.requestsPerSecond()*n), requestBurst*r.maxStreams())
	}
	if !r.acks.open(id, g, r.maxStreams()) {
		return r.refuseStream("too-many-streams", codes.ResourceExhausted, "too many ADS streams for this identity")
	}
	return nil
}

// checkRequest refuses a request whose node is not the stream's identity
// or that comes faster than the limit; the stream ends with it.
func (r *Running) checkRequest(g *guard, node string) error {
	if !g.limiter.Allow() || g.shared != nil && !g.shared.Allow() {
		return r.refuseStream("rate", codes.ResourceExhausted, "ADS requests too fast")
	}
	if node == "" {
		return nil
	}
	if g.node == "" {
		g.node = node
	} else if g.node != node {
		return r.refuseStream("node-changed", codes.PermissionDenied, "a stream's node id cannot change")
	}
	if g.id != "" && !NodeMatches(node, g.id) {
		return r.refuseStream("node-identity", codes.PermissionDenied, "the node id is not the client certificate's identity")
	}
	return nil
}

// NodeMatches says whether a node id belongs to a SPIFFE identity: the id
// itself, or the id, "~" and an instance name (a pod, say) without
// another "~" or "/".
func NodeMatches(node, id string) bool {
	if node == id {
		return true
	}
	inst, ok := strings.CutPrefix(node, id+"~")
	return ok && inst != "" && !strings.ContainsAny(inst, "~/")
}

func (r *Running) refuseStream(reason string, code codes.Code, msg string) error {
	r.metrics.streamsRefused.WithLabelValues(reason).Inc()
	return status.Error(code, msg)
}

func (r *Running) mtls() bool { return r.cfg.TLS != nil && r.cfg.TLS.ClientCAs != nil }

func (r *Running) maxStreams() int {
	if r.cfg.MaxStreamsPerIdentity > 0 {
		return r.cfg.MaxStreamsPerIdentity
	}
	return DefaultMaxStreamsPerIdentity
}

func (r *Running) requestsPerSecond() float64 {
	if r.cfg.RequestsPerSecond > 0 {
		return r.cfg.RequestsPerSecond
	}
	return DefaultRequestsPerSecond
}
