package filter

import (
	"strings"
	"testing"
)

func eaasDefaults(cluster string) EAASConfig {
	return EAASConfig{Cluster: cluster, MaxBodyBytes: 8 << 20, Direction: Inbound, TimeoutMillis: 5000}
}

func TestEAASConfig(t *testing.T) {
	tests := []struct {
		name, in string
		want     EAASConfig
		wantErr  string
	}{
		{name: "off", in: `{}`, want: eaasDefaults("authz")},
		{name: "on", in: `{"enabled":true}`, want: EAASConfig{Enabled: true, Cluster: "authz", MaxBodyBytes: 8 << 20, Direction: Inbound, TimeoutMillis: 5000}},
		{name: "all fields", in: `{"enabled":true,"cluster":"coord","max_body_bytes":1024,"direction":"outbound","timeout_ms":100}`,
			want: EAASConfig{Enabled: true, Cluster: "coord", MaxBodyBytes: 1024, Direction: Outbound, TimeoutMillis: 100}},
		{name: "direction", in: `{"enabled":true,"direction":"sideways"}`, wantErr: `"eaas.direction" is "sideways"`},
		{name: "outbound needs enabled", in: `{"direction":"outbound"}`, wantErr: `"eaas.enabled" is false`},
		{name: "body too large", in: `{"enabled":true,"max_body_bytes":67108865}`, wantErr: `"eaas.max_body_bytes" is 67108865, want 1 to 67108864`},
		{name: "body negative", in: `{"enabled":true,"max_body_bytes":-1}`, wantErr: `"eaas.max_body_bytes" is -1`},
		{name: "timeout", in: `{"enabled":true,"timeout_ms":60001}`, wantErr: `"eaas.timeout_ms" is 60001`},
		{name: "cluster spaces", in: `{"enabled":true,"cluster":" c"}`, wantErr: `"eaas.cluster"`},
		{name: "unknown field", in: `{"enabled":true,"token":"x"}`, wantErr: `unknown field "token"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(`{"authorizer_cluster":"authz","eaas":` + tc.in + `}`))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.EAAS != tc.want {
				t.Fatalf("%+v, %v; want %+v", c.EAAS, err, tc.want)
			}
		})
	}
}
