package sidecar

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/meshward/meshward/e2e/proxywasm"
)

// FilterMaker starts one plugin instance of a Wasm filter: code is the
// module file the listener names, config its plugin configuration, and
// clusters the static clusters of CDS the filter may call out to (name ->
// http:// or https://host:port).
type FilterMaker func(ctx context.Context, code string, config []byte, clusters map[string]string) (*proxywasm.Host, error)

// filterInstance is one plugin instance. The e2e host cannot change a
// running VM's configuration, so a listener whose configuration changes
// gets a new instance (as Envoy makes a new plugin on a listener update);
// the old one is closed once its last request ended.
type filterInstance struct {
	key     string
	host    *proxywasm.Host
	mu      sync.Mutex
	users   int
	retired bool
}

// acquire takes the instance for one request; false once it was retired.
func (f *filterInstance) acquire() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.retired {
		return false
	}
	f.users++
	return true
}

func (f *filterInstance) release() {
	f.mu.Lock()
	f.users--
	last := f.retired && f.users == 0
	f.mu.Unlock()
	if last {
		f.host.Close(context.Background())
	}
}

func (f *filterInstance) retire() {
	f.mu.Lock()
	idle := !f.retired && f.users == 0
	f.retired = true
	f.mu.Unlock()
	if idle {
		f.host.Close(context.Background())
	}
}

// filterPool holds the instances by specification and callout clusters;
// its callers serialize (they hold the applier's lock).
type filterPool struct {
	make     FilterMaker
	clusters map[string]string // the callout clusters of the last applied CDS
	live     map[string]*filterInstance
}

func (p *filterPool) key(s *filterSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q %q %q %q", s.code, s.vmID, s.rootID, s.config)
	for _, n := range slices.Sorted(maps.Keys(p.clusters)) {
		fmt.Fprintf(&b, " %q=%q", n, p.clusters[n])
	}
	return b.String()
}

// get is the instance for s, made if there is none; fresh says it was made
// now (an applier that fails retires it again).
func (p *filterPool) get(s *filterSpec) (inst *filterInstance, fresh bool, err error) {
	if p.make == nil {
		return nil, false, errors.New("this sidecar runs no Wasm filter from xDS (no filter maker)")
	}
	if len(p.clusters) == 0 {
		return nil, false, errors.New("no clusters yet for the filter's callouts (CDS first)")
	}
	k := p.key(s)
	if inst := p.live[k]; inst != nil {
		return inst, false, nil
	}
	h, err := p.make(context.Background(), s.code, []byte(s.config), maps.Clone(p.clusters))
	if err != nil {
		return nil, false, fmt.Errorf("the Wasm filter: %w", err)
	}
	inst = &filterInstance{key: k, host: h}
	if p.live == nil {
		p.live = map[string]*filterInstance{}
	}
	p.live[k] = inst
	return inst, true, nil
}

// keep retires every instance not in use.
func (p *filterPool) keep(used ...*filterInstance) {
	in := map[*filterInstance]bool{}
	for _, u := range used {
		in[u] = true
	}
	for k, inst := range p.live {
		if !in[inst] {
			delete(p.live, k)
			inst.retire()
		}
	}
}

func (p *filterPool) close() { p.keep() }

// calloutClusters are the static clusters by name, as the host reaches
// them: a filter calls out to the authorizer's check port this way.
func calloutClusters(cs map[string]clusterSpec) map[string]string {
	out := map[string]string{}
	for name, c := range cs {
		if c.eds != "" || len(c.static) == 0 {
			continue
		}
		scheme := "http://"
		if c.tls {
			scheme = "https://"
		}
		out[name] = scheme + c.static[0].String()
	}
	return out
}

// sameSockets compares endpoint lists as sets.
func sameSockets(a, b []netip.AddrPort) bool {
	cmp := func(x, y netip.AddrPort) int { return x.Compare(y) }
	return slices.Equal(slices.SortedFunc(slices.Values(a), cmp), slices.SortedFunc(slices.Values(b), cmp))
}
