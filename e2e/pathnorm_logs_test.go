package e2e

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/internal/pathnorm"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A secret in a query string never reaches the logs of the sidecar, the
// filter's host or the authorizer: not when the upstream fails (Go's client
// errors quote the whole URL), not on a denial, not on a rejected path.
func TestQuerySecretsStayOutOfLogs(t *testing.T) {
	var logs syncBuffer
	log := zerolog.New(&logs)
	pm := startPathMesh(t, pathnorm.Default, "http://127.0.0.1:1", log) // nothing listens on port 1
	const secret = "s3cr3t-from-the-query"
	for _, tc := range []struct {
		target string
		status int
	}{
		{"/orders/42?token=" + secret, 502},
		{"/orders/../admin?token=" + secret, 403},
		{"/orders/..%2Fadmin?token=" + secret, 400},
		{"/orders/%C0%AE?token=" + secret, 400},
	} {
		if got := pm.send(t, frontendID, tc.target); got.status != tc.status {
			t.Errorf("GET %q: %d, want %d", tc.target, got.status, tc.status)
		}
	}
	out := logs.String()
	for _, want := range []string{`"message":"sidecar: upstream failed"`, `"path":"/orders/42"`, `"message":"sidecar: request path rejected"`, "byte 10: escaped slash"} {
		if !strings.Contains(out, want) {
			t.Errorf("the logs lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, secret) {
		t.Errorf("a query secret reached the logs:\n%s", out)
	}
}
