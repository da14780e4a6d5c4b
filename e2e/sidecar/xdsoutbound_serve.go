package sidecar

import (
	"errors"
	stdlog "log"
	"net"
	"net/http"
	"time"

	"github.com/meshward/meshward/internal/identity"
)

// outboundChange is an LDS response's outbound listener, prepared (its
// socket bound and its filter started) but not yet serving: the inbound
// side may still fail, and a NACKed response must change nothing.
type outboundChange struct {
	o      *OutboundXDS
	spec   *outboundSpec
	sock   *outboundSocket // a new socket, or nil
	inst   *filterInstance
	fresh  bool
	action string
}

// prepareListener binds the listener's socket if it is new and starts its
// filter if its configuration is new. The caller holds o.mu (lockApply).
func (o *OutboundXDS) prepareListener(spec *outboundSpec) (*outboundChange, error) {
	c := &outboundChange{o: o, spec: spec}
	if o.closed {
		return nil, errors.New("the sidecar is closing")
	}
	if spec == nil {
		return c, nil
	}
	if spec.filter == nil {
		return nil, errors.New("outbound listener: no Wasm filter (a sidecar without one is not implemented here)")
	}
	var err error
	if c.inst, c.fresh, err = o.pool.get(spec.filter); err != nil {
		return nil, err
	}
	if o.ln == nil || o.ln.addr != spec.addr {
		ln, err := net.Listen("tcp", spec.addr.String())
		if err != nil {
			c.abort()
			return nil, err
		}
		c.sock = &outboundSocket{addr: spec.addr, srv: &http.Server{Handler: http.HandlerFunc(o.serve),
			ReadHeaderTimeout: 5 * time.Second, ErrorLog: stdlog.New(o.cfg.Log, "", 0)}}
		go func() {
			if err := c.sock.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				o.cfg.Log.Error().Err(err).Msg("sidecar: outbound serve")
			}
		}()
	}
	return c, nil
}

// abort undoes what prepare did.
func (c *outboundChange) abort() {
	if c.sock != nil {
		c.sock.srv.Close()
	}
	if c.fresh {
		delete(c.o.pool.live, c.inst.key)
		c.inst.retire()
	}
}

// commit makes the prepared listener the one that serves. The caller holds
// o.mu and passes the filter instances the inbound side uses, so that the
// pool keeps them.
func (c *outboundChange) commit(inbound []*filterInstance) {
	o := c.o
	if c.spec == nil {
		o.front.Store(nil)
		if o.ln != nil {
			o.closeLater(o.ln)
			o.ln = nil
		}
	} else {
		o.front.Store(&outboundFront{inst: c.inst, x: o.exchangeFor(c.inst), spec: *c.spec})
		if c.sock != nil {
			if o.ln != nil {
				o.closeLater(o.ln)
			}
			o.ln = c.sock
		}
	}
	used := append([]*filterInstance{}, inbound...)
	if c.inst != nil {
		used = append(used, c.inst)
	}
	o.pool.keep(used...)
	o.publish()
}

// exchangeFor runs requests through inst and routes them with o.
func (o *OutboundXDS) exchangeFor(inst *filterInstance) *exchange {
	return &exchange{host: inst.host, upstream: "http://meshward-outbound", log: o.cfg.Log, norm: o.cfg.PathNormalization,
		client: &http.Client{Timeout: o.cfg.Timeout, Transport: router{o},
			// The app's redirects are the app's: a sidecar never follows them.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		props: func(r *http.Request) map[string]string {
			return map[string]string{"source.address": r.RemoteAddr, "listener_direction": outbound}
		},
		upstreamProps: func(resp *http.Response) map[string]string {
			p := map[string]string{"upstream.uri_san_local_certificate": o.self}
			if resp.TLS != nil {
				p["upstream.uri_san_peer_certificate"] = identity.PeerID(resp.TLS)
			}
			return p
		},
	}
}

// serve runs one request of the app through the current filter instance.
func (o *OutboundXDS) serve(w http.ResponseWriter, r *http.Request) {
	for {
		f := o.front.Load()
		if f == nil {
			http.Error(w, "sidecar: no outbound listener", http.StatusServiceUnavailable)
			return
		}
		if f.inst.acquire() {
			defer f.inst.release()
			f.x.serve(w, r)
			return
		}
		if o.front.Load() == f {
			http.Error(w, "sidecar: no outbound listener", http.StatusServiceUnavailable)
			return
		}
	}
}
