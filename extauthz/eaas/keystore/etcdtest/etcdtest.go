// Package etcdtest runs Debian's etcd (make etcd) for tests, on unix sockets
// in a directory of the test's: no TCP port to race other tests for.
package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrMissing: etcd is not on PATH.
var ErrMissing = errors.New("etcdtest: etcd is not installed (make etcd)")

const clientSocket, peerSocket = "client.sock:0", "peer.sock:0"

// Server is a running etcd.
type Server struct {
	dir  string
	cmd  *exec.Cmd
	done chan error
}

// Endpoint is the client URL.
func (s *Server) Endpoint() string { return "unix://" + filepath.Join(s.dir, clientSocket) }

// Config is a client configuration for the server.
func (s *Server) Config() clientv3.Config {
	return clientv3.Config{Endpoints: []string{s.Endpoint()}, DialTimeout: 5 * time.Second}
}

// Start runs etcd on the data in dir (made if new) and returns once it
// answers. Its log is dir/etcd.log.
func Start(dir string) (*Server, error) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		return nil, ErrMissing
	}
	s := &Server{dir: dir, done: make(chan error, 1)}
	// A killed etcd leaves its sockets behind, and binding them again fails.
	for _, sock := range []string{clientSocket, peerSocket} {
		if err := os.Remove(filepath.Join(dir, sock)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	const peer = "unix://" + peerSocket
	s.cmd = exec.Command(bin, "--data-dir", "data", "--name", "default",
		"--listen-client-urls", "unix://"+clientSocket, "--advertise-client-urls", "unix://"+clientSocket,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "default="+peer)
	s.cmd.Dir = dir
	logs, err := os.OpenFile(filepath.Join(dir, "etcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logs.Close()
	s.cmd.Stdout, s.cmd.Stderr = logs, logs
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.done <- s.cmd.Wait() }()
	if err := s.waitReady(); err != nil {
		s.Kill()
		return nil, err
	}
	return s, nil
}

// waitReady asks etcd until it answers; it gives up only if etcd exits or
// stays silent for a minute (a cold start on a loaded machine).
func (s *Server) waitReady() error {
	c, err := clientv3.New(s.Config())
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.Get(ctx, "ready")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case werr := <-s.done:
			s.done <- werr
			return fmt.Errorf("etcdtest: etcd exited (%v); its log is in %s", werr, s.dir)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcdtest: etcd did not answer within a minute: %v", err)
		}
	}
}

// Kill ends etcd with SIGKILL (nothing is flushed on the way out) and waits
// for it to be gone.
func (s *Server) Kill() {
	s.cmd.Process.Kill()
	werr := <-s.done
	s.done <- werr
}
