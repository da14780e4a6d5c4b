package decision

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/quarantine"
)

// versionA allows GET; versionB allows GET and POST. Whichever is active,
// GET is allowed and DELETE denied: any other answer is a wrong decision.
func version(methods string, n int) string {
	return fmt.Sprintf(`# version %d
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: shop}
spec:
  selector: {matchLabels: {app: b}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/a"]}}]
    to: [{operation: {methods: [%s]}}]
`, n, methods)
}

func TestThousandReloadsUnderLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	write := func(s string) {
		// Write then rename, as a ConfigMap update does: a reader never sees half a file.
		tmp := filepath.Join(dir, ".tmp")
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write(version("GET", 0))
	w := policy.NewWatcher(0, dir)
	set, err := w.Load()
	if err != nil {
		t.Fatal(err)
	}
	e := New(set, quarantine.New())
	w.OnApply = e.SetPolicy

	stop := make(chan struct{})
	var wrong, decisions atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for m, want := range map[string]bool{"GET": true, "DELETE": false} {
					d := e.Decide(&policy.Request{SourcePrincipal: a, Destination: b, DestinationLabels: map[string]string{"app": "b"}, Method: m, Path: "/"})
					decisions.Add(1)
					if d.Allow != want {
						wrong.Add(1)
					}
				}
			}
		}()
	}

	const reloads = 1000
	const invalidAt = 501 // after an even (GET-only) version
	applied, rejected := 0, 0
	epoch := e.Epoch()
	for i := 1; i <= reloads; i++ {
		methods := map[bool]string{true: "GET", false: "GET, POST"}[i%2 == 0]
		doc := version(methods, i)
		if i == invalidAt {
			doc = version("GET, POST", i) + "    when: [{key: source.color, values: [red]}]\n"
		}
		write(doc)
		changed, err := w.Check()
		switch {
		case i == invalidAt && (changed || err == nil):
			t.Fatalf("reload %d: an invalid file was applied", i)
		case i == invalidAt:
			rejected++
			// The previous version (500: GET only) stays active, not this one (which allows POST).
			if e.Decide(&policy.Request{SourcePrincipal: a, Destination: b, DestinationLabels: map[string]string{"app": "b"}, Method: "POST", Path: "/"}).Allow {
				t.Fatal("after a rejected reload, the previous policy is not the active one")
			}
		case !changed || err != nil:
			t.Fatalf("reload %d: %v %v", i, changed, err)
		default:
			applied++
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d reloads applied, %d rejected, %d decisions under load, %d wrong", applied, rejected, decisions.Load(), wrong.Load())
	if wrong.Load() != 0 {
		t.Fatalf("%d wrong decisions", wrong.Load())
	}
	if applied != reloads-1 || rejected != 1 || e.Epoch() != epoch+uint64(applied) {
		t.Fatalf("applied %d, rejected %d, epoch moved %d", applied, rejected, e.Epoch()-epoch)
	}
	// The last version (1000, even: GET only) is active.
	if e.Decide(&policy.Request{SourcePrincipal: a, Destination: b, DestinationLabels: map[string]string{"app": "b"}, Method: "POST", Path: "/"}).Allow {
		t.Fatal("the last version is not active")
	}
}
