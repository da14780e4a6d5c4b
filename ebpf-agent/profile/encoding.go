package profile

import (
	"encoding/binary"
	"fmt"

	"github.com/meshward/meshward/ebpf-agent/ngram"
)

// A stored profile: magic, format version, phase, three counters, then the
// model. Open windows are not kept: they last milliseconds.
const (
	encMagic   = "MWPF"
	encVersion = 1
	encHeader  = len(encMagic) + 1 + 1 + 3*8
)

// MarshalBinary encodes the profile for storage.
func (p *Profile) MarshalBinary() ([]byte, error) {
	m, err := p.model.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := make([]byte, encHeader, encHeader+len(m))
	copy(b, encMagic)
	b[4], b[5] = encVersion, byte(p.phase)
	binary.LittleEndian.PutUint64(b[6:], p.stats.Learned)
	binary.LittleEndian.PutUint64(b[14:], p.stats.Judged)
	binary.LittleEndian.PutUint64(b[22:], p.stats.Anomalous)
	return append(b, m...), nil
}

// Decode restores a stored profile under cfg. It fails, saying where, on
// bytes that are not a profile and on a model of another n-gram length.
func Decode(b []byte, cfg Config) (*Profile, error) {
	if len(b) < encHeader || string(b[:4]) != encMagic {
		return nil, fmt.Errorf("profile: not a stored profile (no %q header)", encMagic)
	}
	if b[4] != encVersion {
		return nil, fmt.Errorf("profile: byte 4: format version %d, want %d", b[4], encVersion)
	}
	phase := Phase(b[5])
	if phase != Learning && phase != Detecting {
		return nil, fmt.Errorf("profile: byte 5: phase %d, want 0 or 1", b[5])
	}
	m := &ngram.Model{}
	if err := m.UnmarshalBinary(b[encHeader:]); err != nil {
		return nil, fmt.Errorf("profile: model at byte %d: %w", encHeader, err)
	}
	if m.N() != cfg.N {
		return nil, fmt.Errorf("profile: stored model has %d-grams, the agent is configured for %d-grams", m.N(), cfg.N)
	}
	p := &Profile{cfg: cfg, model: m, phase: phase, streams: map[uint32][]uint32{}}
	p.stats = Stats{
		Learned:   binary.LittleEndian.Uint64(b[6:]),
		Judged:    binary.LittleEndian.Uint64(b[14:]),
		Anomalous: binary.LittleEndian.Uint64(b[22:]),
	}
	if p.phase == Learning && p.stats.Learned >= uint64(cfg.Learn) {
		p.phase = Detecting // the learning period was shortened since
	}
	return p, nil
}
