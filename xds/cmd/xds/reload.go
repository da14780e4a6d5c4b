package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/xds/server"
)

// watchCatalog reloads the catalog when its file or a MeshwardRotation
// file changes from what last (taken before the served catalog was read)
// says. A version that does not load is logged (file:line) and the last
// good one stays served; a file caught half written fails to parse and is
// read again at the next look, once it changed again.
func watchCatalog(ctx context.Context, f flags, r *server.Running, last [32]byte, log zerolog.Logger) {
	t := time.NewTicker(f.reloadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fp, err := fingerprint(f)
		if err != nil || fp == last {
			continue
		}
		last = fp
		cat, err := loadCatalog(f)
		if err != nil {
			log.Error().Err(err).Msg("catalog change refused; the last good catalog stays served")
			continue
		}
		if err := r.Reload(ctx, cat); err != nil {
			log.Error().Err(err).Msg("catalog reload failed")
		}
	}
}

// fingerprint digests the names, sizes and modification times of the
// catalog and every MeshwardRotation file: cheap enough to look often.
func fingerprint(f flags) ([32]byte, error) {
	h := sha256.New()
	add := func(path string, info fs.FileInfo) {
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", path, info.Size(), info.ModTime().UnixNano())
	}
	info, err := os.Stat(f.catalog)
	if err != nil {
		return [32]byte{}, err
	}
	add(f.catalog, info)
	for _, root := range f.rotations {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				if info, err := d.Info(); err == nil {
					add(path, info)
				}
			}
			return nil
		})
		if err != nil {
			return [32]byte{}, err
		}
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}
