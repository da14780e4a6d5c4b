package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/meshward/meshward/api/eaas"
	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
	"github.com/meshward/meshward/extauthz/eaas/cryptor"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/meshward/meshward/extauthz/eaas/keystore"
	"github.com/meshward/meshward/extauthz/eaas/requester"
	"github.com/meshward/meshward/extauthz/eaas/rpc"
	"github.com/meshward/meshward/internal/identity"
)

// authzProc is the real extauthz binary serving EaaS, with its files.
type authzProc struct {
	t                  *testing.T
	bin, dir           string
	ca                 *identity.CA
	cmd                *exec.Cmd
	eaasAddr, httpAddr string
	token              []byte
}

func extauthzBinary(t *testing.T) string {
	bin := os.Getenv("MESHWARD_EXTAUTHZ")
	if bin == "" {
		t.Skip("MESHWARD_EXTAUTHZ is not set: `make test` builds build/extauthz and sets it")
	}
	return bin
}

func newAuthzProc(t *testing.T) *authzProc {
	p := &authzProc{t: t, bin: extauthzBinary(t), dir: t.TempDir(), token: []byte("operator-token-0123456789abcdef")}
	var err error
	if p.ca, err = identity.NewCA(); err != nil {
		t.Fatal(err)
	}
	cert, err := p.ca.Issue(identity.SPIFFE("meshward-system", "extauthz"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ca.WritePEM(cert, p.file("ca.pem"), p.file("cert.pem"), p.file("key.pem")); err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(p.file("token"), p.token, 0o600))
	must(t, os.MkdirAll(p.file("policies"), 0o755))
	out, err := exec.Command(p.bin, "eaas", "kek", "generate", p.file("kek.json")).CombinedOutput()
	if err != nil {
		t.Fatalf("kek generate: %v\n%s", err, out)
	}
	return p
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (p *authzProc) file(name string) string { return filepath.Join(p.dir, name) }

// start runs `extauthz serve --eaas` and waits for both listeners' addresses
// in its JSON log.
func (p *authzProc) start() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin, "serve", "--tls-cert", p.file("cert.pem"), "--tls-key", p.file("key.pem"),
		"--client-ca", p.file("ca.pem"), "--verdict-token-file", p.file("token"), "--policy", p.file("policies"),
		"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--eaas", "--eaas-addr", "127.0.0.1:0",
		"--eaas-store", p.file("keys.db"), "--eaas-kek-file", p.file("kek.json"))
	stderr, err := p.cmd.StderrPipe()
	must(p.t, err)
	must(p.t, p.cmd.Start())
	p.t.Cleanup(p.kill)
	p.eaasAddr, p.httpAddr = "", ""
	sc := bufio.NewScanner(stderr)
	for (p.eaasAddr == "" || p.httpAddr == "") && sc.Scan() {
		var line struct{ Message, Addr, HTTP string }
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch line.Message {
		case "eaas roles serving":
			p.eaasAddr = line.Addr
		case "authorizer serving":
			p.httpAddr = line.HTTP
		}
	}
	if p.eaasAddr == "" || p.httpAddr == "" {
		p.t.Fatal("extauthz exited before serving")
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
}

func (p *authzProc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

func (p *authzProc) operator() (eaasv1.RegistrarClient, eaasv1.CoordinatorClient, context.Context) {
	cc, err := grpc.NewClient(p.eaasAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: p.ca.Pool, MinVersion: tls.VersionTLS13})))
	must(p.t, err)
	p.t.Cleanup(func() { cc.Close() })
	ctx := metadata.AppendToOutgoingContext(p.t.Context(), "authorization", "Bearer "+string(p.token))
	return eaasv1.NewRegistrarClient(cc), eaasv1.NewCoordinatorClient(cc), ctx
}

func (p *authzProc) requester(id string) (rpc.RequesterClient, *requester.Session) {
	cert, err := p.ca.Issue(id)
	must(p.t, err)
	c := rpc.RequesterClient{Base: "https://" + p.httpAddr,
		HTTP: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: p.ca.ClientTLS(cert)}}}
	e, err := c.Enrol(p.t.Context())
	must(p.t, err)
	return c, requester.New(e)
}

// kill -9 of the whole authorizer under load loses no key: every envelope
// answered before the kill still opens after it, both through the
// restarted authorizer (rewrap) and with the key store read directly.
func TestEaaSKillNineLosesNoKey(t *testing.T) {
	p := newAuthzProc(t)
	p.start()
	reg, _, ctx := p.operator()
	_, err := reg.Register(ctx, &eaasv1.RegisterRequest{Subscriber: 54, DeceptionFactor: 2,
		Members: []*eaasv1.Member{{Principal: "cluster.local/ns/shop/sa/a"}, {Principal: "cluster.local/ns/shop/sa/b"},
			{Principal: "cluster.local/ns/shop/sa/c"}}})
	must(t, err)
	made := encryptUntilKilled(t, p)
	if len(made) < 50 {
		t.Fatalf("only %d envelopes before the kill", len(made))
	}
	p.start()
	_, coord, ctx := p.operator()
	for env := range made {
		if _, err := coord.Rewrap(ctx, &eaasv1.RewrapRequest{Envelope: []byte(env)}); err != nil {
			t.Fatalf("an envelope made before the kill does not rewrap after it: %v", err)
		}
	}
	p.kill()
	opened := openWithStore(t, p, made)
	t.Logf("%d envelopes made before kill -9, %d open after it", len(made), opened)
}

// encryptUntilKilled runs three requesters (pairs a-b, a-c, b-c: new keys
// are made while the kill lands) and kills the process once 100 answers
// came back; it returns every envelope answered, with its plaintext.
func encryptUntilKilled(t *testing.T, p *authzProc) map[string]string {
	var mu sync.Mutex
	made := map[string]string{}
	var wg sync.WaitGroup
	killed := make(chan struct{})
	var once sync.Once
	for i, id := range []string{"a", "b", "c"} {
		c, s := p.requester(identity.SPIFFE("shop", id))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				plain := fmt.Sprintf("%s-%d", id, n)
				pair := uint32((i+1+n%2)%3 + 1)
				batch, err := s.EncryptBatch(pair, []byte(plain))
				if err != nil {
					return
				}
				ans, err := c.Send(context.Background(), batch)
				if err != nil {
					return // the kill
				}
				env, err := s.Envelope(ans)
				if err != nil {
					t.Errorf("answer: %v", err)
					return
				}
				mu.Lock()
				made[string(env)] = plain
				if len(made) == 100 {
					once.Do(func() { close(killed) })
				}
				mu.Unlock()
			}
		}()
	}
	<-killed
	_ = p.cmd.Process.Signal(os.Kill)
	wg.Wait()
	_ = p.cmd.Wait()
	return made
}

// openWithStore opens every envelope with the keys read from the store, as
// a restarted key manager would, and checks each plaintext.
func openWithStore(t *testing.T, p *authzProc, made map[string]string) int {
	store, err := keystore.OpenBolt(p.file("keys.db"), 5*time.Second)
	must(t, err)
	defer store.Close()
	kek, err := keymanager.LoadKEK(p.file("kek.json"))
	must(t, err)
	m, cr := keymanager.New(store, kek), cryptor.New(16)
	n := 0
	for env, plain := range made {
		e, err := eaas.ParseEnvelope([]byte(env))
		must(t, err)
		key, err := m.Key(t.Context(), keymanager.NewPairID(e.Subscriber, e.Src, e.Dst), keymanager.AES256GCM)
		must(t, err)
		got, err := cr.Open(key, e.Header(), e.Ciphertext)
		if err != nil || !bytes.Equal(got, []byte(plain)) {
			t.Fatalf("envelope of %q: %v (%q)", plain, err, got)
		}
		n++
	}
	return n
}
