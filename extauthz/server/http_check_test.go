package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/meshward/meshward/api/check"
)

// Filters learn from the epoch poll which authorizer instance answers and
// which headers the policies read; check answers carry the same instance.
func TestEpochNamesInstanceAndHeaders(t *testing.T) {
	r := start(t)
	resp, err := http.Get("http://" + r.HTTPAddr.String() + check.EpochPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	e, err := check.DecodeEpoch(body)
	if err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if !slices.Equal(e.Headers, []string{"x-tenant"}) || e.AllHeaders {
		t.Fatalf("epoch answer %+v, want headers [x-tenant]", e)
	}
	c := httpCheck(t, r, check.Request{SourcePrincipal: frontend, Destination: orders, Method: "GET", Path: "/orders/1"})
	if c.Instance != e.Instance || c.Epoch != e.Epoch {
		t.Fatalf("check answered by %q epoch %d, epoch poll by %q epoch %d", c.Instance, c.Epoch, e.Instance, e.Epoch)
	}
}

// The padding attack over the filter's wire format: x-tenant (which the
// policy reads) was left out of the check.
func TestHTTPCheckOmittedHeader(t *testing.T) {
	r := start(t)
	req := check.Request{SourcePrincipal: frontend, Destination: orders, Method: "GET", Path: "/orders/1",
		Headers: map[string]string{"x-pad": "1"}, OmittedHeaders: []string{"x-pad-2", "x-tenant"}}
	if got := httpCheck(t, r, req); got.Allow || got.Reason != "header-omitted" || got.Rule != "shop/frontend-reads-orders[0]" {
		t.Fatalf("x-tenant omitted: %+v, want denied header-omitted by shop/frontend-reads-orders[0]", got)
	}
	req.OmittedHeaders = []string{"x-pad-2"}
	if got := httpCheck(t, r, req); !got.Allow {
		t.Fatalf("only padding omitted: %+v, want allowed", got)
	}
	req.OmittedHeadersTruncated = true
	if got := httpCheck(t, r, req); got.Allow || got.Reason != "header-omitted" {
		t.Fatalf("names truncated: %+v, want denied header-omitted", got)
	}
}

// A request within Envoy's default header limit (60 KiB) fits a check.
func TestHTTPCheckLargeFacts(t *testing.T) {
	r := start(t)
	req := check.Request{SourcePrincipal: frontend, Destination: orders, Method: "GET", Path: "/orders/" + strings.Repeat("a", 60<<10)}
	if got := httpCheck(t, r, req); !got.Allow {
		t.Fatalf("60 KiB path: %+v", got)
	}
}

func TestEpochHeaders(t *testing.T) {
	names, all := epochHeaders([]string{"x-a", "X-B", "x c", "x-d"}, false)
	if !slices.Equal(names, []string{"x-a", "x-d"}) || all {
		t.Fatalf("got %q %v", names, all)
	}
	many := make([]string, check.MaxHeaderNames+1)
	for i := range many {
		many[i] = "x-" + strings.Repeat("a", i%90) + string(rune('a'+i%26))
	}
	if names, all := epochHeaders(many, false); names != nil || !all {
		t.Fatalf("too many names: %d names, all %v; want none, all", len(names), all)
	}
}
