package main

import (
	"context"
	"fmt"
	"os"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/e2e/system"
)

// eaasStep sends one body from the frontend to orders with Encryption as a
// Service and prints what each party saw: the app its plaintext, the wire
// between the sidecars an envelope.
func eaasStep(ctx context.Context, wasm string, log zerolog.Logger, step *int) error {
	*step++
	dir, err := os.MkdirTemp("", "meshward-demo-eaas-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	m, err := system.StartEaaS(ctx, system.EaaSOptions{Options: system.Options{WasmPath: wasm, Log: log}, Dir: dir,
		Deception: 2})
	if err != nil {
		return fmt.Errorf("eaas: %w", err)
	}
	defer m.Close()
	body := []byte("card=4111-1111-1111-1111&amount=42")
	x, err := m.Post(ctx, "/orders", body)
	if err != nil {
		return fmt.Errorf("eaas: %w", err)
	}
	if x.Status != 200 {
		return fmt.Errorf("eaas: the encrypted hop answered %d (%s)", x.Status, x.Reason)
	}
	fmt.Printf("%d. eaas     frontend -> orders  POST   /orders     %d: the app sent %q\n", *step, x.Status, body)
	fmt.Printf("   on the wire between the sidecars (%s): %d bytes %s...\n", x.WireMark, len(x.WireRequest), hexPrefix(x.WireRequest, 24))
	fmt.Printf("   orders got %q; its answer crossed the wire as %d bytes %s... and the frontend got %q\n",
		x.AppSaw, len(x.WireResponse), hexPrefix(x.WireResponse, 12), x.Response)
	fmt.Printf("   subscriber 54, deception factor %d: each real message to the coordinator travelled among %d fakes\n",
		m.Registration.GetSubscriber().GetWidths().GetT(), 1<<m.Registration.GetSubscriber().GetWidths().GetT()-1)
	return nil
}

func hexPrefix(b []byte, n int) string {
	if len(b) < n {
		n = len(b)
	}
	return fmt.Sprintf("%q", b[:4]) + fmt.Sprintf(" %x", b[4:n])
}
