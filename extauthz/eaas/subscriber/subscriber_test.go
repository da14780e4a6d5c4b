package subscriber

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshward/meshward/api/eaas"
)

func valid() Subscriber {
	return Subscriber{ID: 54, Widths: eaas.Widths{S: 8, R: 5, N: 12, T: 2}, Token: 1, Cipher: DefaultCipher,
		OnUnavailable: FailClosed, Members: []Member{
			{Requester: 1, Principal: "cluster.local/ns/shop/sa/a", Hosts: []string{"a.shop.svc.cluster.local", "a"}},
			{Requester: 2, Principal: "cluster.local/ns/shop/sa/b", Hosts: []string{"b"}},
		}}
}

func many(n int) []Member {
	out := make([]Member, n)
	for i := range out {
		out[i] = Member{Requester: uint32(i + 1), Principal: fmt.Sprintf("cluster.local/ns/shop/sa/m%d", i)}
	}
	return out
}

// Every refusal of Validate, each with the field it names.
func TestValidateRefuses(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Subscriber)
		want string
	}{
		{"s of 0 bits", func(s *Subscriber) { s.Widths.S = 0 }, "widths: width s"},
		{"s of 33 bits", func(s *Subscriber) { s.Widths.S = 33 }, "widths: width s"},
		{"r of 33 bits", func(s *Subscriber) { s.Widths.R = 33 }, "widths: width r"},
		{"n of 65 bits", func(s *Subscriber) { s.Widths.N = 65 }, "widths: width n"},
		{"t of 9 bits", func(s *Subscriber) { s.Widths.T = 9 }, "widths: width t"},
		{"deception above 6", func(s *Subscriber) { s.Widths.T = 7 }, "deception factor 7: at most 6"},
		{"id wider than s", func(s *Subscriber) { s.ID = 256 }, "id does not fit in s=8"},
		{"token wider than t", func(s *Subscriber) { s.Token = 4 }, "token does not fit in t=2"},
		{"token with t=0", func(s *Subscriber) { s.Widths.T, s.Token = 0, 1 }, "token does not fit in t=0"},
		{"unknown cipher", func(s *Subscriber) { s.Cipher = "rot13" }, "unknown cipher"},
		{"no cipher", func(s *Subscriber) { s.Cipher = "" }, "unknown cipher"},
		{"on_unavailable", func(s *Subscriber) { s.OnUnavailable = "forward" }, "on_unavailable \"forward\""},
		{"no members", func(s *Subscriber) { s.Members = nil }, "0 members"},
		{"too many members", func(s *Subscriber) { s.Widths.R = 16; s.Members = many(MaxMembers + 1) }, "4097 members"},
		{"requester 0", func(s *Subscriber) { s.Members[1].Requester = 0 }, "members[1]: requester 0"},
		{"requester wider than r", func(s *Subscriber) { s.Members[1].Requester = 32 }, "members[1]: requester 32: want 1 to 31"},
		{"requester twice", func(s *Subscriber) { s.Members[1].Requester = 1 }, "members[1]: requester 1 appears twice"},
		{"principal twice", func(s *Subscriber) { s.Members[1].Principal = s.Members[0].Principal }, "members[1]: principal"},
		{"principal with scheme", func(s *Subscriber) { s.Members[0].Principal = "spiffe://cluster.local/ns/a/sa/b" }, "members[0]: principal"},
		{"principal short", func(s *Subscriber) { s.Members[0].Principal = "cluster.local/ns/a" }, "members[0]: principal"},
		{"principal empty namespace", func(s *Subscriber) { s.Members[0].Principal = "cluster.local/ns//sa/b" }, "members[0]: principal"},
		{"principal no trust domain", func(s *Subscriber) { s.Members[0].Principal = "/ns/a/sa/b" }, "members[0]: principal"},
		{"principal words swapped", func(s *Subscriber) { s.Members[0].Principal = "cluster.local/sa/a/ns/b" }, "members[0]: principal"},
		{"principal too long", func(s *Subscriber) {
			s.Members[0].Principal = "cluster.local/ns/a/sa/" + strings.Repeat("x", 240)
		}, "members[0]: principal"},
		{"too many hosts", func(s *Subscriber) { s.Members[1].Hosts = make([]string, MaxHosts+1) }, "members[1]: 17 hosts"},
		{"empty host", func(s *Subscriber) { s.Members[1].Hosts = []string{""} }, "members[1]: host \"\""},
		{"host with port", func(s *Subscriber) { s.Members[1].Hosts = []string{"b:80"} }, "members[1]: host \"b:80\""},
		{"host with path", func(s *Subscriber) { s.Members[1].Hosts = []string{"b/x"} }, "members[1]: host"},
		{"host with space", func(s *Subscriber) { s.Members[1].Hosts = []string{"b x"} }, "members[1]: host"},
		{"host too long", func(s *Subscriber) { s.Members[1].Hosts = []string{strings.Repeat("b", 254)} }, "members[1]: host"},
		// A source's filter finds its peer by host: a host of two members
		// would send one member's data to the other.
		{"host of another member", func(s *Subscriber) { s.Members[1].Hosts = []string{"a"} }, "members[1]: host \"a\" is already requester 1's"},
		{"host of another member in other case", func(s *Subscriber) {
			s.Members[1].Hosts = []string{"A.Shop.svc.cluster.local"}
		}, "is already requester 1's"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := valid()
			s.Members = append([]Member(nil), s.Members...)
			tc.edit(&s)
			err := s.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("subscriber %d: ", s.ID)) {
				t.Fatalf("error %q does not name the subscriber", err)
			}
		})
	}
}

// The widths' limits are accepted at their edges.
func TestValidateAcceptsLimits(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Subscriber)
	}{
		{"seed's Fig. 3", func(*Subscriber) {}},
		{"s=32 and the largest id", func(s *Subscriber) { s.Widths.S, s.ID = 32, 1<<32-1 }},
		{"r=32 and the largest requester", func(s *Subscriber) { s.Widths.R, s.Members[1].Requester = 32, 1<<32-1 }},
		{"r=1: one member can pair with none, but it is well formed", func(s *Subscriber) {
			s.Widths.R, s.Members = 1, s.Members[:1]
		}},
		{"n=64", func(s *Subscriber) { s.Widths.N = 64 }},
		{"n=1", func(s *Subscriber) { s.Widths.N = 1 }},
		{"t=0, no deception", func(s *Subscriber) { s.Widths.T, s.Token = 0, 0 }},
		{"t=6 and the largest token", func(s *Subscriber) { s.Widths.T, s.Token = 6, 63 }},
		{"MaxMembers", func(s *Subscriber) { s.Widths.R = 13; s.Members = many(MaxMembers) }},
		{"MaxHosts", func(s *Subscriber) {
			s.Members[1].Hosts = nil
			for i := range MaxHosts {
				s.Members[1].Hosts = append(s.Members[1].Hosts, fmt.Sprintf("b%d", i))
			}
		}},
		{"every cipher", func(s *Subscriber) { s.Cipher = "insecure-blowfish" }},
		{"the seed's plaintext forward", func(s *Subscriber) { s.OnUnavailable = ForwardPlain }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := valid()
			s.Members = append([]Member(nil), s.Members...)
			tc.edit(&s)
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	s := valid()
	if s.Messages() != 4 {
		t.Fatalf("Messages %d", s.Messages())
	}
	if s.CipherID() != eaas.AES256GCM {
		t.Fatalf("CipherID %d", s.CipherID())
	}
	s.Cipher = "nope"
	if s.CipherID() != 0 {
		t.Fatalf("unknown cipher id %d", s.CipherID())
	}
	if m, ok := s.Member(2); !ok || m.Principal != "cluster.local/ns/shop/sa/b" {
		t.Fatalf("Member(2) %v %v", m, ok)
	}
	if _, ok := s.Member(3); ok {
		t.Fatal("Member(3) found")
	}
}
