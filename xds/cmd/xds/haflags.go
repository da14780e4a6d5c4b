package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meshward/meshward/internal/election"
	"github.com/meshward/meshward/xds/placementlog"
	"github.com/meshward/meshward/xds/server"
)

// haFlags run the server as one of several replicas on etcd.
type haFlags struct {
	endpoints, prefix, id string
}

func (h *haFlags) register(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVar(&h.endpoints, "etcd-endpoints", "", "run as one of several replicas: etcd endpoints (comma-separated) where the replicas elect the one that moves services and record each placement the others serve")
	fs.StringVar(&h.prefix, "etcd-prefix", "/meshward/xds/", "etcd key prefix of the election and the placement log")
	fs.StringVar(&h.id, "replica-id", "", "this replica's name in the election (default: the host name)")
}

// config connects to etcd; nil without --etcd-endpoints. The client lives
// as long as the process.
func (h haFlags) config() (*server.HA, error) {
	if h.endpoints == "" {
		if h.id != "" {
			return nil, fmt.Errorf("--replica-id needs --etcd-endpoints")
		}
		return nil, nil
	}
	if !strings.HasSuffix(h.prefix, "/") {
		return nil, fmt.Errorf("--etcd-prefix %q: end it with /", h.prefix)
	}
	id := h.id
	if id == "" {
		id, _ = os.Hostname()
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(h.endpoints, ","), DialTimeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("--etcd-endpoints: %w", err)
	}
	el, err := election.NewEtcd(cli, h.prefix+"leader", id, election.DefaultTiming)
	if err != nil {
		cli.Close()
		return nil, err
	}
	return &server.HA{ID: id, Elector: el, Log: placementlog.New(cli, h.prefix+"placements/")}, nil
}
