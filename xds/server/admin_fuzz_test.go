package server

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// The admin API takes any method, path, query and body from an admitted
// caller without panicking, answers with a status it documents, and never
// leaves a service outside what the catalog lets it own: a move asked
// for with a crafted query stays within the pools.
func FuzzAdminAPI(f *testing.F) {
	for _, s := range []struct{ method, target, body string }{
		{"POST", "/rotate?service=orders", ""},
		{"POST", "/rotate?service=orders&port=3000", ""},
		{"POST", "/rotate?service=orders&port=1001", ""},
		{"POST", "/rotate?service=orders&port=65536", ""},
		{"POST", "/rotate?service=payments&service=orders&port=2001", ""},
		{"GET", "/placement", ""},
		{"GET", "/status", ""},
		{"GET", "/metrics", ""},
		{"POST", "/events", `{"kind":"scan","workload":"spiffe://cluster.local/ns/shop/sa/frontend","service":"orders"}`},
		{"POST", "/events", `{"kind":"quarantine","workload":"spiffe://cluster.local/ns/shop/sa/frontend","ttl_seconds":1}`},
		{"PUT", "/rotate/../placement", ""},
		{"POST", "//rotate?service=orders", "x"},
	} {
		f.Add(s.method, s.target, s.body)
	}
	r := start(f, twoServices, Config{Admin: AdminAuth{Token: testToken}, Defaults: quick})
	h := r.adminServer(AdminAuth{Token: testToken}).Handler
	documented := []int{http.StatusOK, http.StatusAccepted, http.StatusBadRequest, http.StatusNotFound,
		http.StatusMethodNotAllowed, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType,
		http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusMovedPermanently, http.StatusTemporaryRedirect}
	f.Fuzz(func(t *testing.T, method, target, body string) {
		req, err := http.NewRequest(method, "http://127.0.0.1"+target, bytes.NewReader([]byte(body)))
		if err != nil || req.URL.Host != "127.0.0.1" {
			return // net/http's client would not send it either
		}
		req.Header.Set("Authorization", "Bearer "+string(testToken))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !slices.Contains(documented, rec.Code) {
			t.Fatalf("%s %q: status %d (%s)", method, target, rec.Code, rec.Body)
		}
		p := r.Current()
		for _, svc := range p.Services() {
			for _, e := range p.Serving(svc) {
				if owner, ok := r.planner.Catalog().Owner(e.Address, e.Port); !ok || owner != svc {
					t.Fatalf("%s %q: %s serves %s, which the catalog gives to %q", method, target, svc, e, owner)
				}
			}
		}
	})
}
