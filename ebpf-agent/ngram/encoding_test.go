package ngram

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestEncodingRoundTrip(t *testing.T) {
	m := New(6)
	m.Train([]uint32{1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5, 6, 7, 300, 0})
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Model
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if got.n != m.n || !reflect.DeepEqual(got.counts, m.counts) {
		t.Fatalf("decoded %+v, want %+v", got, m)
	}
	again, _ := got.MarshalBinary()
	if !bytes.Equal(again, b) {
		t.Fatal("the same model encodes to other bytes")
	}
}

func TestUnmarshalErrors(t *testing.T) {
	m := New(3)
	m.Train([]uint32{1, 2, 3, 4, 5})
	good, _ := m.MarshalBinary()
	edit := func(off int, v byte) []byte { b := bytes.Clone(good); b[off] = v; return b }
	swapped := bytes.Clone(good)
	copy(swapped[10:22], good[22:34])
	copy(swapped[22:34], good[10:22])
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "not an encoded model"},
		{"magic", edit(0, 'X'), "not an encoded model"},
		{"version", edit(4, 9), "byte 4: format version 9"},
		{"n", edit(5, 1), "byte 5: n-gram length 1"},
		{"short", good[:len(good)-1], "45 bytes for 3 n-grams, want 46"},
		{"entries", edit(6, 200), "for 200 n-grams"},
		{"order", swapped, "byte 22: n-gram 1 out of order"},
	} {
		var d Model
		err := d.UnmarshalBinary(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
	zero := bytes.Clone(good)
	copy(zero[18:22], []byte{0, 0, 0, 0})
	if err := new(Model).UnmarshalBinary(zero); err == nil || !strings.Contains(err.Error(), "byte 18: n-gram 0 has count 0") {
		t.Errorf("zero count: %v", err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	m := New(4)
	m.Train([]uint32{1, 2, 3, 4, 5, 6, 1, 2, 3})
	good, _ := m.MarshalBinary()
	f.Add(good)
	f.Add([]byte("MWNG\x01\x04\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Model
		if d.UnmarshalBinary(b) != nil {
			return
		}
		again, err := d.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted input does not re-encode to itself")
		}
	})
}
