package proxywasm

import (
	"reflect"
	"testing"
)

func TestPairsRoundTrip(t *testing.T) {
	for _, pairs := range [][][2]string{
		{},
		{{":method", "GET"}},
		{{"a", ""}, {"", "b"}, {"x-long", string(make([]byte, 300))}},
	} {
		got, err := decodePairs(encodePairs(pairs))
		if err != nil {
			t.Fatal(err)
		}
		if len(pairs) == 0 && len(got) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, pairs) {
			t.Fatalf("got %q, want %q", got, pairs)
		}
	}
}

func FuzzDecodePairs(f *testing.F) {
	f.Add(encodePairs([][2]string{{":path", "/"}, {"k", "v"}}))
	f.Add([]byte{1, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		pairs, err := decodePairs(b)
		if err != nil {
			return
		}
		again, err := decodePairs(encodePairs(pairs))
		if err != nil || len(again) != len(pairs) {
			t.Fatalf("re-encoding %q failed: %v", pairs, err)
		}
	})
}
