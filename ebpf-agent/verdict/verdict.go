// Package verdict sends the agent's findings to the authorizer's verdict API
// over gRPC, with the bearer token the authorizer requires.
package verdict

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
)

// Client reports verdicts.
type Client struct {
	cc   *grpc.ClientConn
	api  verdictv1.VerdictsClient
	node string
}

// Dial connects to the authorizer. With creds nil the connection is
// plaintext, which is only for loopback; the token still travels with it.
func Dial(addr, token, node string, creds credentials.TransportCredentials) (*Client, error) {
	if token == "" {
		return nil, errors.New("verdict: empty token")
	}
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds), grpc.WithPerRPCCredentials(bearer(token)))
	if err != nil {
		return nil, fmt.Errorf("verdict: %w", err)
	}
	return &Client{cc: cc, api: verdictv1.NewVerdictsClient(cc), node: node}, nil
}

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false so the agent can talk over loopback in
// local runs; in a cluster Dial gets mTLS credentials.
func (bearer) RequireTransportSecurity() bool { return false }

// Report sends one verdict and returns the authorizer's quarantine epoch.
func (c *Client) Report(ctx context.Context, v *verdictv1.Verdict) (uint64, error) {
	if v.Node == "" {
		v.Node = c.node
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ack, err := c.api.Report(ctx, v, grpc.WaitForReady(true))
	if err != nil {
		return 0, fmt.Errorf("verdict for %s: %w", v.GetWorkload(), err)
	}
	return ack.GetEpoch(), nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.cc.Close() }
