package proxywasm

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// hostFunc is one ABI call: it reads its i32 arguments from stack and returns
// a proxy-wasm status. The caller of the guest holds h.mu.
type hostFunc func(ctx context.Context, m api.Module, stack []uint64) uint32

func (h *Host) abi() map[string]hostFunc {
	return map[string]hostFunc{
		"proxy_log":                          h.log,
		"proxy_get_header_map_value":         h.getHeaderMapValue,
		"proxy_get_header_map_pairs":         h.getHeaderMapPairs,
		"proxy_set_header_map_pairs":         h.setHeaderMapPairs,
		"proxy_add_header_map_value":         h.addHeaderMapValue,
		"proxy_replace_header_map_value":     h.replaceHeaderMapValue,
		"proxy_remove_header_map_value":      h.removeHeaderMapValue,
		"proxy_get_buffer_bytes":             h.getBufferBytes,
		"proxy_set_buffer_bytes":             h.setBufferBytes,
		"proxy_get_property":                 h.getProperty,
		"proxy_send_local_response":          h.sendLocalResponse,
		"proxy_http_call":                    h.httpCall,
		"proxy_continue_stream":              h.continueStream,
		"proxy_set_effective_context":        h.setEffectiveContext,
		"proxy_set_tick_period_milliseconds": h.setTickPeriod,
	}
}

// defineEnv builds the "env" module from what the guest imports: the calls
// this host knows, and an Unimplemented stub for each other one.
func (h *Host) defineEnv(ctx context.Context, imports []api.FunctionDefinition) error {
	impl := h.abi()
	b := h.rt.NewHostModuleBuilder("env")
	for _, def := range imports {
		mod, name, _ := def.Import()
		if mod != "env" {
			continue
		}
		f, ok := impl[name]
		if !ok {
			f = h.unimplemented(name)
		}
		if !strings.HasPrefix(name, "proxy_") {
			return fmt.Errorf("proxy-wasm host: the module imports env.%s, which is no proxy-wasm call", name)
		}
		results := def.ResultTypes()
		if len(results) > 1 {
			return fmt.Errorf("proxy-wasm host: env.%s returns %d values", name, len(results))
		}
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
			start := time.Now()
			st := f(ctx, m, stack)
			h.usage.add(h.usage.hostCalls(), name, time.Since(start))
			if len(results) == 1 {
				stack[0] = uint64(st)
			}
		}), def.ParamTypes(), results).Export(name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

func (h *Host) unimplemented(name string) hostFunc {
	return func(context.Context, api.Module, []uint64) uint32 {
		h.unimplMu.Lock()
		h.unimpl[name]++
		h.unimplMu.Unlock()
		h.cfg.Log.Warn().Str("call", name).Msg("proxy-wasm host: unimplemented ABI call")
		return statusUnimplemented
	}
}

func arg(stack []uint64, i int) uint32 { return uint32(stack[i]) }

// read copies guest memory: the guest may reuse it once the call returns.
func read(m api.Module, ptr, size uint32) ([]byte, bool) {
	if size == 0 {
		return nil, true
	}
	b, ok := m.Memory().Read(ptr, size)
	if !ok {
		return nil, false
	}
	return append([]byte(nil), b...), true
}

// give hands data to the guest: it allocates in the guest (a call back into
// it), copies, and writes the address and size to the guest's out-parameters.
// Callers read all their inputs before calling give, since the guest may move
// things while it allocates.
func (h *Host) give(ctx context.Context, m api.Module, data []byte, retPtr, retSize uint32) uint32 {
	var addr uint32
	if len(data) > 0 {
		res, err := h.alloc.Call(ctx, uint64(len(data)))
		if err != nil || len(res) != 1 {
			h.cfg.Log.Error().Err(err).Msg("proxy-wasm host: guest allocation failed")
			return statusBadArgument
		}
		addr = uint32(res[0])
		if !m.Memory().Write(addr, data) {
			return statusBadArgument
		}
	}
	if !m.Memory().WriteUint32Le(retPtr, addr) || !m.Memory().WriteUint32Le(retSize, uint32(len(data))) {
		return statusBadArgument
	}
	return statusOK
}

func (h *Host) log(_ context.Context, m api.Module, s []uint64) uint32 {
	msg, ok := read(m, arg(s, 1), arg(s, 2))
	if !ok {
		return statusBadArgument
	}
	levels := []string{"trace", "debug", "info", "warn", "error", "critical"}
	lvl := "unknown"
	if l := arg(s, 0); int(l) < len(levels) {
		lvl = levels[l]
	}
	h.cfg.Log.Info().Str("wasm_level", lvl).Uint32("context", h.current).Msg(string(msg))
	return statusOK
}

func (h *Host) setEffectiveContext(_ context.Context, _ api.Module, s []uint64) uint32 {
	id := arg(s, 0)
	if _, ok := h.streams[id]; !ok && id != rootContextID {
		return statusBadArgument
	}
	h.current = id
	return statusOK
}

func (h *Host) getProperty(ctx context.Context, m api.Module, s []uint64) uint32 {
	path, ok := read(m, arg(s, 0), arg(s, 1))
	if !ok {
		return statusBadArgument
	}
	st := h.streams[h.current]
	if st == nil {
		return statusNotFound
	}
	v, found := st.properties[string(path)]
	if !found {
		return statusNotFound
	}
	return h.give(ctx, m, v, arg(s, 2), arg(s, 3))
}
