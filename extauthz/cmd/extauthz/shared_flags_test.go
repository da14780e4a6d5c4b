package main

import (
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// TestSharedFlagsRefusePlaintext: the shared state is where quarantines are
// lifted; it is never reached over the network without client certificates.
func TestSharedFlagsRefusePlaintext(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    sharedFlags
		want string // "" : accepted
	}{
		{"off", sharedFlags{}, ""},
		{"https without certificates", sharedFlags{etcd: []string{"https://127.0.0.1:2379"}}, "--shared-etcd-ca"},
		{"http", sharedFlags{etcd: []string{"http://127.0.0.1:2379"}}, "--shared-etcd-ca"},
		{"one of two over the network", sharedFlags{etcd: []string{"unix:///run/etcd.sock", "http://127.0.0.1:2379"}}, "plaintext only over unix"},
		{"missing CA file", sharedFlags{etcd: []string{"https://127.0.0.1:2379"}, ca: "/nonexistent/ca.pem"}, "shared etcd"},
		{"unix socket", sharedFlags{etcd: []string{"unix:///run/etcd.sock"}}, ""},
	} {
		st, done, err := tc.f.store(zerolog.Nop())
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want it to say %q", tc.name, err, tc.want)
		}
		if err == nil {
			if (st == nil) != (len(tc.f.etcd) == 0) {
				t.Errorf("%s: store %v", tc.name, st)
			}
			done()
		}
	}
}
