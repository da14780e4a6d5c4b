package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/api/eaas"
	"github.com/meshward/meshward/e2e/system"
)

// The red team on the EaaS path, in both of Envoy's modes: a frontend app
// that marks its own requests and spells orders' host in other ways, an
// orders app that speaks for the filter, a wire tap that swaps response
// bodies, bodies at the size limit, and the logs of all of it.

// The frontend's own marks never reach the wire: every spelling of a
// peer's host is sealed under the filter's one mark. A host that is no
// peer's goes plain, and orders refuses it before the app sees it.
func TestEaaSRedTeamSourceSide(t *testing.T) {
	appMarks := [][2]string{{eaas.MarkHeader, "v1; subscriber=54"}, {eaas.MarkHeader, "v1; subscriber=99"}}
	for _, mode := range eaasModes {
		t.Run(mode.name, func(t *testing.T) {
			m := startEaaSMesh(t, system.EaaSOptions{StopIteration: mode.stopIteration})
			for i, host := range []string{"orders", "ORDERS:8080", "orders.", "Orders.:80"} {
				body := card(200 + i)
				x, err := m.PostWith(t.Context(), host, "/orders/peer", appMarks, body)
				if err != nil {
					t.Fatal(err)
				}
				if x.Status != 200 || !bytes.Equal(x.AppSaw, body) {
					t.Fatalf("%s: status %d %q, orders got %d bytes", host, x.Status, x.Reason, len(x.AppSaw))
				}
				if x.WireMark != "v1; subscriber=54" || !bytes.HasPrefix(x.WireRequest, []byte(eaas.EnvelopeMagic)) ||
					bytes.Contains(x.WireRequest, []byte("4111")) {
					t.Fatalf("%s: the wire carried mark %q and %.60q", host, x.WireMark, x.WireRequest)
				}
			}
			// A body announced with expect: 100-continue is sealed all the
			// same.
			body := card(250)
			expect := append([][2]string{{"Expect", "100-continue"}}, appMarks...)
			x, err := m.PostWith(t.Context(), "orders", "/orders/expect", expect, body)
			if err != nil || x.Status != 200 || !bytes.Equal(x.AppSaw, body) || x.WireMark != "v1; subscriber=54" ||
				bytes.Contains(x.WireRequest, []byte("4111")) {
				t.Fatalf("expect: 100-continue: %v, status %d %q, wire mark %q, %.40q", err, x.Status, x.Reason, x.WireMark, x.WireRequest)
			}
			// orders.shop.svc.cluster.local is no host the subscriber
			// registered for orders: the frontend's sidecar cannot know
			// it is orders, and orders requires encryption.
			for _, host := range []string{"payments", "orders..", "orders.shop.svc.cluster.local"} {
				path := "/orders/nopeer/" + strings.ReplaceAll(host, ".", "_")
				x, err := m.PostWith(t.Context(), host, path, appMarks, card(300))
				if err != nil {
					t.Fatal(err)
				}
				if x.Status != 403 || x.Reason != "eaas-plaintext-refused" {
					t.Fatalf("%s: status %d %q, want 403 eaas-plaintext-refused", host, x.Status, x.Reason)
				}
				if x.WireMark != "" {
					t.Fatalf("%s: the app's mark %q reached the wire", host, x.WireMark)
				}
				if requests, got := m.AppGot(path); requests != 0 || got != 0 {
					t.Fatalf("%s: the orders app got %d requests, %d bytes", host, requests, got)
				}
			}
		})
	}
}

// The orders app cannot speak for the filter (its mark and its
// plaintext-forward word never leave its sidecar), and the wire tap cannot
// make the frontend take another answer: a replayed response envelope, one
// it kept from the frontend (never opened, so no replay window saw it), an
// envelope of the other direction, or a mark without a body.
func TestEaaSRedTeamResponses(t *testing.T) {
	for _, mode := range eaasModes {
		t.Run(mode.name, func(t *testing.T) {
			m := startEaaSMesh(t, system.EaaSOptions{StopIteration: mode.stopIteration})
			m.AppAnswers("/orders/speaks", [][2]string{{eaas.MarkHeader, "v1; subscriber=54"}, {eaas.ForwardHeader, eaas.ForwardPlaintext}})
			body := card(500)
			x, err := m.Post(t.Context(), "/orders/speaks", body)
			if err != nil {
				t.Fatal(err)
			}
			if x.Status != 200 || !strings.HasPrefix(string(x.Response), "receipt: orders got 500 bytes") {
				t.Fatalf("status %d %q: %.60q", x.Status, x.Reason, x.Response)
			}
			if !bytes.HasPrefix(x.WireResponse, []byte(eaas.EnvelopeMagic)) || bytes.Contains(x.WireResponse, []byte("receipt")) {
				t.Fatalf("the answer on the wire was %.60q", x.WireResponse)
			}
			if x.Header.Get(eaas.ForwardHeader) != "" || x.Header.Get(eaas.MarkHeader) != "" {
				t.Fatalf("the frontend app got the orders app's headers: %v", x.Header)
			}
			opened, request := x.WireResponse, x.WireRequest
			tests := []struct {
				name   string
				swap   []byte
				status int
				reason string
			}{
				{"response envelope replayed", opened, 403, "eaas-replay"},
				{"request envelope as the answer", request, 502, "eaas-flood-dropped"},
				{"mark without a body", []byte{}, 502, "eaas-decrypt-failed"},
				{"plain body under the mark", []byte("receipt: forged"), 502, "eaas-decrypt-failed"},
			}
			// The tap keeps an answer from the frontend (which therefore
			// never opened it) to hand it in as the answer to the next one.
			var kept []byte
			m.TapResponses(func(b []byte) []byte { kept = b; return []byte("dropped") })
			// Refused, or reset under Envoy's default.
			if x, err := m.Post(t.Context(), "/orders/kept", []byte("order 1: one book")); err == nil && x.Status != 502 {
				t.Fatalf("the dropped answer: status %d", x.Status)
			}
			if len(kept) == 0 {
				t.Fatal("the tap kept no answer")
			}
			tests = append(tests, struct {
				name   string
				swap   []byte
				status int
				reason string
			}{"unopened answer to another request", kept, 502, "eaas-decrypt-failed"})
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					m.TapResponses(func([]byte) []byte { return tc.swap })
					defer m.TapResponses(nil)
					x, err := m.Post(t.Context(), "/orders/swapped", card(400))
					if err != nil && !mode.stopIteration && len(tc.swap) > 0 {
						// Under Envoy's default the marked headers went on
						// before the body could be opened: the refusal
						// resets the stream, and the app takes nothing.
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					if x.Status != tc.status || x.Reason != tc.reason {
						t.Fatalf("status %d %q, want %d %s", x.Status, x.Reason, tc.status, tc.reason)
					}
					if bytes.Contains(x.Response, []byte("receipt")) {
						t.Fatalf("the frontend app took %.60q", x.Response)
					}
				})
			}
		})
	}
}

// A plaintext of exactly max_body_bytes is sealed by the frontend's sidecar,
// so orders' sidecar must take its envelope (a little larger); one byte
// more is refused at the source and never reaches the orders app.
func TestEaaSRedTeamBodyLimit(t *testing.T) {
	const limit = 4096
	for _, mode := range eaasModes {
		t.Run(mode.name, func(t *testing.T) {
			m := startEaaSMesh(t, system.EaaSOptions{StopIteration: mode.stopIteration, MaxBodyBytes: limit})
			body := card(limit)
			x, err := m.Post(t.Context(), "/orders/limit", body)
			if err != nil {
				t.Fatal(err)
			}
			if x.Status != 200 || !bytes.Equal(x.AppSaw, body) {
				t.Fatalf("a body of max_body_bytes: status %d %q, orders got %d bytes", x.Status, x.Reason, len(x.AppSaw))
			}
			x, err = m.Post(t.Context(), "/orders/over", card(limit+1))
			if err != nil {
				t.Fatal(err)
			}
			if x.Status != 413 || x.Reason != "eaas-body-too-large" {
				t.Fatalf("a body over max_body_bytes: status %d %q", x.Status, x.Reason)
			}
			if _, got := m.AppGot("/orders/over"); got != 0 {
				t.Fatalf("the orders app got %d bytes of a body over the limit", got)
			}
		})
	}
}

// Nothing the mesh logs, at any level, through exchanges and refused
// attacks, holds a plaintext, a receipt or an envelope's bytes (raw, hex or
// base64).
func TestEaaSRedTeamLogsHoldNoSecrets(t *testing.T) {
	for _, mode := range eaasModes {
		t.Run(mode.name, func(t *testing.T) {
			logs := &syncBuffer{}
			m := startEaaSMesh(t, system.EaaSOptions{StopIteration: mode.stopIteration,
				Options: system.Options{Log: zerolog.New(logs).Level(zerolog.TraceLevel)}})
			secret := []byte("card=4111-1111-1111-1111;cvv=737;")
			x, err := m.Post(t.Context(), "/orders", secret)
			if err != nil || x.Status != 200 {
				t.Fatalf("exchange: %v, status %d %q", err, x.Status, x.Reason)
			}
			mark := [][2]string{{eaas.MarkHeader, x.WireMark}}
			postDirect(t, m, system.Frontend, "/orders/replay", mark, x.WireRequest)
			postDirect(t, m, system.Catalog, "/orders/catalog", mark, x.WireRequest)
			postDirect(t, m, system.Frontend, "/orders/plain", nil, secret)
			m.TapResponses(func([]byte) []byte { return x.WireResponse })
			_, _ = m.Post(t.Context(), "/orders/swapped", secret) // refused, or reset under Envoy's default
			m.TapResponses(nil)
			out := []byte(logs.String())
			if len(out) == 0 {
				t.Fatal("the mesh logged nothing: the scan would prove nothing")
			}
			var needles [][]byte
			for _, env := range [][]byte{x.WireRequest, x.WireResponse} {
				e, err := eaas.ParseEnvelope(env)
				if err != nil {
					t.Fatal(err)
				}
				tail := e.Ciphertext[len(e.Ciphertext)-16:]
				needles = append(needles, tail, []byte(hex.EncodeToString(tail)), []byte(base64.StdEncoding.EncodeToString(e.Ciphertext)[8:32]))
			}
			// Fragments that cannot occur by chance: "4111" alone is in port
			// 41111 of a log line, as a clean clone's run found.
			needles = append(needles, []byte("4111-1111"), []byte("cvv=737"), []byte("receipt"))
			for _, n := range needles {
				if i := bytes.Index(out, n); i >= 0 {
					start := bytes.LastIndexByte(out[:i], '\n') + 1
					t.Fatalf("the logs hold %q: %.200s", n, out[start:])
				}
			}
		})
	}
}

// Smuggling around the mark, straight at orders' sidecar with the
// frontend's certificate: each is refused for its mark before its headers
// go on, the coordinator gets no batch (the replay window is not even
// consulted), and the orders app sees nothing.
func TestEaaSRedTeamMarkSmuggling(t *testing.T) {
	for _, mode := range eaasModes {
		t.Run(mode.name, func(t *testing.T) {
			m := startEaaSMesh(t, system.EaaSOptions{StopIteration: mode.stopIteration})
			x, err := m.Post(t.Context(), "/orders", card(300))
			if err != nil || x.Status != 200 {
				t.Fatalf("setup exchange: %v, status %d %q", err, x.Status, x.Reason)
			}
			// A real envelope of the frontend's pair: the attacks must be
			// refused for their marks, before any callout, not by the
			// replay window.
			env := x.WireRequest
			good := x.WireMark
			tests := []struct {
				name    string
				headers [][2]string
				body    []byte
			}{
				{"mark on an empty body", [][2]string{{eaas.MarkHeader, good}}, nil},
				{"two marks, the good one first", [][2]string{{eaas.MarkHeader, good}, {eaas.MarkHeader, "v1; subscriber=55"}}, env},
				{"two good marks", [][2]string{{eaas.MarkHeader, good}, {eaas.MarkHeader, good}}, env},
				{"mark without its space", [][2]string{{eaas.MarkHeader, "v1;subscriber=54"}}, env},
				{"mark with a leading zero", [][2]string{{eaas.MarkHeader, "v1; subscriber=054"}}, env},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					before := coordinatorMessages(t, m)
					path := "/orders/smuggle/" + strings.ReplaceAll(tc.name, " ", "-")
					status, reason := postDirectAll(t, m, path, tc.headers, tc.body)
					if status != 403 || reason != "eaas-decrypt-failed" {
						t.Fatalf("status %d reason %q, want 403 eaas-decrypt-failed", status, reason)
					}
					if requests, got := m.AppGot(path); requests != 0 || got != 0 {
						t.Fatalf("the orders app got %d requests, %d bytes", requests, got)
					}
					if after := coordinatorMessages(t, m); after != before {
						t.Fatalf("the coordinator served %d batches for a smuggled mark", after-before)
					}
				})
			}
		})
	}
}

// postDirectAll is postDirect with every header added, repeats included.
func postDirectAll(t *testing.T, m *system.EaaSMesh, path string, headers [][2]string, body []byte) (int, string) {
	t.Helper()
	return postDirect(t, m, system.Frontend, path, headers, body)
}
