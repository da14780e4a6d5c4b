package logging

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestNew(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "xds", "warn")
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Msg("dropped")
	log.Warn().Str("k", "v").Msg("kept")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	if line["component"] != "xds" || line["message"] != "kept" || line["k"] != "v" || line["time"] == nil {
		t.Fatalf("line %v", line)
	}
	for _, bad := range []string{"", "loud"} {
		if _, err := New(&buf, "x", bad); err == nil {
			t.Fatalf("level %q accepted", bad)
		}
	}
}
