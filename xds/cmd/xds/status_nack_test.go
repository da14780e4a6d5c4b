package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/rs/zerolog"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/server"
	"github.com/meshward/meshward/xds/snapshot"
)

// The attack: a node refuses its configuration with an error (and a node
// id) full of terminal escapes and bidirectional overrides, to drive or
// mislead the terminal of the operator who runs `xds status`. The status
// shows the last NACK (node, type, error) bounded and inert.
func TestStatusShowsLastNACK(t *testing.T) {
	cat, err := catalog.Parse("c.yaml", []byte("services:\n  - name: orders\n    endpoints: [{address: 127.0.0.1, port: 1000}]\n    ports: [2000, 3000]\n"))
	if err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef-status"
	r, err := server.Start(context.Background(), server.Config{Catalog: cat, Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Admin: server.AdminAuth{Token: []byte(token)}, Log: zerolog.Nop(),
		Defaults: catalog.Schedule{Grace: time.Millisecond, AckTimeout: 100 * time.Millisecond, HardDeadline: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	tokenFile := write(t, t.TempDir(), "token", token)
	url := "http://" + r.AdminAddr.String()
	if out := runStatus(t, url, tokenFile); !strings.Contains(out, "last NACK: none since start") {
		t.Fatalf("before any NACK:\n%s", out)
	}
	cc, err := grpc.NewClient(r.Addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "evil\x1b]0;pwned\x07\u202e"}
	req := &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNames: []string{snapshot.ClusterName("orders")}}
	if err := s.Send(req); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	hostile := "\x1b[2J\x1b[31mcluster refused" + strings.Repeat("!", 4096)
	if err := s.Send(&discoveryv3.DiscoveryRequest{TypeUrl: req.TypeUrl, ResourceNames: req.ResourceNames,
		ResponseNonce: resp.GetNonce(), ErrorDetail: &rpcstatus.Status{Code: 3, Message: hostile}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	out := runStatus(t, url, tokenFile)
	for !strings.Contains(out, "last NACK 20") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the NACK is read by the stream's goroutine
		out = runStatus(t, url, tokenFile)
	}
	for _, want := range []string{"evil?]0;pwned??", "refused " + resource.EndpointType + ": ?[2J?[31mcluster refused!!!"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%.2000s", want, out)
		}
	}
	if strings.ContainsAny(out, "\x1b\x07\u202e") || strings.Count(out, "!") > 600 {
		t.Errorf("the NACK reached the terminal as sent:\n%q", out)
	}
}

func runStatus(t *testing.T, url, tokenFile string) string {
	t.Helper()
	cmd := status()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--admin", url, "--token-file", tokenFile})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// The leader is printed only when the server reports one (replicas that
// elect one), as a name or as the fields of an object.
func TestPrintLeader(t *testing.T) {
	for _, c := range []struct{ json, want string }{
		{``, ""},
		{`null`, ""},
		{`"xds-1"`, "leader: xds-1\n"},
		{`{"id": "xds-2", "term": 7}`, "leader: id=xds-2 term=7\n"},
		{`{"id": "x\u001b[2J"}`, "leader: id=x?[2J\n"},
		{`[1]`, "leader: (not understood: json: cannot unmarshal array into Go value of type map[string]interface {})\n"},
	} {
		var out bytes.Buffer
		printLeader(&out, []byte(c.json))
		if out.String() != c.want {
			t.Errorf("%s: %q, want %q", c.json, out.String(), c.want)
		}
	}
}
