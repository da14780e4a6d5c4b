package keymanager

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/meshward/meshward/extauthz/eaas/keystore"
)

// maxKEKFileBytes bounds what LoadKEK reads: a Tink JSON keyset of a few
// AEAD keys is well under 1 KiB each.
const maxKEKFileBytes = 64 << 10

// LoadKEK reads the key-encryption key: a cleartext Tink AEAD keyset in
// JSON (as GenerateKEKFile or `tinkey create-keyset` write it). The file
// must not be open to group or others (a Kubernetes Secret volume needs
// defaultMode 0400 or 0600). Errors never quote the file's contents.
func LoadKEK(path string) (tink.AEAD, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keymanager: key-encryption key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keymanager: key-encryption key: %w", err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keymanager: key-encryption key %s: mode %v, want a regular file no one but its owner can read (0600 or 0400)", path, st.Mode())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKEKFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("keymanager: key-encryption key %s: %w", path, err)
	}
	if len(b) > maxKEKFileBytes {
		return nil, fmt.Errorf("keymanager: key-encryption key %s: larger than %d bytes", path, maxKEKFileBytes)
	}
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(b)))
	if err != nil {
		return nil, fmt.Errorf("keymanager: key-encryption key %s: not a Tink keyset in JSON", path)
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("keymanager: key-encryption key %s: not a Tink AEAD keyset", path)
	}
	return a, nil
}

// GenerateKEKFile writes a new AES-256-GCM key-encryption key to path (mode
// 0600). It never replaces an existing file: a lost KEK loses every key.
func GenerateKEKFile(path string) error {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".kek-*")
	if err != nil {
		return fmt.Errorf("keymanager: key-encryption key %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	err = writeSynced(tmp, buf.Bytes())
	if err == nil {
		// Link, unlike rename, fails when path exists, and path never holds
		// a partly written key.
		err = os.Link(tmp.Name(), path)
	}
	if err == nil {
		err = keystore.SyncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("keymanager: key-encryption key %s: %w", path, err)
	}
	return nil
}

func writeSynced(f *os.File, b []byte) error {
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(b)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
