package proxywasm

import "testing"

func TestSplice(t *testing.T) {
	const all = 1<<31 - 1
	tests := []struct {
		name        string
		buf         string
		start, size int64
		data        string
		want        string
		changed, ok bool
	}{
		{"replace whole (Go SDK)", "hello", 0, all, "bye", "bye", true, true},
		{"replace by exact length", "hello", 0, 5, "bye", "bye", true, true},
		{"drop a prefix", "hello", 0, 2, "J", "Jllo", true, true},
		{"prepend (Go SDK)", "hello", 0, 0, ">", ">hello", true, true},
		{"append (Go SDK)", "hello", all, 0, "!", "hello!", true, true},
		{"append at the end", "hello", 5, 0, "!", "hello!", true, true},
		{"no-op", "hello", 0, 0, "", "hello", false, true},
		{"clear", "hello", 0, all, "", "", true, true},
		{"start inside: refused", "hello", 2, 1, "x", "hello", false, false},
		{"empty buffer", "", 0, all, "new", "new", true, true},
	}
	for _, tc := range tests {
		out, changed, ok := splice([]byte(tc.buf), tc.start, tc.size, []byte(tc.data))
		if string(out) != tc.want || changed != tc.changed || ok != tc.ok {
			t.Errorf("%s: got %q changed=%v ok=%v, want %q %v %v", tc.name, out, changed, ok, tc.want, tc.changed, tc.ok)
		}
	}
}

func TestDeclaredLength(t *testing.T) {
	tests := []struct {
		headers [][2]string
		want    int64
	}{
		{nil, -1},
		{[][2]string{{"content-length", "12"}}, 12},
		{[][2]string{{"content-length", "12"}, {"content-length", "12"}}, 12},
		{[][2]string{{"content-length", "12"}, {"content-length", "13"}}, -2},
		{[][2]string{{"content-length", "-1"}}, -2},
		{[][2]string{{"content-length", "1e3"}}, -2},
		{[][2]string{{"content-length", "99999999999999999999"}}, -2},
	}
	for _, tc := range tests {
		if got := declaredLength(tc.headers); got != tc.want {
			t.Errorf("declaredLength(%v) = %d, want %d", tc.headers, got, tc.want)
		}
	}
}
