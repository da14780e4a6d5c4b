package rpc

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
)

type call struct {
	method  string
	in, out proto.Message
}

// calls are one call of every EaaS method, each well formed enough that an
// admitted caller gets past the access rules.
func calls() []call {
	pair := &eaasv1.Pair{Subscriber: subscriberID, A: 1, B: 2}
	return []call{
		{eaasv1.KeyManager_GetKey_FullMethodName, &eaasv1.KeyRequest{Pair: pair, Cipher: "aes256-gcm"}, &eaasv1.Key{}},
		{eaasv1.KeyManager_Rotate_FullMethodName, &eaasv1.PairRequest{Pair: pair}, &eaasv1.RotateResponse{}},
		{eaasv1.KeyManager_ListKeys_FullMethodName, &eaasv1.ListKeysRequest{}, &eaasv1.ListKeysResponse{}},
		{eaasv1.Cryptor_Seal_FullMethodName, &eaasv1.CryptRequest{}, &eaasv1.CryptResponse{}},
		{eaasv1.Cryptor_Open_FullMethodName, &eaasv1.CryptRequest{}, &eaasv1.CryptResponse{}},
		{eaasv1.Cryptor_Rewrap_FullMethodName, &eaasv1.CryptRequest{}, &eaasv1.CryptResponse{}},
		{eaasv1.Coordinator_Assign_FullMethodName, &eaasv1.Subscriber{}, &eaasv1.AssignResponse{}},
		{eaasv1.Coordinator_Process_FullMethodName, &eaasv1.Frames{}, &eaasv1.Frames{}},
		{eaasv1.Coordinator_Rewrap_FullMethodName, &eaasv1.RewrapRequest{}, &eaasv1.RewrapResponse{}},
		{eaasv1.Coordinator_Status_FullMethodName, &eaasv1.StatusRequest{}, &eaasv1.StatusResponse{}},
		{eaasv1.Registrar_Register_FullMethodName, &eaasv1.RegisterRequest{}, &eaasv1.RegisterResponse{}},
	}
}

// What a caller gets: admitted (any answer but an access refusal),
// refused for lack of credentials, refused as the wrong caller, or
// admitted by the rule and refused by the coordinator as no member.
const (
	admitted  = "admitted"
	unauth    = "unauthenticated"
	denied    = "denied"
	notMember = "not-member"
)

func outcome(err error) string {
	s := status.Convert(err)
	switch {
	case err == nil:
		return admitted
	case s.Code() == codes.Unauthenticated:
		return unauth
	case s.Code() == codes.PermissionDenied && strings.Contains(s.Message(), "may not call it"):
		return denied
	case s.Code() == codes.PermissionDenied && strings.HasPrefix(s.Message(), "eaas-not-member"):
		return notMember
	case s.Code() == codes.PermissionDenied:
		return "permission denied: " + s.Message()
	}
	return admitted
}

// Every EaaS method with every kind of caller, over gRPC with mutual TLS:
// a workload with a mesh certificate gets no key, no cryptography and no
// registration; bearer tokens count only when exact and with their scheme.
func TestAccessRules(t *testing.T) {
	w := newWorld(t)
	addr, _ := w.grpcServer(t, testAccess().ServerOptions()...)
	m := map[string]string{} // method short names
	for _, c := range calls() {
		m[c.method] = c.method[strings.LastIndex(c.method[:strings.LastIndex(c.method, "/")], ".")+1:]
	}
	everything := func(o string) map[string]string {
		out := map[string]string{}
		for _, c := range calls() {
			out[m[c.method]] = o
		}
		return out
	}
	with := func(base map[string]string, kv ...string) map[string]string {
		for i := 0; i < len(kv); i += 2 {
			base[kv[i]] = kv[i+1]
		}
		return base
	}
	cases := []struct {
		name, id string
		auth     []string
		want     map[string]string
	}{
		{"no certificate, no token", "", nil, everything(unauth)},
		{"no certificate, a wrong token", "", []string{"Bearer wrong"}, everything(unauth)},
		{"no certificate, the bare token", "", []string{operatorTok}, everything(unauth)},
		{"no certificate, the token with a lower-case scheme", "", []string{"bearer " + operatorTok}, everything(unauth)},
		{"no certificate, the token and another value", "", []string{"Bearer " + operatorTok, "Bearer x"}, everything(unauth)},
		{"no certificate, an empty bearer", "", []string{"Bearer "}, everything(unauth)},
		{"a member's mesh certificate", idA, nil, with(everything(denied), "Coordinator/Process", admitted)},
		{"a member with a wrong token", idA, []string{"Bearer wrong"}, with(everything(denied), "Coordinator/Process", admitted)},
		{"a workload of no subscriber", idOutsider, nil, with(everything(denied), "Coordinator/Process", notMember)},
		{"a coordinator", idCoord, nil, with(everything(denied), "KeyManager/GetKey", admitted, "KeyManager/Rotate", admitted,
			"KeyManager/ListKeys", admitted, "Cryptor/Seal", admitted, "Cryptor/Open", admitted, "Cryptor/Rewrap", admitted,
			"Coordinator/Process", notMember)},
		{"a registrar", idRegistrar, nil, with(everything(denied), "Coordinator/Assign", admitted, "Coordinator/Process", notMember)},
		{"an operator", "", []string{"Bearer " + operatorTok}, with(everything(denied), "Registrar/Register", admitted,
			"Coordinator/Assign", admitted, "Coordinator/Rewrap", admitted, "Coordinator/Status", admitted,
			"KeyManager/Rotate", admitted, "KeyManager/ListKeys", admitted)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn := w.dial(t, addr, tc.id)
			for _, c := range calls() {
				ctx := context.Background()
				for _, v := range tc.auth {
					ctx = metadata.AppendToOutgoingContext(ctx, "authorization", v)
				}
				err := conn.Invoke(ctx, c.method, c.in, c.out)
				if got, want := outcome(err), tc.want[m[c.method]]; got != want {
					t.Errorf("%s: %s (%v), want %s", c.method, got, err, want)
				}
			}
		})
	}
}

// Every method of the four services has a rule of its own: a method added
// to the proto must be given one on purpose.
func TestEveryMethodHasARule(t *testing.T) {
	for _, sd := range []grpc.ServiceDesc{eaasv1.Registrar_ServiceDesc, eaasv1.Coordinator_ServiceDesc,
		eaasv1.KeyManager_ServiceDesc, eaasv1.Cryptor_ServiceDesc} {
		if !strings.HasPrefix("/"+sd.ServiceName+"/", eaasPrefix) {
			t.Fatalf("service %s is outside %s: the access rules would not see it", sd.ServiceName, eaasPrefix)
		}
		if len(sd.Streams) != 0 {
			t.Fatalf("service %s has streams: the access rules cover unary calls only", sd.ServiceName)
		}
		for _, md := range sd.Methods {
			if _, ok := rules["/"+sd.ServiceName+"/"+md.MethodName]; !ok {
				t.Errorf("%s/%s has no access rule", sd.ServiceName, md.MethodName)
			}
		}
	}
}

// A method of the EaaS services without a rule is refused to everyone,
// by the tap and by the interceptor alone.
func TestAMethodWithoutARuleIsRefused(t *testing.T) {
	w := newWorld(t)
	seal := eaasv1.Cryptor_Seal_FullMethodName
	saved := rules[seal]
	delete(rules, seal)
	t.Cleanup(func() { rules[seal] = saved })
	for name, opts := range map[string][]grpc.ServerOption{
		"tap and interceptor": testAccess().ServerOptions(),
		"interceptor only":    {grpc.ChainUnaryInterceptor(testAccess().Interceptor())},
	} {
		addr, _ := w.grpcServer(t, opts...)
		for _, id := range []string{idCoord, idA} {
			err := w.dial(t, addr, id).Invoke(context.Background(), seal, &eaasv1.CryptRequest{}, &eaasv1.CryptResponse{})
			if got := outcome(err); got != denied {
				t.Fatalf("%s: %s calling a method without a rule: %s (%v)", name, id, got, err)
			}
		}
		// Unknown methods of the services are gRPC's to refuse; no rule
		// admits them either.
		err := w.dial(t, addr, idCoord).Invoke(context.Background(), "/meshward.eaas.v1.Cryptor/Export",
			&eaasv1.CryptRequest{}, &eaasv1.CryptResponse{})
		if err == nil {
			t.Fatalf("%s: an unknown method answered", name)
		}
	}
}
