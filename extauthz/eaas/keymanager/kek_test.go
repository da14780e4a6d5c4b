package keymanager

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/mac"
)

func TestKEKFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek.json")
	if err := GenerateKEKFile(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("KEK file mode %v, %v; want 0600", st.Mode(), err)
	}
	kek, err := LoadKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := kek.Encrypt([]byte("record"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := LoadKEK(path)
	if pt, err := again.Decrypt(ct, []byte("ad")); err != nil || string(pt) != "record" {
		t.Fatalf("a reloaded KEK does not open what the first one sealed: %v", err)
	}
	before, _ := os.ReadFile(path)
	if err := GenerateKEKFile(path); err == nil {
		t.Fatal("GenerateKEKFile replaced an existing KEK")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("a refused GenerateKEKFile changed the KEK file")
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".kek-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestLoadKEKRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	good := filepath.Join(dir, "good.json")
	if err := GenerateKEKFile(good); err != nil {
		t.Fatal(err)
	}
	goodBytes, _ := os.ReadFile(good)
	macHandle, _ := keyset.NewHandle(mac.HMACSHA256Tag256KeyTemplate())
	var macJSON bytes.Buffer
	insecurecleartextkeyset.Write(macHandle, keyset.NewJSONWriter(&macJSON))
	secretish := `{"primaryKeyId": 1, "key": [SECRET-LOOKING-BYTES]}`
	cases := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "none"), "no such file"},
		{"group readable", write("open.json", goodBytes, 0o640), "mode -rw-r-----"},
		{"directory", dir, "want a regular file"},
		{"not json", write("junk.json", []byte(secretish), 0o600), "not a Tink keyset in JSON"},
		{"not an AEAD", write("mac.json", macJSON.Bytes(), 0o600), "not a Tink AEAD keyset"},
		{"huge", write("huge.json", make([]byte, maxKEKFileBytes+1), 0o600), "larger than"},
	}
	for _, c := range cases {
		_, err := LoadKEK(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		} else if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: the error quotes the file: %v", c.name, err)
		}
	}
}
