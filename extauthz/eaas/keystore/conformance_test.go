package keystore_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/meshward/meshward/extauthz/eaas/keystore"
	"github.com/meshward/meshward/extauthz/eaas/keystore/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) keystore.Store { return keystore.NewMemory() })
}

func TestBoltConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keystore.Store {
		s, err := keystore.OpenBolt(filepath.Join(t.TempDir(), "keys.db"), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
