package server

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
)

func getStatus(t *testing.T, r *Running, bearer string) (int, Status) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+r.HTTPAddr.String()+StatusPath, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, st
}

// The attack: a workload that reaches the check port asks who is
// quarantined (is it? are its peers?) without the operator's token.
func TestStatusNeedsTheOperatorToken(t *testing.T) {
	r := start(t)
	for _, bearer := range []string{"", "test-token-wrong-0123", token + "x"} {
		if code, _ := getStatus(t, r, bearer); code != http.StatusUnauthorized {
			t.Errorf("bearer %q: HTTP %d, want 401", bearer, code)
		}
	}
	if code, st := getStatus(t, r, token); code != http.StatusOK || st.Rules != 1 || st.Policies != 1 || st.EaaS {
		t.Fatalf("with the token: HTTP %d %+v", code, st)
	}
}

// The attack: a verdict's reason (whoever holds the verdict token, or a
// compromised agent, writes it) carries terminal escapes and is huge; the
// status carries it bounded and without a control character.
func TestStatusQuarantinesBoundedAndInert(t *testing.T) {
	r := start(t)
	cc := dial(t, r)
	hostile := "\x1b]0;owned\x07\x1b[2J" + strings.Repeat("r", 4096)
	if _, err := report(cc, token, &verdictv1.Verdict{Workload: frontend, Reason: hostile, Score: 0.5, TtlSeconds: 60}); err != nil {
		t.Fatal(err)
	}
	if _, err := report(cc, token, &verdictv1.Verdict{Workload: orders, Reason: "exec-shell", Score: 1}); err != nil {
		t.Fatal(err)
	}
	_, st := getStatus(t, r, token)
	if st.Quarantined != 2 || len(st.Quarantines) != 2 || st.Epoch == 0 {
		t.Fatalf("%+v", st)
	}
	q := st.Quarantines[0]
	if q.Workload != frontend || q.Expires == nil || len(q.Reason) > maxStatusText+3 || strings.ContainsAny(q.Reason, "\x1b\x07") {
		t.Fatalf("first quarantine %+v", q)
	}
	if st.Quarantines[1].Workload != orders || st.Quarantines[1].Expires != nil {
		t.Fatalf("second quarantine %+v", st.Quarantines[1])
	}
}

// A refused policy change is reported with its file and reason.
func TestStatusLastPolicyError(t *testing.T) {
	dir := t.TempDir()
	good := "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  selector: {matchLabels: {app: orders}}\n  rules:\n  - {}\n"
	if err := os.WriteFile(dir+"/p.yaml", []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Start(Config{PolicyPaths: []string{dir}, ReloadInterval: 10 * time.Millisecond, GRPCAddr: "127.0.0.1:0",
		HTTPAddr: "127.0.0.1:0", InsecurePlaintextChecks: true, VerdictToken: []byte(token), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if _, st := getStatus(t, r, token); st.LastPolicyError != nil {
		t.Fatalf("a policy error before any: %+v", st.LastPolicyError)
	}
	if err := os.WriteFile(dir+"/.tmp", []byte(strings.Replace(good, "- {}", "- when: [{key: nope, values: [x]}]", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir+"/.tmp", dir+"/p.yaml"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, func() bool { _, st := getStatus(t, r, token); return st.LastPolicyError != nil })
	_, st := getStatus(t, r, token)
	if e := st.LastPolicyError.Error; !strings.Contains(e, "p.yaml:") || !strings.Contains(e, "nope") {
		t.Fatalf("policy error %q lacks the file:line and the key", e)
	}
}

func TestClip(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"exec-shell", "exec-shell"},
		{"a\x1b[31mb\nc\x00", "a?[31mb?c?"},
		{"bad\xffutf8", "bad?utf8"},
		{"\u202eevil\u200b", "?evil?"}, // bidirectional overrides and invisible characters mislead a reader
		{strings.Repeat("x", maxStatusText+10), strings.Repeat("x", maxStatusText) + "..."},
	} {
		if got := clip(c.in); got != c.want {
			t.Errorf("clip(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
