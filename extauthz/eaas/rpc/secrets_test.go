package rpc

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/meshward/meshward/api/eaas"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
)

func keyPair(e eaas.Envelope) keymanager.PairID {
	return keymanager.NewPairID(e.Subscriber, e.Src, e.Dst)
}

// encodings are the forms a secret could take in text: raw, hex, base64,
// Go's %v of bytes; of a 12-byte middle window too, so a part is caught.
func encodings(secret []byte) []string {
	parts := [][]byte{secret}
	if len(secret) > 24 {
		parts = append(parts, secret[6:18])
	}
	var out []string
	for _, p := range parts {
		out = append(out, string(p), hex.EncodeToString(p), base64.StdEncoding.EncodeToString(p)[:len(p)*4/3],
			base64.RawURLEncoding.EncodeToString(p), fmt.Sprint(p)[1:len(fmt.Sprint(p))-1])
	}
	return out
}
