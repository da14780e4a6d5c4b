package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/meshward/meshward/api/eaas"
	"github.com/meshward/meshward/e2e/system"
)

// The two ways Envoy runs the filter: its default (a Pause in the headers
// stops the body until the filter resumes; the only one Istio's WasmPlugin
// gives) and allow_on_headers_stop_iteration (Envoy 1.35+). The filter does
// not know which one it runs in.
var eaasModes = []struct {
	name          string
	stopIteration bool
}{
	{"envoy-default", false},
	{"allow-on-headers-stop-iteration", true},
}

func card(size int) []byte {
	return bytes.Repeat([]byte("card=4111-1111-1111-1111;"), size/25+1)[:size]
}

// One encrypted hop, request and response, in both modes.
func TestEaaSModesOneHop(t *testing.T) {
	for _, mode := range eaasModes {
		t.Run(mode.name, func(t *testing.T) {
			m := startEaaSMesh(t, system.EaaSOptions{StopIteration: mode.stopIteration})
			for _, size := range []int{1, 64 << 10, 1 << 20} {
				body := card(size)
				x, err := m.Post(t.Context(), "/orders", body)
				if err != nil {
					t.Fatal(err)
				}
				if x.Status != 200 {
					t.Fatalf("%d bytes: status %d reason %q: %s", size, x.Status, x.Reason, x.Response)
				}
				if !bytes.Equal(x.AppSaw, body) {
					t.Fatalf("%d bytes: orders got %d bytes, not the plaintext", size, len(x.AppSaw))
				}
				if x.WireMark != "v1; subscriber=54" || !strings.HasPrefix(string(x.WireRequest), eaas.EnvelopeMagic) ||
					bytes.Contains(x.WireRequest, []byte("4111")) {
					t.Fatalf("%d bytes: the wire carried mark %q and %.60q", size, x.WireMark, x.WireRequest)
				}
				if !strings.HasPrefix(string(x.WireResponse), eaas.EnvelopeMagic) || bytes.Contains(x.WireResponse, []byte("receipt")) {
					t.Fatalf("%d bytes: the answer on the wire was %.60q", size, x.WireResponse)
				}
				if want := fmt.Sprintf("receipt: orders got %d bytes: %.40q", size, body); string(x.Response) != want {
					t.Fatalf("%d bytes: the frontend got %.80q, want %.80q", size, x.Response, want)
				}
			}
		})
	}
}

// The attacks a workload with a mesh identity can make on orders' sidecar
// directly, in both modes: each is refused and the orders app gets no byte
// of the body.
func TestEaaSModesAttacks(t *testing.T) {
	for _, mode := range eaasModes {
		t.Run(mode.name, func(t *testing.T) {
			m := startEaaSMesh(t, system.EaaSOptions{StopIteration: mode.stopIteration})
			x, err := m.Post(t.Context(), "/orders", card(300))
			if err != nil || x.Status != 200 {
				t.Fatalf("setup exchange: %v, status %d %q", err, x.Status, x.Reason)
			}
			envelope := x.WireRequest // opened once already
			mark := [][2]string{{eaas.MarkHeader, x.WireMark}}
			tests := []struct {
				name, id, path string
				headers        [][2]string
				body           []byte
				reason         string
			}{
				// The policy makes the frontend's bodies to orders an
				// EaaS obligation: refused before the headers go on.
				{"plaintext from the frontend", system.Frontend, "/orders/plain", nil, card(300), "eaas-plaintext-refused"},
				{"forged mark, garbage body", system.Frontend, "/orders/forged", mark, []byte("MWE1 not an envelope at all"), "eaas-decrypt-failed"},
				{"envelope replayed", system.Frontend, "/orders/replay", mark, envelope, "eaas-replay"},
				{"envelope sent by catalog", system.Catalog, "/orders/catalog", mark, envelope, "eaas-flood-dropped"},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					before := coordinatorMessages(t, m)
					status, reason := postDirect(t, m, tc.id, tc.path, tc.headers, tc.body)
					if status != 403 || reason != tc.reason {
						t.Fatalf("status %d reason %q, want 403 %s", status, reason, tc.reason)
					}
					requests, got := m.AppGot(tc.path)
					if got != 0 {
						t.Fatalf("the orders app got %d body bytes", got)
					}
					if tc.headers == nil && requests != 0 {
						t.Fatal("the orders app saw a request that must be refused before its headers go on")
					}
					// Scenario 2: the destination drops it before any
					// callout; the coordinator never sees it.
					if after := coordinatorMessages(t, m); tc.reason == "eaas-flood-dropped" && after != before {
						t.Fatalf("the coordinator served %d message batches for a flood-dropped envelope", after-before)
					}
				})
			}
		})
	}
}

// postDirect posts to orders' sidecar over mTLS with id's certificate,
// skipping the frontend's sidecar, and returns the status and reason.
func postDirect(t *testing.T, m *system.EaaSMesh, id, path string, headers [][2]string, body []byte) (int, string) {
	t.Helper()
	cert, err := m.CA.CA.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: m.CA.CA.ClientTLS(cert)}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+m.InboundAddr()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "orders"
	for _, h := range headers {
		req.Header.Add(h[0], h[1]) // a name twice is sent twice (the smuggling tests)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("x-meshward-reason")
}

// coordinatorMessages is how many message batches the coordinator took,
// served or refused (enrolments aside), from the authorizer's metrics.
func coordinatorMessages(t *testing.T, m *system.EaaSMesh) int {
	t.Helper()
	cert, err := m.CA.CA.Issue(system.Frontend)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: m.CA.CA.ClientTLS(cert)}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + m.Authz.HTTPAddr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, seen := 0, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		counted := strings.HasPrefix(line, "meshward_eaas_shed_total{") ||
			strings.HasPrefix(line, "meshward_eaas_requests_total{") && strings.Contains(line, `role="coordinator"`) &&
				!strings.Contains(line, `type="enrol"`)
		if !counted {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		n, seen = n+int(v), true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !seen {
		t.Fatal("no coordinator series in the metrics: the count would prove nothing")
	}
	return n
}
