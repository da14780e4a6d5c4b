package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshward/meshward/e2e/kubetest"
	"github.com/meshward/meshward/xds/catalog"
)

var rotationsGVR = schema.GroupVersionResource{Group: "meshward.io", Version: "v1alpha1", Resource: "meshwardrotations"}

// crdCase is a MeshwardRotation spec and whether the API server (with the
// CRD) and the xDS server's decoder accept it; apiSays is in the API
// server's refusal.
type crdCase struct {
	name, spec string
	api, goOK  bool
	apiSays    string
}

var crdCases = []crdCase{
	{"full", "service: orders\nports: [1501]\nportRange: {from: 20000, to: 20999}\naddresses: [127.0.0.11, '::1', '2001:db8::7']\nevery: 10m\njitter: 3m\nmaxPerHour: 12\nblackouts: ['23:30-00:30']\ngrace: 5s\nackTimeout: 5s\nhardDeadline: 1m\nrecent: 4\n", true, true, ""},
	{"ports only", "service: orders\nports: [1]\n", true, true, ""},
	{"range only", "service: orders\nportRange: {from: 65535, to: 65535}\n", true, true, ""},
	{"fractional durations", "service: orders\nports: [1]\nevery: 1.5h\njitter: 0s\nhardDeadline: 0s\n", true, true, ""},
	{"long ack timeout, default deadline", "service: orders\nports: [1]\nevery: 1s\nackTimeout: 90s\n", true, true, ""},
	{"no service", "ports: [1]\n", false, false, "spec.service: Required value"},
	{"bad service", "service: Orders_1\nports: [1]\n", false, false, "spec.service"},
	{"unknown field", "service: orders\nports: [1]\nevry: 10s\n", false, false, `unknown field "spec.evry"`},
	{"field in another case", "service: orders\nports: [1]\nEvery: 10s\n", false, false, `unknown field "spec.Every"`},
	{"no pool", "service: orders\nevery: 10s\n", false, false, "no pool"},
	{"empty pools", "service: orders\nports: []\naddresses: []\n", false, false, "no pool"},
	{"port zero", "service: orders\nports: [0]\n", false, false, "spec.ports[0]"},
	{"port too high", "service: orders\nports: [70000]\n", false, false, "spec.ports[0]"},
	{"port a fraction", "service: orders\nports: [1.5]\n", false, false, "spec.ports[0]"},
	{"too many ports", "service: orders\nports: [" + strings.Repeat("2,", 4097) + "]\n", false, false, "spec.ports: Too many"},
	{"range reversed", "service: orders\nportRange: {from: 300, to: 200}\n", false, false, "want from ≤ to"},
	{"range without to", "service: orders\nportRange: {from: 300}\n", false, false, "spec.portRange.to: Required value"},
	{"not an IP", "service: orders\naddresses: [localhost]\n", false, false, "canonical form"},
	{"multicast", "service: orders\naddresses: [224.0.0.1]\n", false, false, "canonical form"},
	{"address twice", "service: orders\naddresses: [127.0.0.5, 127.0.0.5]\n", false, false, "Duplicate value"},
	{"every a number", "service: orders\nports: [1]\nevery: 10\n", false, false, "spec.every"},
	{"bad duration", "service: orders\nports: [1]\nevery: soon\n", false, false, "spec.every"},
	{"negative duration", "service: orders\nports: [1]\nevery: 10s\ngrace: -1s\n", false, false, "spec.grace"},
	{"duration Go cannot hold", "service: orders\nports: [1]\nevery: 9999999999h\n", false, false, "spec.every"},
	{"every too short", "service: orders\nports: [1]\nevery: 999ms\n", false, false, "want at least 1s"},
	{"jitter as long as every", "service: orders\nports: [1]\nevery: 10s\njitter: 10s\n", false, false, "jitter < every"},
	{"jitter without every", "service: orders\nports: [1]\njitter: 1s\n", false, false, "need every"},
	{"negative budget", "service: orders\nports: [1]\nevery: 10s\nmaxPerHour: -1\n", false, false, "spec.maxPerHour"},
	{"budget beyond 32 bits", "service: orders\nports: [1]\nevery: 10s\nmaxPerHour: 3000000000\n", false, false, "spec.maxPerHour"},
	{"negative recent", "service: orders\nports: [1]\nevery: 10s\nrecent: -1\n", false, false, "spec.recent"},
	{"deadline before ack timeout", "service: orders\nports: [1]\nevery: 10s\nackTimeout: 9s\nhardDeadline: 2s\n", false, false, "hardDeadline is before ackTimeout"},
	{"deadline before the default ack timeout", "service: orders\nports: [1]\nevery: 10s\nhardDeadline: 2s\n", false, false, "hardDeadline is before ackTimeout"},
	{"bad blackout", "service: orders\nports: [1]\nevery: 10s\nblackouts: ['25:00-01:00']\n", false, false, "spec.blackouts[0]"},
	{"empty blackout", "service: orders\nports: [1]\nevery: 10s\nblackouts: ['01:00-01:00']\n", false, false, "start and end must differ"},
	{"too many blackouts", "service: orders\nports: [1]\nevery: 10s\nblackouts: [" + strings.Repeat("'01:00-02:00',", 25) + "]\n", false, false, "spec.blackouts: Too many"},
	// Where the schema is stricter than the catalog's rules, which read
	// these as the same addresses and times.
	{"mapped address", "service: orders\naddresses: ['::ffff:127.0.0.1']\n", false, true, "canonical form"},
	{"address not canonical", "service: orders\naddresses: ['0::1']\n", false, true, "canonical form"},
	{"one-digit hour", "service: orders\nports: [1]\nevery: 10s\nblackouts: ['1:00-02:00']\n", false, true, "spec.blackouts[0]"},
}

// The CRD in a real kube-apiserver: what the schema admits and refuses, and
// that every object it admits, read back as an informer would get it, is
// one the xDS server's decoder reads the same way.
func TestRotationCRD(t *testing.T) {
	apiserver, etcd, err := kubetest.Binaries("../..")
	if errors.Is(err, kubetest.ErrMissing) {
		t.Skipf("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var logs bytes.Buffer
	cl, err := kubetest.Start(ctx, apiserver, etcd, t.TempDir(), &logs, "../manifests/base/crds/meshwardrotation.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, tail(logs.String()))
	}
	t.Cleanup(cl.Stop)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	if _, err := kubernetes.NewForConfigOrDie(cl.Config).CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rc := dynamic.NewForConfigOrDie(cl.Config).Resource(rotationsGVR).Namespace("shop")
	for i, tc := range crdCases {
		t.Run(tc.name, func(t *testing.T) {
			doc := fmt.Sprintf("apiVersion: meshward.io/v1alpha1\nkind: MeshwardRotation\nmetadata: {name: case-%d, namespace: shop}\nspec:\n%s",
				i, indent(tc.spec))
			checkCase(ctx, t, rc, tc, doc)
		})
	}
	t.Run("examples", func(t *testing.T) { checkExamples(ctx, t, rc) })
}

func checkCase(ctx context.Context, t *testing.T, rc dynamic.ResourceInterface, tc crdCase, doc string) {
	want, goErr := catalog.ParseRotations("case.yaml", []byte(doc))
	if (goErr == nil) != tc.goOK {
		t.Errorf("the decoder: %v, want accepted %v", goErr, tc.goOK)
	}
	_, apiErr := create(ctx, rc, doc)
	switch {
	case (apiErr == nil) != tc.api:
		t.Fatalf("the API server: %v, want accepted %v", apiErr, tc.api)
	case apiErr != nil && !strings.Contains(apiErr.Error(), tc.apiSays):
		t.Errorf("the API server's refusal %q does not say %q", apiErr, tc.apiSays)
	case apiErr == nil:
		if goErr != nil {
			t.Fatalf("the API server accepts what the decoder refuses: %v", goErr)
		}
		readBack(ctx, t, rc, want[0])
	}
}

// checkExamples: the example manifest is accepted by both.
func checkExamples(ctx context.Context, t *testing.T, rc dynamic.ResourceInterface) {
	rs, err := catalog.LoadRotations("../manifests/rotations/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := splitDocs(t, "../manifests/rotations/example.yaml")
	if len(docs) != len(rs) || len(rs) == 0 {
		t.Fatalf("%d documents, %d rotations", len(docs), len(rs))
	}
	for i, doc := range docs {
		if _, err := create(ctx, rc, doc); err != nil {
			t.Fatalf("example %d: %v", i, err)
		}
		readBack(ctx, t, rc, rs[i])
	}
}

// readBack gets the object as stored (with the server's metadata) and
// checks that the decoder reads it as it read the text.
func readBack(ctx context.Context, t *testing.T, rc dynamic.ResourceInterface, want catalog.Rotation) {
	t.Helper()
	u, err := rc.Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := sigsyaml.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	got, err := catalog.ParseRotations("stored.yaml", stored)
	if err != nil {
		t.Fatalf("the decoder refuses the stored object: %v\n%s", err, stored)
	}
	got[0].Source, want.Source = "", ""
	if !reflect.DeepEqual(got[0], want) {
		t.Fatalf("stored object decodes as %+v, the text as %+v", got[0], want)
	}
}

// create sends doc as kubectl would: its YAML made JSON by sigs.k8s.io/yaml,
// unknown fields refused.
func create(ctx context.Context, rc dynamic.ResourceInterface, doc string) (*unstructured.Unstructured, error) {
	js, err := sigsyaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		return nil, err
	}
	return rc.Create(ctx, u, metav1.CreateOptions{FieldValidation: "Strict"})
}

// splitDocs is the file's documents, each on its own.
func splitDocs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			return docs
		} else if err != nil {
			t.Fatal(err)
		}
		b, err := yaml.Marshal(&n)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}
