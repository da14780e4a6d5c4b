package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/meshward/meshward/xds/bench"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		clients []int
		mode    bench.Mode
		err     string
	}{
		{nil, []int{1000, 5000}, bench.SOTW, ""},
		{[]string{"-clients", "20, 30", "-mode", "delta"}, []int{20, 30}, bench.Delta, ""},
		{[]string{"-clients", "0"}, nil, "", "-clients"},
		{[]string{"-clients", "1000,x"}, nil, "", "-clients"},
		{[]string{"-clients", "100001"}, nil, "", "-clients"},
		{[]string{"extra"}, nil, "", "unexpected"},
	} {
		opts, err := parse(tc.args)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: %v, want an error with %q", tc.args, err, tc.err)
			continue
		}
		if err == nil && (!slices.Equal(opts.clients, tc.clients) || opts.cfg.Mode != tc.mode || opts.cfg.Rotations != 20) {
			t.Errorf("%q: %+v", tc.args, opts)
		}
	}
}

// A small run end to end: the table has a row per client count and the
// goal line says the 1,000-client goal was not measured.
func TestRunSmall(t *testing.T) {
	opts, err := parse([]string{"-clients", "5,7", "-rotations", "2"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(t.Context(), opts, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"sotw        5          2", "sotw        7          2", "1,000 clients: not measured"} {
		if !strings.Contains(strings.Join(strings.Fields(s), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
}
