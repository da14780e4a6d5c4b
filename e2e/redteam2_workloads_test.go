package e2e

import (
	"io"
	"net/http"
	"testing"

	"github.com/meshward/meshward/api/check"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/server"
)

// Red team 2, workload registry. Vouch lets an identity claim any subset of
// its workload's labels ("a selector that matches fewer labels matches the
// workload too"). That holds for reading policies, not for writing them:
// learn mode files what it sees under the claimed labels and writes them
// back as the learned policy's selector. The empty claim is a subset of
// every workload's labels, and a policy with no selector selects the whole
// namespace.
//
// Attack: in a namespace being migrated (defaultAction ALLOW, --learn), the
// catalog forges one check about itself claiming no labels at all. The
// learned policy for that "workload" has no selector: applied as the
// operator is told to, it lets the catalog DELETE /orders/admin on orders
// (and on every other workload of the namespace). Severity: high (learn-mode
// poisoning, the issue-8 finding, through the empty claim).
func TestRedteam2LearnPoisonedThroughEmptyLabelClaim(t *testing.T) {
	ra := startRedAuthz(t, redMigrating, func(c *server.Config) { c.Learn = true })
	asCatalog := ra.httpClient(t, catalogID)
	forged := check.Request{SourcePrincipal: catalogID, Destination: catalogID, DestinationNamespace: "shop",
		DestinationLabels: map[string]string{}, Method: "DELETE", Path: "/orders/admin"}
	d := ra.forge(t, asCatalog, forged)
	t.Logf("forged check with no labels: %+v", d)

	learned := fetchLearned(t, ra, asCatalog)
	set, err := policy.Parse("learned.yaml", learned)
	if err != nil {
		t.Fatalf("learned policies do not load: %v\n%s", err, learned)
	}
	// What the operator's applied learned policy does to a real request of
	// the catalog to orders (orders' sidecar states orders' real labels).
	got := set.Evaluate(&policy.Request{SourcePrincipal: catalogID, Destination: ordersID,
		DestinationLabels: map[string]string{"app": "orders"}, Method: "DELETE", Path: "/orders/admin",
		Host: "orders.shop", SourceAddress: "127.0.0.1:5000", DestinationAddress: "127.0.0.1:8080"})
	if got.Allow {
		rule := ""
		if got.Rule != nil {
			rule = got.Rule.Name()
		}
		t.Fatalf("one forged check with an empty label claim wrote a namespace-wide learned ALLOW (%s): catalog may DELETE /orders/admin on orders:\n%s", rule, learned)
	}
}

func fetchLearned(t *testing.T, ra *redAuthz, c *http.Client) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", "https://"+ra.HTTPAddr.String()+"/v1/learned", nil)
	req.Header.Set("Authorization", "Bearer redteam-operator-token-0123456789")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("learned: %d %s", resp.StatusCode, b)
	}
	return b
}
