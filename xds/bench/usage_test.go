package bench

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseStatm(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		err  string
	}{
		{"1234 567 89 1 0 300 0\n", 567, ""},
		{"1 2", 2, ""},
		{"", 0, "0 fields"},
		{"1234", 0, "1 fields"},
		{"1234 -5 0", 0, "field 2"},
		{"1234 99999999999999999999999 0", 0, "field 2"},
		{strings.Repeat("1 ", maxStatm), 0, "longer than"},
	} {
		got, err := parseStatm([]byte(tc.in))
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("parseStatm(%.20q) = %d, %v; want %d and an error with %q", tc.in, got, err, tc.want, tc.err)
		}
	}
	if rss, err := readRSS("/proc/self/statm"); err != nil || rss == 0 {
		t.Errorf("this process's RSS: %d %v", rss, err)
	}
}

func FuzzParseStatm(f *testing.F) {
	f.Add([]byte("1234 567 89 1 0 300 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := parseStatm(b); err != nil && n != 0 {
			t.Fatalf("%d with error %v", n, err)
		}
	})
}

// Asking for no more than the soft limit changes nothing; asking for more
// than the hard limit is refused and changes nothing either.
func TestRaiseFileLimit(t *testing.T) {
	var before unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &before); err != nil {
		t.Fatal(err)
	}
	if got, err := RaiseFileLimit(1); err != nil || got != before.Cur {
		t.Errorf("RaiseFileLimit(1) = %d, %v; want %d", got, err, before.Cur)
	}
	if before.Max != unix.RLIM_INFINITY {
		if _, err := RaiseFileLimit(before.Max + 1); err == nil || !strings.Contains(err.Error(), "hard limit") {
			t.Errorf("above the hard limit: %v", err)
		}
	}
	var after unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &after); err != nil || after != before {
		t.Errorf("limit now %+v, was %+v (%v)", after, before, err)
	}
}
