package eaas

import "testing"

func TestMark(t *testing.T) {
	for _, id := range []uint32{0, 54, 1<<32 - 1} {
		if got, err := ParseMark(FormatMark(id)); err != nil || got != id {
			t.Fatalf("%d: %d, %v", id, got, err)
		}
	}
	if FormatMark(54) != "v1; subscriber=54" {
		t.Fatalf("mark %q", FormatMark(54))
	}
	for _, bad := range []string{"", "v1", "v2; subscriber=54", "v1;subscriber=54", "v1; subscriber=", "v1; subscriber=054",
		"v1; subscriber=-1", "v1; subscriber=4294967296", "v1; subscriber=54, v1; subscriber=55", "V1; subscriber=54",
		"v1; subscriber=54 ", "v1; subscriber=+54"} {
		if _, err := ParseMark(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCipherNames(t *testing.T) {
	for id, name := range cipherNames {
		if got, err := ParseCipher(name); err != nil || got != id {
			t.Fatalf("%s: %d, %v", name, got, err)
		}
		if id.Insecure() != (id >= 100) {
			t.Fatalf("%s: insecure %v", name, id.Insecure())
		}
	}
	if _, err := ParseCipher("des"); err == nil {
		t.Fatal("a legacy cipher accepted without its insecure- name")
	}
	if CipherID(7).String() != "" || CipherID(7).Insecure() {
		t.Fatal("unknown id has a name")
	}
}
