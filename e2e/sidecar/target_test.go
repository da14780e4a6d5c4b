package sidecar

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestOriginForm(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/a/b?q", "/a/b?q"},
		{"*", "*"},
		{"http://orders.shop/a/../b?q=1", "/a/../b?q=1"},
		{"https://orders.shop?q=1", "/?q=1"},
		{"http://orders.shop", "/"},
		{`\admin`, `\admin`},
	}
	for _, tc := range tests {
		if got := originForm(tc.in); got != tc.want {
			t.Errorf("originForm(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Go's client sends the target it is given byte for byte, including the
// forms its own URL handling would rewrite: a leading "//", lower-case or
// needless escapes, an empty query.
func TestSetTargetSendsExactBytes(t *testing.T) {
	var got string
	up := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.RequestURI }))
	defer up.Close()
	for _, target := range []string{"/a", "//admin", "///a//b/?x=//", "/a%2fb", "/%61dmin", "/a%252F", "/caf%c3%a9?",
		"/a/../b", "/a?q=%zz&r=/../", "/a;b=c", "/a:b@c!$&'()*+,="} {
		req, err := http.NewRequest("GET", up.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := setTarget(req.URL, target); err != nil {
			t.Fatalf("setTarget(%q): %v", target, err)
		}
		resp, err := up.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got != target {
			t.Errorf("sent %q, the upstream received %q", target, got)
		}
	}
}

func TestSetTargetRefusesWhatGoWouldChange(t *testing.T) {
	for _, target := range []string{"//a b", "//a%zz"} {
		u, _ := url.Parse("http://127.0.0.1:1")
		if err := setTarget(u, target); err == nil {
			t.Errorf("setTarget(%q) = nil, want an error", target)
		}
	}
}

func TestWithoutURLDropsTheQuery(t *testing.T) {
	err := &url.Error{Op: "Get", URL: "http://up/a?token=s3cret", Err: errors.New("connection refused")}
	if got := withoutURL(err).Error(); strings.Contains(got, "s3cret") || got != "Get: connection refused" {
		t.Errorf("withoutURL = %q", got)
	}
}
