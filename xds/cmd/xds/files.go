package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"os"

	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/xds/server"
)

// maxTokenFile bounds what is read of a token file.
const maxTokenFile = 4096

// readToken reads a bearer token from a file: a token on the command line
// would show in the process list.
func readToken(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxTokenFile {
		return nil, fmt.Errorf("%s: admin token file is larger than %d bytes", path, maxTokenFile)
	}
	b = bytes.TrimSpace(b)
	if len(b) < server.MinTokenBytes {
		return nil, fmt.Errorf("%s: admin token is %d bytes, want at least %d", path, len(b), server.MinTokenBytes)
	}
	return b, nil
}

// serverTLS loads a port's TLS configuration; nil when none is asked for.
func serverTLS(flag, cert, key, clientCA string) (*tls.Config, error) {
	switch {
	case cert == "" && key == "" && clientCA == "":
		return nil, nil
	case cert == "" || key == "":
		return nil, fmt.Errorf("%s and its key are needed together (and for a client CA)", flag)
	}
	return identity.LoadServerTLS(cert, key, clientCA)
}
