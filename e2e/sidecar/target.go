package sidecar

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// originForm is the path and query of a request target: an absolute-form
// target (a client talking to a proxy) loses its scheme and authority.
func originForm(target string) string {
	if target == "" || target[0] == '/' || target == "*" {
		return target
	}
	_, rest, ok := strings.Cut(target, "://")
	if !ok {
		return target // not a path: normalization rejects it
	}
	i := strings.IndexAny(rest, "/?")
	switch {
	case i < 0:
		return "/"
	case rest[i] == '?':
		return "/" + rest[i:]
	}
	return rest[i:]
}

// setTarget makes Go's client send target byte for byte: as Opaque, which
// it writes verbatim, except that an Opaque starting with "//" would be taken
// for an authority, so such a path goes in RawPath (which Go keeps when it is
// a valid encoding of Path, as every normalized path is).
func setTarget(u *url.URL, target string) error {
	path, query, hasQuery := strings.Cut(target, "?")
	u.RawQuery, u.ForceQuery = query, hasQuery && query == ""
	if strings.HasPrefix(path, "//") {
		dec, err := url.PathUnescape(path)
		if err != nil {
			return fmt.Errorf(":path: %w", withoutURL(err))
		}
		u.Opaque, u.Path, u.RawPath = "", dec, path
	} else {
		u.Opaque, u.Path, u.RawPath = path, "", ""
	}
	if u.RequestURI() != target {
		return errors.New(":path: Go's client would not send it byte for byte")
	}
	return nil
}

// withoutURL drops the URL that a *url.Error quotes, query and all: logs
// never carry query strings.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// pathOf is the path setTarget put in u, without the query (logs never
// carry query strings).
func pathOf(u *url.URL) string {
	if u.Opaque != "" {
		return u.Opaque
	}
	return u.EscapedPath()
}
