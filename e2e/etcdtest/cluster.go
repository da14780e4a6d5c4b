// Package etcdtest runs a cluster of Debian's etcd (make etcd) for the HA
// tests: members on unix sockets in one directory of the test's (no TCP port
// to race other tests for), clients authenticated with certificates of a
// test CA (--client-cert-auth), members killed and restarted at will.
package etcdtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/meshward/meshward/internal/identity"
)

// Cluster is a running etcd cluster.
type Cluster struct {
	Dir     string
	Members []*Member
	ca      *identity.CA
	// Client is what the authorizer presents; etcd trusts only the test CA.
	ClientTLS *tls.Config
}

// Member is one etcd process.
type Member struct {
	Name string
	c    *Cluster
	cmd  *exec.Cmd
	done chan error
}

// Each member runs in a directory of its own, where its client socket is
// "localhost": etcd's client checks the server's certificate against the
// socket's name. Its peer socket is there too, and linked from the others'.
func (m *Member) clientSocket() string { return "localhost:0" }
func (m *Member) peerSocket() string   { return m.Name + "-peer.sock:0" }
func (m *Member) dir() string          { return filepath.Join(m.c.Dir, m.Name) }

// Endpoint is the member's client URL.
func (m *Member) Endpoint() string { return "unixs://" + filepath.Join(m.dir(), m.clientSocket()) }

// Start runs an n-member cluster and returns once it answers; the test
// stops it. A machine without etcd skips the test.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skip("etcd is not installed (make etcd installs Debian's etcd-server)")
	}
	c, err := StartDir(t.TempDir(), n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// StartDir runs an n-member cluster in dir (benchmarks; tests use Start);
// Stop ends it.
func StartDir(dir string, n int) (*Cluster, error) {
	ca, err := identity.NewCA()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, ca: ca}
	if err := c.writeCerts(); err != nil {
		return nil, err
	}
	var peers []string
	for i := range n {
		m := &Member{Name: fmt.Sprintf("m%d", i), c: c}
		c.Members = append(c.Members, m)
		peers = append(peers, m.Name+"=unix://"+m.peerSocket())
		if err := os.Mkdir(m.dir(), 0o700); err != nil {
			return nil, err
		}
	}
	if err := c.linkPeers(); err != nil {
		return nil, err
	}
	for _, m := range c.Members {
		if err := m.run("--initial-cluster", strings.Join(peers, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "meshward-ha"); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.WaitReady(); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) writeCerts() error {
	srv, err := c.ca.Issue("spiffe://cluster.local/ns/meshward/sa/etcd")
	if err != nil {
		return err
	}
	if err := c.ca.WritePEM(srv, c.path("ca.pem"), c.path("server.pem"), c.path("server-key.pem")); err != nil {
		return err
	}
	cli, err := c.ca.Issue("spiffe://cluster.local/ns/meshward/sa/authorizer")
	if err != nil {
		return err
	}
	c.ClientTLS = c.ca.ClientTLS(cli)
	c.ClientTLS.ServerName = "localhost" // unix sockets have no host name to check
	return nil
}

func (c *Cluster) linkPeers() error {
	for _, m := range c.Members {
		for _, o := range c.Members {
			if o != m {
				if err := os.Symlink(filepath.Join(o.dir(), o.peerSocket()), filepath.Join(m.dir(), o.peerSocket())); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (c *Cluster) path(name string) string { return filepath.Join(c.Dir, name) }

// CA issues certificates etcd trusts (or, from another CA, does not).
func (c *Cluster) CA() *identity.CA { return c.ca }

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.Endpoint())
	}
	return eps
}

// Config is a client configuration for the whole cluster.
func (c *Cluster) Config() clientv3.Config {
	return clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, TLS: c.ClientTLS.Clone(),
		Logger: zap.NewNop()}
}

// Client is a client of the whole cluster, closed with the test.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cl, err := clientv3.New(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func (m *Member) run(extra ...string) error {
	// A killed etcd leaves its sockets behind, and binding them again fails.
	for _, sock := range []string{m.clientSocket(), m.peerSocket()} {
		if err := os.Remove(filepath.Join(m.dir(), sock)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	args := append([]string{"--name", m.Name, "--data-dir", "data",
		"--listen-client-urls", "unixs://" + m.clientSocket(), "--advertise-client-urls", "unixs://" + m.clientSocket(),
		"--listen-peer-urls", "unix://" + m.peerSocket(), "--initial-advertise-peer-urls", "unix://" + m.peerSocket(),
		"--client-cert-auth", "--trusted-ca-file", "../ca.pem", "--cert-file", "../server.pem", "--key-file", "../server-key.pem"},
		extra...)
	bin, err := exec.LookPath("etcd")
	if err != nil {
		return err
	}
	m.cmd = exec.Command(bin, args...)
	m.cmd.Dir = m.dir()
	logs, err := os.OpenFile(m.c.path(m.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logs.Close()
	m.cmd.Stdout, m.cmd.Stderr = logs, logs
	if err := m.cmd.Start(); err != nil {
		return err
	}
	m.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(m.cmd, m.done)
	return nil
}

// Kill ends the member with SIGKILL and waits for it to be gone.
func (m *Member) Kill() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.done
	m.cmd = nil
}

// Restart runs a killed member again on its data.
func (m *Member) Restart() error { return m.run() }

// KillAll kills every member: etcd is gone.
func (c *Cluster) KillAll() {
	for _, m := range c.Members {
		m.Kill()
	}
}

// RestartAll runs every killed member again and waits until the cluster
// answers.
func (c *Cluster) RestartAll() error {
	for _, m := range c.Members {
		if m.cmd == nil {
			if err := m.Restart(); err != nil {
				return err
			}
		}
	}
	return c.WaitReady()
}

// Stop kills every member.
func (c *Cluster) Stop() { c.KillAll() }

// WaitReady asks the cluster for a linearizable read until it answers; it
// gives up only if every member exits or a minute passes (a cold start on a
// loaded machine).
func (c *Cluster) WaitReady() error {
	cl, err := clientv3.New(c.Config())
	if err != nil {
		return err
	}
	defer cl.Close()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cl.Get(ctx, "ready")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcdtest: the cluster did not answer within a minute: %v (logs in %s)", err, c.Dir)
		}
	}
}
