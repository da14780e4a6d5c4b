package registrar

import "testing"

// Tokens are uniform in [0, 2^t): a chi-square test with a false-alarm
// rate of 1e-9 (thresholds from the chi-square quantiles).
func TestTokensAreUniform(t *testing.T) {
	cases := []struct {
		t         uint8
		draws     int
		threshold float64 // chi-square quantile, 2^t - 1 degrees of freedom, p = 1e-9
	}{
		{1, 2000, 37.3},
		{2, 4000, 44.8},
		{6, 6400, 155.1},
	}
	for _, tc := range cases {
		counts := make([]int, 1<<tc.t)
		for range tc.draws {
			s, err := build(Registration{Subscriber: 1, Deception: tc.t})
			if err != nil {
				t.Fatal(err)
			}
			if int(s.Token) >= len(counts) {
				t.Fatalf("t=%d: token %d out of range", tc.t, s.Token)
			}
			counts[s.Token]++
		}
		exp := float64(tc.draws) / float64(len(counts))
		chi := 0.0
		for _, c := range counts {
			d := float64(c) - exp
			chi += d * d / exp
		}
		if chi > tc.threshold {
			t.Fatalf("t=%d: chi-square %.1f above %.1f: counts %v", tc.t, chi, tc.threshold, counts)
		}
	}
	for range 100 {
		if s, _ := build(Registration{Subscriber: 1}); s.Token != 0 {
			t.Fatalf("t=0: token %d", s.Token)
		}
	}
}
