package rpc

import (
	"fmt"

	"github.com/meshward/meshward/api/eaas"
	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/meshward/meshward/extauthz/eaas/subscriber"
)

// narrow keeps an out-of-range width out of range (255) instead of
// wrapping it into a valid one, so validation refuses it.
func narrow(v uint32) uint8 { return uint8(min(v, 255)) }

func pairOf(p *eaasv1.Pair) keymanager.PairID {
	return keymanager.NewPairID(p.GetSubscriber(), p.GetA(), p.GetB())
}

func pairProto(p keymanager.PairID) *eaasv1.Pair {
	return &eaasv1.Pair{Subscriber: p.Subscriber, A: p.A, B: p.B}
}

func keyProto(k keymanager.Key) *eaasv1.Key {
	return &eaasv1.Key{Pair: pairProto(k.Pair), Cipher: string(k.Cipher), Material: k.Material, Primary: k.Primary}
}

func keyOf(k *eaasv1.Key) (keymanager.Key, error) {
	if k == nil || len(k.GetMaterial()) == 0 {
		return keymanager.Key{}, fmt.Errorf("no key")
	}
	c := keymanager.Cipher(k.GetCipher())
	if err := c.Valid(); err != nil {
		return keymanager.Key{}, err
	}
	return keymanager.Key{Pair: pairOf(k.GetPair()), Cipher: c, Material: k.GetMaterial(), Primary: k.GetPrimary()}, nil
}

func keyInfoProto(in keymanager.KeyInfo) *eaasv1.KeyInfo {
	out := &eaasv1.KeyInfo{Pair: pairProto(in.Pair), Cipher: string(in.Cipher), Primary: in.Primary}
	for _, v := range in.Versions {
		out.Versions = append(out.Versions, &eaasv1.KeyVersion{Id: v.Version, CreatedUnix: v.Created.Unix(), Retired: v.Retired})
	}
	return out
}

func membersOf(ms []*eaasv1.Member) []subscriber.Member {
	out := make([]subscriber.Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, subscriber.Member{Requester: m.GetRequester(), Principal: m.GetPrincipal(), Hosts: m.GetHosts()})
	}
	return out
}

func membersProto(ms []subscriber.Member) []*eaasv1.Member {
	out := make([]*eaasv1.Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, &eaasv1.Member{Requester: m.Requester, Principal: m.Principal, Hosts: m.Hosts})
	}
	return out
}

func subscriberProto(s subscriber.Subscriber) *eaasv1.Subscriber {
	return &eaasv1.Subscriber{Id: s.ID, Token: uint32(s.Token), Cipher: s.Cipher, OnUnavailable: s.OnUnavailable,
		Widths:  &eaasv1.Widths{S: uint32(s.Widths.S), R: uint32(s.Widths.R), N: uint32(s.Widths.N), T: uint32(s.Widths.T)},
		Members: membersProto(s.Members)}
}

func subscriberOf(p *eaasv1.Subscriber) subscriber.Subscriber {
	w := p.GetWidths()
	return subscriber.Subscriber{ID: p.GetId(), Token: uint8(min(p.GetToken(), 255)), Cipher: p.GetCipher(),
		OnUnavailable: p.GetOnUnavailable(), Members: membersOf(p.GetMembers()),
		Widths: eaas.Widths{S: narrow(w.GetS()), R: narrow(w.GetR()), N: narrow(w.GetN()), T: narrow(w.GetT())}}
}
