package proxywasm

import (
	"context"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// setTickPeriod starts (or, with 0, stops) calling proxy_on_tick on the root
// context every period, as Envoy does. The caller holds h.mu.
func (h *Host) setTickPeriod(ctx context.Context, _ api.Module, s []uint64) uint32 {
	h.stopTicker()
	period := time.Duration(arg(s, 0)) * time.Millisecond
	if period == 0 {
		return statusOK
	}
	stop := make(chan struct{})
	h.tickStop = stop
	go h.tick(context.WithoutCancel(ctx), period, stop)
	return statusOK
}

// stopTicker ends the ticker; the caller holds h.mu.
func (h *Host) stopTicker() {
	if h.tickStop != nil {
		close(h.tickStop)
		h.tickStop = nil
	}
}

func (h *Host) tick(ctx context.Context, period time.Duration, stop chan struct{}) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		h.mu.Lock()
		select {
		case <-stop: // stopped while we waited for the VM
		default:
			h.current = rootContextID
			if _, err := h.call(ctx, "proxy_on_tick", rootContextID); err != nil {
				h.cfg.Log.Error().Err(err).Msg("proxy-wasm host: proxy_on_tick")
			}
			h.runDeferred(ctx)
		}
		h.mu.Unlock()
	}
}
