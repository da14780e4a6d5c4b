package eaas

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const sampleEnrolment = `{"version":1,"coordinator":"coordinator-0","subscriber":54,"requester":1,"widths":{"s":8,"r":5,"n":12,"t":2},
 "token":1,"seq":{"start":9,"count":1024},"cipher":"aes256-gcm","max_body_bytes":8388608,
 "peers":[{"requester":2,"principal":"cluster.local/ns/shop/sa/b","hosts":["b.shop.svc.cluster.local","b"]}]}`

func TestDecodeEnrolmentSample(t *testing.T) {
	e, err := DecodeEnrolment([]byte(sampleEnrolment))
	if err != nil {
		t.Fatal(err)
	}
	want := Enrolment{Version: 1, Coordinator: "coordinator-0", Subscriber: 54, Requester: 1, Widths: fig3Widths,
		Token: 1, Seq: SeqLease{9, 1024}, Cipher: AES256GCM, MaxBodyBytes: 8 << 20,
		Peers: []Peer{{Requester: 2, Principal: "cluster.local/ns/shop/sa/b", Hosts: []string{"b.shop.svc.cluster.local", "b"}}}}
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("%+v\nwant %+v", e, want)
	}
	if p, ok := e.PeerByRequester(2); !ok || p.Principal != "cluster.local/ns/shop/sa/b" {
		t.Fatal("peer 2 not found")
	}
	if _, ok := e.PeerByRequester(3); ok {
		t.Fatal("peer 3 found")
	}
}

// edit replaces one occurrence of old in the sample.
func edit(old, new string) string {
	if !strings.Contains(sampleEnrolment, old) {
		panic("sample lacks " + old)
	}
	return strings.Replace(sampleEnrolment, old, new, 1)
}

func peers(n int, f func(i int) string) string {
	var ps []string
	for i := 0; i < n; i++ {
		ps = append(ps, f(i))
	}
	return edit(`[{"requester":2,"principal":"cluster.local/ns/shop/sa/b","hosts":["b.shop.svc.cluster.local","b"]}]`, "["+strings.Join(ps, ",")+"]")
}

func TestDecodeEnrolmentErrors(t *testing.T) {
	wide := func(s string) string { return strings.Replace(s, `"n":12`, `"n":32`, 1) }
	tests := []struct{ name, in, want string }{
		{"empty", "", "empty body"},
		{"not JSON", "{", "truncated"},
		{"trailing", sampleEnrolment + "{}", "trailing data"},
		{"unknown field", edit(`"version":1`, `"version":1,"debug":true`), `$ at offset`},
		{"case-folded field", edit(`"version":1`, `"Version":1`), `unknown field "Version"`},
		{"repeated field", edit(`"token":1`, `"token":1,"token":2`), `repeated field "token"`},
		{"nested unknown", edit(`"t":2}`, `"t":2,"x":0}`), `$.widths at offset`},
		{"peer unknown", edit(`"requester":2,`, `"requester":2,"key":"k",`), `$.peers[0] at offset`},
		{"object for scalar", edit(`"token":1`, `"token":{}`), `$.token at offset`},
		{"scalar for array", edit(`"hosts":["b.shop.svc.cluster.local","b"]`, `"hosts":"b"`), `$.peers[0].hosts at offset`},
		{"wrong type", edit(`"subscriber":54`, `"subscriber":"54"`), `field "subscriber"`},
		{"negative", edit(`"requester":1`, `"requester":-1`), `field "requester"`},
		{"version", edit(`"version":1`, `"version":2`), `"version" is 2`},
		{"coordinator empty", edit(`"coordinator-0"`, `""`), `"coordinator"`},
		{"coordinator odd", edit(`"coordinator-0"`, `"c\n0"`), `"coordinator"`},
		{"widths", edit(`"s":8`, `"s":0`), `"widths": width s is 0`},
		{"subscriber too wide", edit(`"subscriber":54`, `"subscriber":256`), `"subscriber" 256 does not fit in s=8`},
		{"requester too wide", edit(`"requester":1`, `"requester":32`), `"requester" 32 does not fit in r=5`},
		{"token too wide", edit(`"token":1`, `"token":4`), `"token" 4 does not fit in t=2`},
		{"token past a byte", edit(`"token":1`, `"token":256`), `field "token"`},
		{"seq empty", edit(`"count":1024`, `"count":0`), `"seq"`},
		{"seq past n", edit(`"start":9`, `"start":3073`), `"seq"`},
		{"seq start past n", edit(`"start":9`, `"start":4096`), `"seq"`},
		{"cipher unknown", edit(`"aes256-gcm"`, `"rot13"`), `unknown cipher`},
		{"cipher missing", edit(`"cipher":"aes256-gcm",`, ``), `"cipher" is missing`},
		{"max body 0", edit(`8388608`, `0`), `"max_body_bytes" is 0`},
		{"max body huge", edit(`8388608`, `1099511627776`), `"max_body_bytes"`},
		{"peer requester too wide", edit(`"requester":2`, `"requester":40`), `"peers"[0].requester 40`},
		{"principal with scheme", edit(`"cluster.local/ns/shop/sa/b"`, `"spiffe://cluster.local/ns/shop/sa/b"`), `"peers"[0].principal`},
		{"principal with space", edit(`"cluster.local/ns/shop/sa/b"`, `"cluster.local/ns/shop/sa/b c"`), `"peers"[0].principal`},
		{"hosts not a list", edit(`["b.shop.svc.cluster.local","b"]`, `null`), `hosts`},
		{"upper-case host", edit(`"b"]`, `"B"]`), `"peers"[0].hosts[1]`},
		{"host with port", edit(`"b"]`, `"b:80"]`), `"peers"[0].hosts[1]`},
		{"too many hosts", edit(`"b"]`, `"b"`+strings.Repeat(`,"x"`, MaxHostsPerPeer-1)+`]`), `hosts has 17 entries`},
		{"too large", edit(`"coordinator-0"`, `"`+strings.Repeat("a", MaxEnrolmentBytes)+`"`), "limit 4194304"},
		{"repeated peer", peers(2, func(int) string { return `{"requester":2,"principal":"p","hosts":["x"]}` }), `"peers"[1].requester 2 is repeated`},
		{"one host, two peers", peers(2, func(i int) string { return fmt.Sprintf(`{"requester":%d,"principal":"p","hosts":["x"]}`, i) }),
			`"peers"[1].hosts[0] "x" belongs to an earlier peer`},
		{"too many peers", wide(strings.Replace(peers(MaxPeers+1, func(i int) string {
			return fmt.Sprintf(`{"requester":%d,"principal":"p","hosts":["h%d"]}`, i, i)
		}), `"r":5`, `"r":16`, 1)), `"peers" has 4097 entries, limit 4096`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeEnrolment([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "eaas enrolment: ") {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	max := strings.Replace(peers(MaxPeers, func(i int) string {
		return fmt.Sprintf(`{"requester":%d,"principal":"p","hosts":["h%d"]}`, i, i)
	}), `"r":5`, `"r":16`, 1)
	if _, err := DecodeEnrolment([]byte(max)); err != nil {
		t.Fatalf("%d peers: %v", MaxPeers, err)
	}
}

func TestDecodeErrorAnswer(t *testing.T) {
	if a, err := DecodeErrorAnswer([]byte(`{"reason":"no-replica","message":"all cryptors down"}`)); err != nil || a.Reason != "no-replica" {
		t.Fatalf("%+v, %v", a, err)
	}
	for _, bad := range []string{``, `{}`, `{"reason":""}`, `{"reason":"Bad"}`, `{"reason":"a\r\nx-evil: 1"}`,
		`{"reason":"` + strings.Repeat("a", 65) + `"}`, `{"reason":"a","extra":1}`, `{"reason":"a","Reason":"b"}`,
		`{"reason":"a"} x`, `{"reason":"a","message":"` + strings.Repeat("m", MaxErrorAnswerBytes) + `"}`} {
		if _, err := DecodeErrorAnswer([]byte(bad)); err == nil || !strings.HasPrefix(err.Error(), "eaas error answer: ") {
			t.Errorf("%.60q: err = %v", bad, err)
		}
	}
}

func FuzzDecodeEnrolment(f *testing.F) {
	f.Add([]byte(sampleEnrolment))
	f.Add([]byte(`{"version":1,"peers":[{"hosts":[[]]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEnrolment(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "eaas enrolment: ") {
				t.Fatalf("error does not say what: %v", err)
			}
			return
		}
		again, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeEnrolment(again)
		if err != nil || !reflect.DeepEqual(back, e) {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, e)
		}
	})
}
