package filter

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Config
		wantErr string
	}{
		{name: "defaults", in: `{"authorizer_cluster":"authz"}`,
			want: Config{AuthorizerCluster: "authz", AuthorizerAuthority: "meshward-authz", TimeoutMillis: 500, FailMode: FailClosed,
				DecisionCacheEntries: intp(10000), EpochPollMillis: 250, EAAS: eaasDefaults("authz")}},
		{name: "all fields", in: `{"authorizer_cluster":"a","authorizer_authority":"x","timeout_ms":20,"fail_mode":"open","destination":"orders",
			"destination_namespace":"shop","destination_labels":{"app":"orders"},"destination_service":"orders",
			"decision_cache_entries":0,"epoch_poll_ms":100}`,
			want: Config{AuthorizerCluster: "a", AuthorizerAuthority: "x", TimeoutMillis: 20, FailMode: FailOpen, Destination: "orders",
				DestinationNamespace: "shop", DestinationLabels: map[string]string{"app": "orders"}, DestinationService: "orders",
				DecisionCacheEntries: intp(0), EpochPollMillis: 100, EAAS: eaasDefaults("a")}},
		{name: "negative cache", in: `{"authorizer_cluster":"a","decision_cache_entries":-1}`, wantErr: `"decision_cache_entries" is -1`},
		{name: "slow poll", in: `{"authorizer_cluster":"a","epoch_poll_ms":5000}`, wantErr: `"epoch_poll_ms" is 5000`},
		{name: "empty", in: ``, wantErr: "empty"},
		{name: "no cluster", in: `{"timeout_ms":5}`, wantErr: `"authorizer_cluster" is required`},
		{name: "bad fail mode", in: `{"authorizer_cluster":"a","fail_mode":"maybe"}`, wantErr: `"fail_mode" is "maybe"`},
		{name: "unknown field", in: `{"authorizer_cluster":"a","clustr":"b"}`, wantErr: `unknown field "clustr"`},
		{name: "wrong type", in: `{"authorizer_cluster":"a","timeout_ms":"5"}`, wantErr: "timeout_ms"},
		{name: "timeout too long", in: `{"authorizer_cluster":"a","timeout_ms":60001}`, wantErr: "at most 60000"},
		{name: "trailing", in: `{"authorizer_cluster":"a"} {}`, wantErr: "trailing data"},
		{name: "syntax", in: `{"authorizer_cluster":`, wantErr: "plugin configuration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConfig([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"authorizer_cluster":"authz","timeout_ms":20,"fail_mode":"open"}`))
	f.Add([]byte(`{"authorizer_cluster":""}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		if c.AuthorizerCluster == "" || c.TimeoutMillis == 0 || c.TimeoutMillis > maxTimeoutMillis ||
			*c.DecisionCacheEntries < 0 || c.EpochPollMillis < minEpochPoll || c.EpochPollMillis > maxEpochPoll {
			t.Fatalf("accepted invalid config %+v", c)
		}
		if c.FailMode != FailClosed && c.FailMode != FailOpen {
			t.Fatalf("accepted fail mode %q", c.FailMode)
		}
	})
}

func intp(n int) *int { return &n }
