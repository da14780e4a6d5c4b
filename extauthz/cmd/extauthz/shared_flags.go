package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/meshward/meshward/extauthz/server"
	"github.com/meshward/meshward/extauthz/sharedstate"
	"github.com/meshward/meshward/internal/identity"
)

// sharedFlags put the replicas' shared state (quarantines, epoch) in etcd.
type sharedFlags struct {
	etcd                        []string
	prefix, ca, cert, key, name string
}

func (f *sharedFlags) add(fs *pflag.FlagSet) {
	fs.StringSliceVar(&f.etcd, "shared-etcd", nil, "etcd endpoints where replicas share quarantines and the epoch (high availability)")
	fs.StringVar(&f.prefix, "shared-etcd-prefix", sharedstate.DefaultPrefix, "key prefix of the shared state in etcd")
	fs.StringVar(&f.ca, "shared-etcd-ca", "", "CA (PEM) of etcd's serving certificate")
	fs.StringVar(&f.cert, "shared-etcd-cert", "", "client certificate (PEM) for etcd's --client-cert-auth")
	fs.StringVar(&f.key, "shared-etcd-key", "", "its key")
	fs.StringVar(&f.name, "replica-name", "", "this replica's name in etcd and the logs (default: the host name)")
}

// maxRecv bounds one etcd answer: a page of the largest records, twice.
const maxRecv = 64 << 20

// store connects to etcd; nil, nil when no endpoints are given.
func (f *sharedFlags) store(log zerolog.Logger) (server.Shared, func(), error) {
	if len(f.etcd) == 0 {
		return nil, func() {}, nil
	}
	cfg := clientv3.Config{Endpoints: f.etcd, DialTimeout: 5 * time.Second, MaxCallRecvMsgSize: maxRecv,
		Logger: zap.NewNop()}
	switch {
	case f.ca != "":
		t, err := identity.LoadClientTLS(f.cert, f.key, f.ca)
		if err != nil {
			return nil, nil, fmt.Errorf("shared etcd: %w", err)
		}
		cfg.TLS = t
	case !allUnix(f.etcd):
		return nil, nil, errors.New("shared etcd: give --shared-etcd-ca, --shared-etcd-cert and --shared-etcd-key (plaintext only over unix sockets)")
	}
	name := f.name
	if name == "" {
		name, _ = os.Hostname()
	}
	cl, err := clientv3.New(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("shared etcd: %w", err)
	}
	st := sharedstate.New(sharedstate.Config{Client: cl, Prefix: f.prefix, Replica: name, Log: log})
	return st, func() { st.Close(); cl.Close() }, nil
}

func allUnix(eps []string) bool {
	for _, e := range eps {
		if !strings.HasPrefix(e, "unix://") {
			return false
		}
	}
	return true
}
