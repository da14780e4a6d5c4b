package main

import (
	"fmt"
	"io"
	"os"

	"github.com/meshward/meshward/xds/envoy"
	"github.com/meshward/meshward/xds/server"
)

// loadTemplate reads the sidecars' template (--sidecars); nil when none is
// named: the server then serves proxyless clients only.
func loadTemplate(path string) (*server.SidecarTemplate, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, envoy.MaxTemplateBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t, err := envoy.ParseTemplate(path, data)
	if err != nil {
		return nil, err
	}
	return server.TemplateOf(t), nil
}
