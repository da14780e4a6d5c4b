package sharedstate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/meshward/meshward/extauthz/quarantine"
)

// Bounds of what is read from etcd. Anyone who can write to etcd could put
// anything under the prefix: a record is checked before it is believed, and
// one that fails is refused, never half-applied.
const (
	MaxWorkloadBytes = 2048 // a SPIFFE ID's own limit
	MaxKeyBytes      = 3*MaxWorkloadBytes + 512
	MaxValueBytes    = 16 << 10
	MaxReasonBytes   = 256
	MaxEvidence      = 32
	MaxEvidenceBytes = 256
)

const recordVersion = 1

// record is a quarantine as stored in etcd.
type record struct {
	Version   int      `json:"v"`
	Workload  string   `json:"workload"`
	Reason    string   `json:"reason"`
	Score     float64  `json:"score,omitempty"`
	Evidence  []string `json:"evidence,omitempty"`
	SinceMS   int64    `json:"since_ms"`
	ExpiresMS int64    `json:"expires_ms,omitempty"`
}

// quarantineKey is where workload's quarantine is kept: escaped, so that no
// workload name can reach another key under the prefix.
func quarantineKey(prefix, workload string) string {
	return prefix + quarantinePart + url.PathEscape(workload)
}

const quarantinePart, epochPart = "q/", "epoch"

// workloadOfKey returns the workload a quarantine key names.
func workloadOfKey(prefix string, key []byte) (string, error) {
	if len(key) > MaxKeyBytes {
		return "", fmt.Errorf("key of %d bytes, limit %d", len(key), MaxKeyBytes)
	}
	rest, ok := strings.CutPrefix(string(key), prefix+quarantinePart)
	if !ok {
		return "", errors.New("key is not under the quarantine prefix")
	}
	w, err := url.PathUnescape(rest)
	if err != nil {
		return "", fmt.Errorf("key: %w", err)
	}
	if err := checkWorkload(w); err != nil {
		return "", fmt.Errorf("key: %w", err)
	}
	if url.PathEscape(w) != rest {
		return "", errors.New("key: workload not in its canonical escaping")
	}
	return w, nil
}

func checkWorkload(w string) error {
	if strings.TrimSpace(w) == "" || len(w) > MaxWorkloadBytes {
		return fmt.Errorf("workload of %d bytes, want 1 to %d, not blank", len(w), MaxWorkloadBytes)
	}
	return nil
}

// encodeEntry makes e's record. Reason and evidence are cut to their bounds
// (a quarantine is never refused for its commentary); a workload beyond its
// bound is an error.
func encodeEntry(e quarantine.Entry) ([]byte, error) {
	if err := checkWorkload(e.Workload); err != nil {
		return nil, err
	}
	r := record{Version: recordVersion, Workload: e.Workload, Reason: cut(e.Reason, MaxReasonBytes),
		Score: e.Score, SinceMS: max(e.Since.UnixMilli(), 0)}
	if r.Reason == "" {
		r.Reason = "unspecified"
	}
	if math.IsNaN(r.Score) || r.Score < 0 || r.Score > 1 {
		r.Score = 0
	}
	if !e.Expires.IsZero() {
		r.ExpiresMS = max(e.Expires.UnixMilli(), r.SinceMS+1)
	}
	for i, ev := range e.Evidence {
		if i == MaxEvidence {
			break
		}
		r.Evidence = append(r.Evidence, cut(ev, MaxEvidenceBytes))
	}
	return json.Marshal(r)
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// decodeEntry reads the record stored at key. Its errors say what is wrong;
// they never quote the value.
func decodeEntry(prefix string, key, value []byte) (quarantine.Entry, error) {
	w, err := workloadOfKey(prefix, key)
	if err != nil {
		return quarantine.Entry{}, err
	}
	if len(value) > MaxValueBytes {
		return quarantine.Entry{}, fmt.Errorf("value of %d bytes, limit %d", len(value), MaxValueBytes)
	}
	var r record
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return quarantine.Entry{}, fmt.Errorf("value: %w", err)
	}
	if dec.More() {
		return quarantine.Entry{}, errors.New("value: data after the record")
	}
	if err := checkRecord(&r, w); err != nil {
		return quarantine.Entry{}, fmt.Errorf("value: %w", err)
	}
	e := quarantine.Entry{Workload: r.Workload, Reason: r.Reason, Score: r.Score, Evidence: r.Evidence,
		Since: time.UnixMilli(r.SinceMS)}
	if r.ExpiresMS != 0 {
		e.Expires = time.UnixMilli(r.ExpiresMS)
	}
	return e, nil
}

func checkRecord(r *record, workload string) error {
	switch {
	case r.Version != recordVersion:
		return fmt.Errorf("field \"v\" is %d, want %d", r.Version, recordVersion)
	case r.Workload != workload:
		return errors.New("field \"workload\" differs from the key's")
	case r.Reason == "" || len(r.Reason) > MaxReasonBytes:
		return fmt.Errorf("field \"reason\" is %d bytes, want 1 to %d", len(r.Reason), MaxReasonBytes)
	case math.IsNaN(r.Score) || r.Score < 0 || r.Score > 1:
		return errors.New("field \"score\" is not within [0, 1]")
	case len(r.Evidence) > MaxEvidence:
		return fmt.Errorf("field \"evidence\" has %d items, limit %d", len(r.Evidence), MaxEvidence)
	case r.SinceMS < 0 || r.SinceMS > maxUnixMS:
		return errors.New("field \"since_ms\" is out of range")
	case r.ExpiresMS != 0 && (r.ExpiresMS <= r.SinceMS || r.ExpiresMS > maxUnixMS):
		return errors.New("field \"expires_ms\" is not after since_ms, or out of range")
	}
	for i, ev := range r.Evidence {
		if len(ev) > MaxEvidenceBytes {
			return fmt.Errorf("field \"evidence\"[%d] is %d bytes, limit %d", i, len(ev), MaxEvidenceBytes)
		}
	}
	return nil
}

// maxUnixMS is the year 9999: beyond it time.UnixMilli and JSON disagree.
const maxUnixMS = 253402300799999
