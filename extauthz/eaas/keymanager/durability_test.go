package keymanager

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshward/meshward/extauthz/eaas/keystore"
	"github.com/meshward/meshward/extauthz/eaas/keystore/etcdstore"
	"github.com/meshward/meshward/extauthz/eaas/keystore/etcdtest"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/tink"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	childEnv     = "MESHWARD_KEYMANAGER_CHILD_DIR"
	childEtcdEnv = "MESHWARD_KEYMANAGER_CHILD_ETCD" // the etcd endpoint, or none for bolt
)

func sealer(t testing.TB, k Key) tink.AEAD {
	h, err := ParseKeyset(k.Cipher, k.Material)
	if err != nil {
		t.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var prefixes atomic.Uint64

// openStore opens the bolt file in dir, or etcd at endpoint under prefix.
func openStore(t testing.TB, dir, endpoint, prefix string) (*Manager, keystore.Store) {
	kek, err := LoadKEK(filepath.Join(dir, "kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s keystore.Store
	if endpoint != "" {
		s, err = etcdstore.OpenEtcd(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second}, prefix)
	} else {
		s, err = keystore.OpenBolt(filepath.Join(dir, "keys.db"), 10*time.Second)
	}
	if err != nil {
		t.Fatal(err)
	}
	return New(s, kek), s
}

// TestKill9Child is the process TestKill9 kills: it creates and rotates
// keys and, once each call returned, prints a ciphertext made with the key.
func TestKill9Child(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("run by TestKill9")
	}
	m, _ := openStore(t, dir, os.Getenv(childEtcdEnv), os.Getenv(childEnv))
	for i := range 100000 {
		p := NewPairID(9, 1, uint32(i+2))
		k, err := m.Key(ctx, p, AES256GCM)
		if err == nil && i%3 == 0 {
			if _, err = m.Rotate(ctx, p); err == nil {
				k, err = m.Key(ctx, p, AES256GCM)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, err := sealer(t, k).Encrypt([]byte(fmt.Sprint("made by ", i)), []byte(p.String()))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(os.Stdout, "KEY %d %s\n", i, hex.EncodeToString(ct))
	}
}

// A key manager killed with SIGKILL in the middle of creating and rotating
// keys loses none that it returned: every ciphertext made with a returned key
// decrypts with the keys of the reopened store.
func TestKill9(t *testing.T) {
	t.Run("bolt", func(t *testing.T) { kill9(t, "") })
	t.Run("etcd", func(t *testing.T) { kill9(t, sharedEtcd(t).Endpoint()) })
}

func kill9(t *testing.T, endpoint string) {
	dir := t.TempDir()
	if err := GenerateKEKFile(filepath.Join(dir, "kek.json")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Child$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+dir, childEtcdEnv+"="+endpoint)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	var lines []string
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "KEY ")
		if !ok {
			continue
		}
		lines = append(lines, line)
		if len(lines) == 40 {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	werr := cmd.Wait()
	if len(lines) < 40 || !strings.Contains(fmt.Sprint(werr), "killed") {
		t.Fatalf("the child printed %d lines and ended with %v; want it killed after 40", len(lines), werr)
	}
	m, s := openStore(t, dir, endpoint, dir)
	defer s.Close()
	for _, line := range lines {
		var i int
		var ctHex string
		if _, err := fmt.Sscanf(line, "%d %s", &i, &ctHex); err != nil {
			t.Fatalf("child line %q: %v", line, err)
		}
		ct, _ := hex.DecodeString(ctHex)
		p := NewPairID(9, 1, uint32(i+2))
		k, err := m.Key(ctx, p, AES256GCM)
		if err != nil {
			t.Fatalf("pair %s after the kill: %v", p, err)
		}
		if pt, err := sealer(t, k).Decrypt(ct, []byte(p.String())); err != nil || string(pt) != fmt.Sprint("made by ", i) {
			t.Fatalf("ciphertext %d made before the kill does not decrypt after it: %v", i, err)
		}
	}
	t.Logf("%d keys returned before the kill, all kept", len(lines))
}

var shared etcdtest.Shared

func sharedEtcd(t *testing.T) *etcdtest.Server { return shared.Get(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Close()
	os.Exit(code)
}
