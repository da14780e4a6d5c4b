package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/meshward/meshward/internal/identity"
)

func eaasCmd() *cobra.Command {
	c := &cobra.Command{Use: "eaas", Short: "Encryption as a Service: run roles, register subscribers, manage keys"}
	keys := &cobra.Command{Use: "keys", Short: "list and rotate the keys of requester pairs"}
	keys.AddCommand(keysList(), keysRotate())
	kek := &cobra.Command{Use: "kek", Short: "the key-encryption key that protects keysets at rest"}
	kek.AddCommand(kekGenerate())
	c.AddCommand(eaasServe(), register(), keys, keysRotate(), rewrap(), status(), kek)
	return c
}

// conn is how an operator command reaches the roles' gRPC API.
type conn struct {
	addr, ca, tokenFile, cert, key string
	timeout                        time.Duration
}

func (c *conn) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.addr, "addr", "127.0.0.1:9193", "the EaaS roles' gRPC API")
	cmd.Flags().StringVar(&c.ca, "ca", "", "the mesh CA (PEM) that signed the server's certificate")
	cmd.Flags().StringVar(&c.tokenFile, "token-file", "", "the operator's bearer token (the authorizer's --verdict-token-file)")
	cmd.Flags().StringVar(&c.cert, "tls-cert", "", "a mesh client certificate to present (optional)")
	cmd.Flags().StringVar(&c.key, "tls-key", "", "its key")
	cmd.Flags().DurationVar(&c.timeout, "timeout", 10*time.Second, "how long to wait for the answer")
	_ = cmd.MarkFlagRequired("ca")
}

// call runs fn with a connection and the operator's token in the metadata.
func (c *conn) call(fn func(context.Context, *grpc.ClientConn) error) error {
	tlsCfg, err := identity.LoadClientTLS(c.cert, c.key, c.ca)
	if err != nil {
		return err
	}
	cc, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		return err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if c.tokenFile != "" {
		tok, err := readToken(c.tokenFile)
		if err != nil {
			return err
		}
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+string(tok))
	}
	return fn(ctx, cc)
}

func printJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, UseProtoNames: true}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

func register() *cobra.Command {
	var cn conn
	var req eaasv1.RegisterRequest
	var members []string
	var widths string
	var deception uint32
	c := &cobra.Command{
		Use:   "register",
		Short: "register a subscriber (seed 001, Fig. 4): answers its token and coordinator",
		Example: "  extauthz eaas register --ca ca.pem --token-file token --subscriber 54 --deception-factor 2 \\\n" +
			"    --member cluster.local/ns/shop/sa/orders=orders.shop.svc.cluster.local,orders --member cluster.local/ns/shop/sa/pay=pay",
		RunE: func(cmd *cobra.Command, _ []string) error {
			req.DeceptionFactor = deception
			ms, err := parseMembers(members)
			if err != nil {
				return err
			}
			req.Members = ms
			if req.Widths, err = parseWidths(widths); err != nil {
				return err
			}
			return cn.call(func(ctx context.Context, cc *grpc.ClientConn) error {
				resp, err := eaasv1.NewRegistrarClient(cc).Register(ctx, &req)
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), resp)
			})
		},
	}
	cn.add(c)
	c.Flags().Uint32Var(&req.Subscriber, "subscriber", 0, "the subscriber's id (S_ID)")
	c.Flags().Uint32Var(&deception, "deception-factor", 2, "token bits t: each real message travels among 2^t - 1 fakes (0 to 6)")
	c.Flags().StringVar(&req.Cipher, "cipher", "aes256-gcm", "aes256-gcm, chacha20-poly1305, or (insecure, for the seed's figures) insecure-des, insecure-3des, insecure-blowfish")
	c.Flags().StringVar(&req.OnUnavailable, "on-unavailable", "fail-closed", "fail-closed, or forward-plaintext (the seed's behaviour; every forward is counted and logged)")
	c.Flags().StringArrayVar(&members, "member", nil, "PRINCIPAL[=HOST,HOST...][@REQUESTER-ID]; repeatable")
	c.Flags().StringVar(&widths, "widths", "", "s=BITS,r=BITS,n=BITS (default s=16,r=16,n=32)")
	_ = c.MarkFlagRequired("subscriber")
	return c
}

// parseMembers reads PRINCIPAL[=HOST,...][@ID].
func parseMembers(specs []string) ([]*eaasv1.Member, error) {
	var out []*eaasv1.Member
	for _, s := range specs {
		m := &eaasv1.Member{}
		if at := strings.LastIndexByte(s, '@'); at >= 0 {
			id, err := strconv.ParseUint(s[at+1:], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--member %q: requester id %q: %v", s, s[at+1:], err)
			}
			m.Requester, s = uint32(id), s[:at]
		}
		p, hosts, _ := strings.Cut(s, "=")
		m.Principal = strings.TrimPrefix(p, "spiffe://")
		if hosts != "" {
			m.Hosts = strings.Split(hosts, ",")
		}
		out = append(out, m)
	}
	return out, nil
}

func parseWidths(s string) (*eaasv1.Widths, error) {
	if s == "" {
		return nil, nil
	}
	w := &eaasv1.Widths{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 8)
		if !ok || err != nil {
			return nil, fmt.Errorf("--widths %q: want s=BITS,r=BITS,n=BITS", s)
		}
		switch k {
		case "s":
			w.S = uint32(n)
		case "r":
			w.R = uint32(n)
		case "n":
			w.N = uint32(n)
		default:
			return nil, fmt.Errorf("--widths %q: unknown field %q (t is --deception-factor)", s, k)
		}
	}
	return w, nil
}

func keysList() *cobra.Command {
	var cn conn
	c := &cobra.Command{Use: "list", Short: "list key versions per pair (never key material)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cn.call(func(ctx context.Context, cc *grpc.ClientConn) error {
				resp, err := eaasv1.NewKeyManagerClient(cc).ListKeys(ctx, &eaasv1.ListKeysRequest{})
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), resp)
			})
		}}
	cn.add(c)
	return c
}

func keysRotate() *cobra.Command {
	var cn conn
	c := &cobra.Command{Use: "rotate SUBSCRIBER/A-B", Short: "add a key version to a pair and make it primary (old versions still decrypt)",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pair, err := parsePair(args[0])
			if err != nil {
				return err
			}
			return cn.call(func(ctx context.Context, cc *grpc.ClientConn) error {
				resp, err := eaasv1.NewKeyManagerClient(cc).Rotate(ctx, &eaasv1.PairRequest{Pair: pair})
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), resp)
			})
		}}
	cn.add(c)
	return c
}

func parsePair(s string) (*eaasv1.Pair, error) {
	var sub, a, b uint32
	if n, err := fmt.Sscanf(s, "%d/%d-%d", &sub, &a, &b); err != nil || n != 3 {
		return nil, fmt.Errorf("pair %q: want SUBSCRIBER/A-B, e.g. 54/1-2", s)
	}
	p := keymanager.NewPairID(sub, a, b)
	return &eaasv1.Pair{Subscriber: p.Subscriber, A: p.A, B: p.B}, nil
}

func rewrap() *cobra.Command {
	var cn conn
	c := &cobra.Command{Use: "rewrap", Short: "move an envelope (stdin) to its pair's newest key version (stdout); the plaintext never leaves the cryptor",
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<20))
			if err != nil {
				return err
			}
			return cn.call(func(ctx context.Context, cc *grpc.ClientConn) error {
				resp, err := eaasv1.NewCoordinatorClient(cc).Rewrap(ctx, &eaasv1.RewrapRequest{Envelope: env})
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(resp.GetEnvelope())
				return err
			})
		}}
	cn.add(c)
	return c
}

func status() *cobra.Command {
	var cn conn
	c := &cobra.Command{Use: "status", Short: "a coordinator's subscribers and replicas",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cn.call(func(ctx context.Context, cc *grpc.ClientConn) error {
				resp, err := eaasv1.NewCoordinatorClient(cc).Status(ctx, &eaasv1.StatusRequest{})
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), resp)
			})
		}}
	cn.add(c)
	return c
}

func kekGenerate() *cobra.Command {
	return &cobra.Command{Use: "generate FILE", Short: "write a new key-encryption key (mode 0600; keep it like a Secret)",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := keymanager.GenerateKEKFile(args[0]); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "wrote a new key-encryption key to %s\n", args[0])
			return err
		}}
}
