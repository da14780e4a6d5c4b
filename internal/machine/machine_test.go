package machine

import "testing"

func TestParseLoadAverage(t *testing.T) {
	for in, want := range map[string]string{
		"0.33 1.50 2.35 1/234 5678\n": "0.33 1.50 2.35",
		"0.33 1.50":                   "unknown",
		"":                            "unknown",
	} {
		if got := parseLoadAverage(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	if LoadAverage() == "" {
		t.Error("empty load average")
	}
}
