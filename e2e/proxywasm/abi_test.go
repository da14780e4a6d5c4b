package proxywasm

import (
	"context"
	"testing"

	"github.com/rs/zerolog"
	"github.com/tetratelabs/wazero"
)

// A module that imports env.proxy_done (which this host does not implement)
// and exports "call", which calls it and returns its status.
var callsProxyDone = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
	0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // type 0: () -> i32
	0x02, 0x12, 0x01, 0x03, 'e', 'n', 'v', 0x0a, 'p', 'r', 'o', 'x', 'y', '_', 'd', 'o', 'n', 'e', 0x00, 0x00,
	0x03, 0x02, 0x01, 0x00, // func 1 has type 0
	0x07, 0x08, 0x01, 0x04, 'c', 'a', 'l', 'l', 0x00, 0x01, // export "call" = func 1
	0x0a, 0x06, 0x01, 0x04, 0x00, 0x10, 0x00, 0x0b, // call 0; end
}

func TestUnimplementedCallsAreVisible(t *testing.T) {
	ctx := context.Background()
	h := &Host{rt: wazero.NewRuntime(ctx), unimpl: map[string]int{}, streams: map[uint32]*Stream{}, cfg: Config{Log: zerolog.Nop()}}
	defer h.rt.Close(ctx)
	compiled, err := h.rt.CompileModule(ctx, callsProxyDone)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.defineEnv(ctx, compiled.ImportedFunctions()); err != nil {
		t.Fatal(err)
	}
	m, err := h.rt.InstantiateModule(ctx, compiled, wazero.NewModuleConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		res, err := m.ExportedFunction("call").Call(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res[0] != statusUnimplemented {
			t.Fatalf("proxy_done returned %d, want Unimplemented (%d)", res[0], statusUnimplemented)
		}
	}
	if got := h.Unimplemented(); got["proxy_done"] != 2 || len(got) != 1 {
		t.Fatalf("Unimplemented() = %v, want proxy_done twice", got)
	}
}
