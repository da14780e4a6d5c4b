package keymanager

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Key is what the cryptor needs for a pair: the material of the versions
// that may still decrypt (retired ones are left out) and the primary that
// encrypts. It prints without its material.
type Key struct {
	Pair     PairID
	Cipher   Cipher
	Material []byte // a serialized Tink keyset, or legacy material
	Primary  uint32
}

func (k Key) String() string {
	return fmt.Sprintf("key{pair %s, %s, primary v%d, material redacted}", k.Pair, k.Cipher, k.Primary)
}

// Format prints String for every verb, so that no format of a Key, even
// %x or %#v, shows its material.
func (k Key) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// KeyInfo describes a pair's keyset without any key material.
type KeyInfo struct {
	Pair          PairID
	Cipher        Cipher
	Primary       uint32
	MinDecryption uint32 // versions below it are retired
	PurgedBelow   uint32 // versions below it have no key bytes left
	Versions      []VersionInfo
}

// VersionInfo describes one version that still has key bytes.
type VersionInfo struct {
	Version uint32
	Created time.Time
	Retired bool
}

var (
	// ErrNoKeyset: the pair has no keyset yet (Key creates one).
	ErrNoKeyset = errors.New("keymanager: pair has no keyset")
	// ErrCipher: the pair's keyset is of another cipher than asked.
	ErrCipher = errors.New("keymanager: keyset of another cipher")
	// ErrVersion: a version that a Retire cannot take.
	ErrVersion = errors.New("keymanager: version out of range")
	// ErrRecord: a stored record that does not open under the KEK with its
	// pair as associated data, or that does not make sense once open.
	ErrRecord = errors.New("keymanager: keyset record does not open")
)

func errCipher(want, got Cipher) error {
	return fmt.Errorf("%w: asked for %s, the keyset is %s", ErrCipher, want, got)
}
