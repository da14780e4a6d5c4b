// Package kubetest runs a real Kubernetes API (kube-apiserver built from
// k8s.io/kubernetes, `make kube-apiserver`, over Debian's etcd) on
// 127.0.0.1 for tests, with Istio's CRDs and meshward's applied.
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// Cluster is a running API server.
type Cluster struct {
	Config *rest.Config
	procs  []*exec.Cmd
	dir    string
}

// ErrMissing says a binary the cluster needs is not there.
var ErrMissing = errors.New("kubetest: missing binary")

// Binaries are where the API server and etcd are: MESHWARD_KUBE_APISERVER
// (default build/kube-apiserver below root) and etcd on PATH.
func Binaries(root string) (apiserver, etcd string, err error) {
	apiserver = os.Getenv("MESHWARD_KUBE_APISERVER")
	if apiserver == "" {
		apiserver = filepath.Join(root, "build", "kube-apiserver")
	}
	if _, err := os.Stat(apiserver); err != nil {
		return "", "", fmt.Errorf("%w: %s (run `make kube-apiserver`)", ErrMissing, apiserver)
	}
	etcd, err = exec.LookPath("etcd")
	if err != nil {
		return "", "", fmt.Errorf("%w: etcd (apt-get install etcd-server)", ErrMissing)
	}
	return apiserver, etcd, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Options change how Start runs the API server.
type Options struct {
	// RBAC authorizes requests by RBAC (the admin token is in
	// system:masters and may do anything) instead of allowing every request.
	RBAC bool
}

// Start runs etcd and the API server in dir, waits until the API is ready and
// applies CRDs (each file a multi-document YAML).
func Start(ctx context.Context, apiserver, etcd, dir string, logs io.Writer, crdFiles ...string) (*Cluster, error) {
	return StartWith(ctx, Options{}, apiserver, etcd, dir, logs, crdFiles...)
}

// StartWith is Start with options.
func StartWith(ctx context.Context, o Options, apiserver, etcd, dir string, logs io.Writer, crdFiles ...string) (*Cluster, error) {
	c := &Cluster{dir: dir}
	authz := "AlwaysAllow"
	if o.RBAC {
		authz = "RBAC"
	}
	client, peer, secure := mustPort(), mustPort(), mustPort()
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", client)
	if err := c.run(logs, etcd, "--data-dir", filepath.Join(dir, "etcd"), "--name", "default",
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
		"--initial-cluster", fmt.Sprintf("default=http://127.0.0.1:%d", peer)); err != nil {
		return nil, err
	}
	token, err := c.credentials()
	if err != nil {
		c.Stop()
		return nil, err
	}
	if err := c.run(logs, apiserver, "--etcd-servers", etcdURL, "--bind-address", "127.0.0.1",
		"--advertise-address", "127.0.0.1", fmt.Sprintf("--secure-port=%d", secure),
		"--cert-dir", filepath.Join(dir, "certs"), "--token-auth-file", filepath.Join(dir, "tokens.csv"),
		"--authorization-mode", authz, "--disable-admission-plugins", "ServiceAccount",
		"--service-account-key-file", filepath.Join(dir, "sa.pem"), "--service-account-signing-key-file", filepath.Join(dir, "sa.pem"),
		"--service-account-issuer", "https://kubernetes.default.svc", "--service-cluster-ip-range", "10.96.0.0/24",
		"--enable-priority-and-fairness=false"); err != nil {
		c.Stop()
		return nil, err
	}
	c.Config = &rest.Config{Host: fmt.Sprintf("https://127.0.0.1:%d", secure), BearerToken: token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 100, Burst: 200}
	if err := c.waitReady(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	for _, f := range crdFiles {
		if err := c.ApplyFile(ctx, f); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

func mustPort() int {
	p, err := freePort()
	if err != nil {
		panic(err)
	}
	return p
}

func (c *Cluster) run(logs io.Writer, bin string, args ...string) error {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return err
	}
	c.procs = append(c.procs, cmd)
	return nil
}

// credentials writes an admin token and the service-account signing key.
func (c *Cluster) credentials() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b)
	if err := os.WriteFile(filepath.Join(c.dir, "tokens.csv"), []byte(token+",admin,admin,system:masters\n"), 0o600); err != nil {
		return "", err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return token, os.WriteFile(filepath.Join(c.dir, "sa.pem"), pemKey, 0o600)
}

func (c *Cluster) waitReady(ctx context.Context) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, "GET", c.Config.Host+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+c.Config.BearerToken)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		for _, p := range c.procs {
			if p.ProcessState != nil {
				return fmt.Errorf("kubetest: %s exited", p.Path)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("kubetest: the API server was not ready within 60 s")
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// ApplyFile creates every CRD of a YAML file and waits until each is served.
func (c *Cluster) ApplyFile(ctx context.Context, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dc, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if obj == nil || obj["kind"] != "CustomResourceDefinition" {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if _, err := dc.Resource(crdGVR).Create(ctx, u, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("%s: creating %s: %w", path, u.GetName(), err)
		}
		if err := c.waitEstablished(ctx, dc, u.GetName()); err != nil {
			return err
		}
	}
}

func (c *Cluster) waitEstablished(ctx context.Context, dc dynamic.Interface, name string) error {
	for i := 0; i < 100; i++ {
		u, err := dc.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, cd := range conds {
				m, _ := cd.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("kubetest: CRD %s not established", name)
}

// Stop ends the processes.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = p.Process.Kill()
		_ = p.Wait()
	}
}
