package bench

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// profileBuilder writes the parts of profile.proto parseProfile reads, as
// runtime/pprof does, with packed values where asked.
type profileBuilder struct {
	strs []string
	b    []byte
}

func (p *profileBuilder) str(s string) uint64 {
	for i, x := range p.strs {
		if x == s {
			return uint64(i)
		}
	}
	p.strs = append(p.strs, s)
	return uint64(len(p.strs) - 1)
}

func (p *profileBuilder) sampleType(typ, unit string) {
	var m []byte
	m = protowire.AppendTag(m, valueTypeType, protowire.VarintType)
	m = protowire.AppendVarint(m, p.str(typ))
	m = protowire.AppendTag(m, 2, protowire.VarintType)
	m = protowire.AppendVarint(m, p.str(unit))
	p.b = protowire.AppendTag(p.b, profileSampleType, protowire.BytesType)
	p.b = protowire.AppendBytes(p.b, m)
}

func (p *profileBuilder) sample(packed bool, values []uint64, labels ...string) {
	var m []byte
	m = protowire.AppendTag(m, 1, protowire.BytesType) // location ids, skipped
	m = protowire.AppendBytes(m, protowire.AppendVarint(nil, 7))
	if packed {
		var v []byte
		for _, x := range values {
			v = protowire.AppendVarint(v, x)
		}
		m = protowire.AppendTag(m, sampleValue, protowire.BytesType)
		m = protowire.AppendBytes(m, v)
	} else {
		for _, x := range values {
			m = protowire.AppendTag(m, sampleValue, protowire.VarintType)
			m = protowire.AppendVarint(m, x)
		}
	}
	for i := 0; i+1 < len(labels); i += 2 {
		var l []byte
		l = protowire.AppendTag(l, labelKey, protowire.VarintType)
		l = protowire.AppendVarint(l, p.str(labels[i]))
		l = protowire.AppendTag(l, labelStr, protowire.VarintType)
		l = protowire.AppendVarint(l, p.str(labels[i+1]))
		m = protowire.AppendTag(m, sampleLabel, protowire.BytesType)
		m = protowire.AppendBytes(m, l)
	}
	p.b = protowire.AppendTag(p.b, profileSample, protowire.BytesType)
	p.b = protowire.AppendBytes(p.b, m)
}

func (p *profileBuilder) bytes() []byte {
	out := append([]byte(nil), p.b...)
	out = protowire.AppendTag(out, 9, protowire.Fixed64Type) // a field of another wire type, skipped
	out = protowire.AppendFixed64(out, 1)
	for _, s := range p.strs {
		out = protowire.AppendTag(out, profileStringTable, protowire.BytesType)
		out = protowire.AppendString(out, s)
	}
	return out
}

func sampleProfile() *profileBuilder {
	p := &profileBuilder{}
	p.str("")
	p.sampleType("samples", "count")
	p.sampleType("cpu", "nanoseconds")
	p.sample(false, []uint64{1, 10e6}, sideLabel, sideServer)
	p.sample(true, []uint64{2, 20e6}, "other", "x", sideLabel, sideClient)
	p.sample(false, []uint64{1, 10e6}, sideLabel, sideServer)
	p.sample(false, []uint64{1, 5e6})
	return p
}

func TestParseProfile(t *testing.T) {
	got, err := parseProfile(sampleProfile().bytes(), sideLabel)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{sideServer: 20 * time.Millisecond, sideClient: 20 * time.Millisecond, "": 5 * time.Millisecond}
	if len(got) != len(want) || got[sideServer] != want[sideServer] || got[sideClient] != want[sideClient] || got[""] != want[""] {
		t.Fatalf("got %v, want %v", got, want)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(sampleProfile().bytes())
	w.Close()
	if viaGzip, err := cpuByLabel(gz.Bytes(), sideLabel); err != nil || viaGzip[sideServer] != want[sideServer] {
		t.Fatalf("gzipped: %v %v", viaGzip, err)
	}
}

func TestParseProfileRefuses(t *testing.T) {
	good := sampleProfile().bytes()
	noCPU := &profileBuilder{}
	noCPU.sampleType("samples", "count")
	noCPU.sample(false, []uint64{1})
	badLabel := sampleProfile()
	badLabel.b = protowire.AppendTag(badLabel.b, profileSample, protowire.BytesType)
	badLabel.b = protowire.AppendBytes(badLabel.b, protowire.AppendVarint(protowire.AppendTag(nil, sampleLabel, protowire.VarintType), 5))
	short := sampleProfile()
	short.sample(false, []uint64{1}, sideLabel, sideServer)
	outside := &profileBuilder{}
	outside.sampleType("cpu", "nanoseconds")
	var l []byte
	l = protowire.AppendTag(l, labelKey, protowire.VarintType)
	l = protowire.AppendVarint(l, 1000)
	m := protowire.AppendBytes(protowire.AppendTag(protowire.AppendVarint(protowire.AppendTag(nil, sampleValue, protowire.VarintType), 1), sampleLabel, protowire.BytesType), l)
	outside.b = protowire.AppendBytes(protowire.AppendTag(outside.b, profileSample, protowire.BytesType), m)
	for _, tc := range []struct {
		name, want string
		b          []byte
	}{
		{"truncated", "byte", good[:len(good)-3]},
		{"no cpu type", `no "cpu"`, noCPU.bytes()},
		{"label not a message", "sample 4", badLabel.bytes()},
		{"no cpu value", "1 values", short.bytes()},
		{"string index outside the table", "outside the table", outside.bytes()},
	} {
		if _, err := parseProfile(tc.b, sideLabel); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	if _, err := cpuByLabel([]byte("not gzip"), sideLabel); err == nil {
		t.Error("not gzip: parsed")
	}
}

func FuzzParseProfile(f *testing.F) {
	f.Add(sampleProfile().bytes())
	f.Add([]byte{0x12, 0x02, 0x1a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseProfile(b, sideLabel)
		if err == nil && got == nil {
			t.Fatal("no error and no map")
		}
	})
}
