package placementlog

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/meshward/meshward/xds/rotation"
)

// MaxRecord bounds one recorded placement: what etcd holds is read as
// anyone's input.
const MaxRecord = 1 << 20

func encode(st rotation.State) ([]byte, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxRecord {
		return nil, fmt.Errorf("placementlog: v%d is %d bytes, more than %d", st.Version, len(b), MaxRecord)
	}
	return b, nil
}

// decode reads the record of version v; the planner's Adopt then checks it
// against the catalog.
func decode(v uint64, b []byte) (rotation.State, error) {
	var st rotation.State
	if len(b) > MaxRecord {
		return st, fmt.Errorf("placementlog: v%d: record of %d bytes, more than %d", v, len(b), MaxRecord)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return rotation.State{}, fmt.Errorf("placementlog: v%d: %w", v, err)
	}
	if dec.More() {
		return rotation.State{}, fmt.Errorf("placementlog: v%d: data after the record", v)
	}
	if st.Version != v {
		return rotation.State{}, fmt.Errorf("placementlog: the record of v%d says v%d", v, st.Version)
	}
	return st, nil
}

func clipped(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	return string(bytes.ToValidUTF8(b, []byte("?")))
}
