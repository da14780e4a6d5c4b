package install

import (
	"fmt"
	"reflect"
	"sort"
	"testing"
)

// podSpecs are the pod templates of the rendered workloads, by "Kind name".
func podSpecs(objs []Object) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, o := range objs {
		if ps, ok := get(o, "spec", "template", "spec").(map[string]any); ok {
			out[describe(o)] = ps
		}
	}
	return out
}

// The control components run as non-root on a read-only root with no
// capabilities and the runtime's seccomp profile; the agent keeps only the
// capabilities it names, runs unprivileged, and mounts only its cgroup view
// (read-only) and its profile store from the host.
func TestWorkloadsHardened(t *testing.T) {
	for _, target := range []string{"overlays/minimal", "overlays/ha"} {
		specs := podSpecs(render(t, target))
		if len(specs) != 3 {
			t.Fatalf("%s: workloads %v", target, keys(specs))
		}
		for name, ps := range specs {
			agent := name == "DaemonSet meshward-system/meshward-ebpf-agent"
			if get(ps, "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
				t.Errorf("%s %s: seccomp %v", target, name, get(ps, "securityContext", "seccompProfile"))
			}
			if !agent && (get(ps, "securityContext", "runAsNonRoot") != true || get(ps, "hostPID") != nil) {
				t.Errorf("%s %s: pod securityContext %v", target, name, get(ps, "securityContext"))
			}
			if get(ps, "hostNetwork") != nil || get(ps, "hostIPC") != nil {
				t.Errorf("%s %s: shares the host's network or IPC", target, name)
			}
			for i := range get(ps, "containers").([]any) {
				checkContainer(t, fmt.Sprintf("%s %s container %d", target, name, i), get(ps, "containers", i, "securityContext"), agent)
			}
			checkHostPaths(t, target+" "+name, ps, agent)
		}
	}
}

func checkContainer(t *testing.T, where string, sc any, agent bool) {
	t.Helper()
	if get(sc, "readOnlyRootFilesystem") != true || get(sc, "allowPrivilegeEscalation") != false {
		t.Errorf("%s: securityContext %v", where, sc)
	}
	if !reflect.DeepEqual(get(sc, "capabilities", "drop"), []any{"ALL"}) {
		t.Errorf("%s: drops %v", where, get(sc, "capabilities", "drop"))
	}
	var added []string
	for _, c := range asList(get(sc, "capabilities", "add")) {
		added = append(added, c.(string))
	}
	sort.Strings(added)
	want := []string(nil)
	if agent {
		want = []string{"BPF", "PERFMON", "SYS_RESOURCE"}
		if get(sc, "privileged") == true {
			t.Errorf("%s: privileged", where)
		}
	}
	if !reflect.DeepEqual(added, want) {
		t.Errorf("%s: adds %v, want %v", where, added, want)
	}
}

func checkHostPaths(t *testing.T, where string, ps map[string]any, agent bool) {
	t.Helper()
	allowed := map[string]bool{}
	if agent {
		allowed = map[string]bool{"/sys/fs/cgroup": true, "/var/lib/meshward/profiles": true}
	}
	for _, v := range asList(get(ps, "volumes")) {
		if p, ok := get(v, "hostPath", "path").(string); ok && !allowed[p] {
			t.Errorf("%s: host path %s", where, p)
		}
	}
	for _, m := range asList(get(ps, "containers", 0, "volumeMounts")) {
		if get(m, "name") == "cgroup" && get(m, "readOnly") != true {
			t.Errorf("%s: the host's cgroups are mounted writable", where)
		}
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The roles read what the components follow and nothing else: no Secrets,
// no writes, no wildcards; the xDS server has no API token at all.
func TestRBACLeastPrivilege(t *testing.T) {
	objs := render(t, "overlays/ha")
	want := map[string]map[string]bool{
		"meshward-authz":      {"security.istio.io/authorizationpolicies": true, "meshward.io/meshwardpolicies": true},
		"meshward-ebpf-agent": {"/pods": true},
	}
	for _, o := range objs {
		if o["kind"] != "ClusterRole" && o["kind"] != "Role" {
			continue
		}
		name := get(o, "metadata", "name").(string)
		for _, r := range asList(o["rules"]) {
			for _, verb := range asList(get(r, "verbs")) {
				if verb != "get" && verb != "list" && verb != "watch" {
					t.Errorf("%s may %v", name, verb)
				}
			}
			for _, g := range asList(get(r, "apiGroups")) {
				for _, res := range asList(get(r, "resources")) {
					if !want[name][fmt.Sprintf("%v/%v", g, res)] {
						t.Errorf("%s reads %v/%v", name, g, res)
					}
				}
			}
		}
	}
	xds := find(objs, "Deployment", "meshward-xds")
	if get(xds, "spec", "template", "spec", "automountServiceAccountToken") != false {
		t.Error("the xDS server's pods get an API token")
	}
}

// Every control component's pods are selected by a NetworkPolicy of both
// types, under a namespace-wide default deny.
func TestNetworkPolicies(t *testing.T) {
	objs := render(t, "overlays/minimal")
	if d := find(objs, "NetworkPolicy", "default-deny"); d == nil || len(get(d, "spec", "podSelector").(map[string]any)) != 0 ||
		len(asList(get(d, "spec", "ingress")))+len(asList(get(d, "spec", "egress"))) != 0 {
		t.Fatalf("default deny %v", d)
	}
	for _, app := range []string{"meshward-authz", "meshward-xds", "meshward-ebpf-agent"} {
		np := find(objs, "NetworkPolicy", app)
		if get(np, "spec", "podSelector", "matchLabels", "app") != app || len(asList(get(np, "spec", "policyTypes"))) != 2 {
			t.Errorf("%s: %v", app, np)
		}
	}
}

// The minimal overlay runs one authorizer on its bbolt key store; the HA
// overlay runs three on the shared etcd store, spread over nodes, with a
// budget that keeps two.
func TestOverlays(t *testing.T) {
	for _, tc := range []struct {
		target   string
		replicas int
		pvc      bool
		pdb      string
		store    string
	}{
		{"overlays/minimal", 1, true, "maxUnavailable", "--eaas-store=/var/lib/meshward/eaas/keys.db"},
		{"overlays/ha", 3, false, "minAvailable", "--eaas-etcd=https://meshward-etcd.meshward-system.svc:2379"},
	} {
		objs := render(t, tc.target)
		d := find(objs, "Deployment", "meshward-authz")
		if get(d, "spec", "replicas") != tc.replicas {
			t.Errorf("%s: replicas %v", tc.target, get(d, "spec", "replicas"))
		}
		if (find(objs, "PersistentVolumeClaim", "meshward-eaas-keys") != nil) != tc.pvc {
			t.Errorf("%s: key store volume %v", tc.target, !tc.pvc)
		}
		if get(find(objs, "PodDisruptionBudget", "meshward-authz"), "spec", tc.pdb) == nil {
			t.Errorf("%s: PDB without %s", tc.target, tc.pdb)
		}
		args, err := Args(objs, "Deployment", "meshward-authz")
		if err != nil || !contains(args, tc.store) {
			t.Errorf("%s: args %q %v", tc.target, args, err)
		}
		for _, v := range asList(get(d, "spec", "template", "spec", "volumes")) {
			if c := get(v, "persistentVolumeClaim", "claimName"); c != nil && !tc.pvc {
				t.Errorf("%s: mounts claim %v", tc.target, c)
			}
		}
	}
}
