// Package proxywasm is a proxy-wasm host on wazero: Envoy's stand-in where
// Envoy cannot run. It loads a filter .wasm, drives its HTTP lifecycle and
// implements the ABI calls meshward's filter makes; every other import
// answers Unimplemented and is recorded, so that a test sees it.
package proxywasm

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Config says which filter to run and how it reaches its clusters.
type Config struct {
	WasmPath     string
	PluginConfig []byte
	VMConfig     []byte
	// Clusters maps an Envoy cluster name to the http:// or https://host:port
	// it reaches; ClusterTLS is what an https cluster presents and trusts
	// (the sidecar's workload certificate and the mesh CA, as Envoy's
	// transport socket with SDS).
	Clusters   map[string]string
	ClusterTLS *tls.Config
	// CacheDir holds wazero's compilation cache; "" picks the user cache dir.
	CacheDir string
	// StreamTimeout bounds how long a stream may wait for the filter while
	// nothing moves (no body arrives, nothing is let through).
	StreamTimeout time.Duration
	// BufferLimit is Envoy's per_connection_buffer_limit_bytes: how much
	// body a filter may hold back (more answers 413; 500 for a response)
	// and how far a body is read ahead of its reader. 0 means 16 MiB.
	// Envoy's own default is 1 MiB.
	BufferLimit int
	// AllowOnHeadersStopIteration is Envoy's PluginConfig option of that
	// name (Envoy 1.35 or later; Istio's WasmPlugin cannot set it). Off, as
	// in Envoy by default, Pause in a headers callback stops the body too:
	// body callbacks come only once the filter continues. On, they come
	// while the headers wait.
	AllowOnHeadersStopIteration bool
	Log                         zerolog.Logger
}

const rootContextID = 1

// DefaultBufferLimit is the buffer limit when Config leaves it 0.
const DefaultBufferLimit = 16 << 20

// Proxy-wasm status codes the host returns.
const (
	statusOK            = 0
	statusNotFound      = 1
	statusBadArgument   = 2
	statusUnimplemented = 12
)

// Host is one Wasm VM with one plugin. Guest calls are serialized: like an
// Envoy worker thread, the VM runs one callback at a time.
type Host struct {
	cfg      Config
	rt       wazero.Runtime
	mod      api.Module
	alloc    api.Function
	client   *http.Client
	mu       sync.Mutex // held while the guest runs
	nextID   uint32
	current  uint32 // the effective context
	streams  map[uint32]*Stream
	callout  *calloutResult // during proxy_on_http_call_response
	nextCID  uint32
	calls    map[string]int          // callouts by path without query, under mu
	usage    Usage                   // under mu
	after    []func(context.Context) // what the guest asked for during the running callback
	logPhase bool                    // proxy_on_log runs: headers are read-only

	unimplMu sync.Mutex
	unimpl   map[string]int

	tickStop chan struct{} // closes the running ticker, if any
}

// New compiles (or loads from cache) and starts the filter: context create,
// VM start and plugin configure, as Envoy does.
func New(ctx context.Context, cfg Config) (*Host, error) {
	if cfg.StreamTimeout == 0 {
		cfg.StreamTimeout = 10 * time.Second
	}
	if cfg.BufferLimit <= 0 {
		cfg.BufferLimit = DefaultBufferLimit
	}
	wasm, err := os.ReadFile(cfg.WasmPath)
	if err != nil {
		return nil, fmt.Errorf("proxy-wasm host: %w", err)
	}
	rc, err := runtimeConfig(cfg.CacheDir)
	if err != nil {
		return nil, err
	}
	h := &Host{cfg: cfg, rt: wazero.NewRuntimeWithConfig(ctx, rc), nextID: rootContextID + 1,
		streams: map[uint32]*Stream{}, unimpl: map[string]int{},
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: cfg.ClusterTLS, MaxIdleConnsPerHost: 64}}}
	if err := h.instantiate(ctx, wasm); err != nil {
		h.rt.Close(ctx)
		return nil, err
	}
	if err := h.startPlugin(ctx); err != nil {
		h.rt.Close(ctx)
		return nil, err
	}
	return h, nil
}

func runtimeConfig(dir string) (wazero.RuntimeConfig, error) {
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "meshward", "wazero")
	}
	cache, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return nil, fmt.Errorf("proxy-wasm host: compilation cache %s: %w", dir, err)
	}
	return wazero.NewRuntimeConfig().WithCompilationCache(cache), nil
}

func (h *Host) instantiate(ctx context.Context, wasm []byte) error {
	compiled, err := h.rt.CompileModule(ctx, wasm)
	if err != nil {
		return fmt.Errorf("proxy-wasm host: compiling %s: %w", h.cfg.WasmPath, err)
	}
	wasi_snapshot_preview1.MustInstantiate(ctx, h.rt)
	if err := h.defineEnv(ctx, compiled.ImportedFunctions()); err != nil {
		return err
	}
	mc := wazero.NewModuleConfig().WithStartFunctions("_initialize").
		WithSysWalltime().WithSysNanotime().WithRandSource(envoyRandom{}).
		WithStdout(os.Stderr).WithStderr(os.Stderr)
	h.mod, err = h.rt.InstantiateModule(ctx, compiled, mc)
	if err != nil {
		return fmt.Errorf("proxy-wasm host: instantiating %s: %w", h.cfg.WasmPath, err)
	}
	if h.alloc = h.mod.ExportedFunction("proxy_on_memory_allocate"); h.alloc == nil {
		return errors.New("proxy-wasm host: the module exports no proxy_on_memory_allocate")
	}
	return nil
}

func (h *Host) startPlugin(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.current = rootContextID
	if _, err := h.call(ctx, "proxy_on_context_create", rootContextID, 0); err != nil {
		return err
	}
	if ok, err := h.call(ctx, "proxy_on_vm_start", rootContextID, uint64(len(h.cfg.VMConfig))); err != nil || ok == 0 {
		return fmt.Errorf("proxy-wasm host: proxy_on_vm_start failed (%v)", err)
	}
	if ok, err := h.call(ctx, "proxy_on_configure", rootContextID, uint64(len(h.cfg.PluginConfig))); err != nil || ok == 0 {
		return fmt.Errorf("proxy-wasm host: the plugin rejected its configuration (proxy_on_configure failed; see its log) %v", errOrNil(err))
	}
	return nil
}

func errOrNil(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// call runs an export; the caller holds h.mu.
func (h *Host) call(ctx context.Context, name string, args ...uint64) (uint64, error) {
	f := h.mod.ExportedFunction(name)
	if f == nil {
		return 0, fmt.Errorf("proxy-wasm host: the module does not export %s", name)
	}
	start := time.Now()
	res, err := f.Call(ctx, args...)
	h.usage.add(h.usage.exports(), name, time.Since(start))
	if err != nil {
		return 0, fmt.Errorf("proxy-wasm host: %s: %w", name, err)
	}
	if len(res) == 0 {
		return 0, nil
	}
	return res[0], nil
}

// Unimplemented lists the ABI calls the guest made that this host does not
// implement, with their counts.
func (h *Host) Unimplemented() map[string]int {
	h.unimplMu.Lock()
	defer h.unimplMu.Unlock()
	out := make(map[string]int, len(h.unimpl))
	for k, v := range h.unimpl {
		out[k] = v
	}
	return out
}

// Exports lists the module's exported function names, sorted.
func (h *Host) Exports() []string {
	var names []string
	for name := range h.mod.ExportedFunctionDefinitions() {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Close stops the ticker and releases the VM.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	h.stopTicker()
	h.mu.Unlock()
	return h.rt.Close(ctx)
}

// Callouts counts the callouts the guest started, by :path without its
// query: what a request costs in calls to the authorizer.
func (h *Host) Callouts() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int, len(h.calls))
	for k, v := range h.calls {
		out[k] = v
	}
	return out
}

// Usage is where a VM's time went: the guest's exports (each including the
// host calls it made) and the host calls alone, by name.
type Usage struct {
	Exports, HostCalls map[string]Spent
}

// Spent is a count of calls and their total time.
type Spent struct {
	Calls int
	Time  time.Duration
}

func (u *Usage) exports() map[string]Spent {
	if u.Exports == nil {
		u.Exports = map[string]Spent{}
	}
	return u.Exports
}

func (u *Usage) hostCalls() map[string]Spent {
	if u.HostCalls == nil {
		u.HostCalls = map[string]Spent{}
	}
	return u.HostCalls
}

func (u *Usage) add(m map[string]Spent, name string, d time.Duration) {
	s := m[name]
	s.Calls++
	s.Time += d
	m[name] = s
}

// GuestTime is the time spent in the guest's exports, host calls included.
func (u Usage) GuestTime() time.Duration {
	var t time.Duration
	for _, s := range u.Exports {
		t += s.Time
	}
	return t
}

// Usage returns a copy of the VM's usage so far.
func (h *Host) Usage() Usage {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Usage{Exports: maps.Clone(h.usage.Exports), HostCalls: maps.Clone(h.usage.HostCalls)}
}

// maxRandomGet is the most Envoy's WASI random_get hands out per call
// (proxy-wasm-cpp-host's PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES):
// it fails a longer one, and so does this host.
const maxRandomGet = 64 << 10

// envoyRandom is random_get's source as Envoy has it: the system's
// generator, refusing a request over maxRandomGet bytes. wazero reads a
// request in one Read, so the bound holds per call.
type envoyRandom struct{}

func (envoyRandom) Read(b []byte) (int, error) {
	if len(b) > maxRandomGet {
		return 0, fmt.Errorf("random_get of %d bytes: Envoy hands out at most %d per call", len(b), maxRandomGet)
	}
	return rand.Read(b)
}
