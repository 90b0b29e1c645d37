package manifest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/eventflow/eventflow/pkg/runtime/kubernetes/k8stest"
)

// WantRules is, per service, everything its ServiceAccount may do in a
// tenant's namespace, exactly: what the Kubernetes runtime calls (see
// pkg/runtime/kubernetes) and nothing more.
var WantRules = map[string][]string{
	"gateway": nil,
	"deployer": expand(
		"get,create,patch namespaces",
		"get,list,watch,create,patch,delete deployments.apps",
		"patch deployments.apps/scale",
		"get,list,watch,create,patch,delete services",
		"get,list,watch,create,patch,delete podtemplates",
		"get,list,watch,create,patch,delete horizontalpodautoscalers.autoscaling",
		"get,list,watch,create,patch networkpolicies.networking.k8s.io",
		"list,watch pods",
		"list,delete,deletecollection jobs.batch",
		"create,patch,delete secrets"),
	"invoker": expand(
		"get,list,watch,create,patch jobs.batch",
		"create,patch secrets",
		"get,list,watch pods",
		"get pods/log"),
	"logstream": expand(
		"get,list,watch pods",
		"get pods/log"),
}

func expand(lines ...string) []string {
	var out []string
	for _, l := range lines {
		verbs, res, _ := strings.Cut(l, " ")
		for _, v := range strings.Split(verbs, ",") {
			out = append(out, v+" "+res)
		}
	}
	sort.Strings(out)
	return out
}

func access(verb, group, resource, sub, ns string) Access {
	return Access{Verb: verb, Group: group, Resource: resource, Subresource: sub, Namespace: ns}
}

// CheckRBACLive proves the ServiceAccounts' rights on the API server: for
// each, the rules it holds in a tenant's namespace are exactly WantRules,
// and SubjectAccessReviews grant what it needs and refuse the rest (the
// gateway nothing at all; the invoker no Deployment deletes; the deployer
// no pods, and of Secrets only the writes of the functions' own;
// logstream pods and their logs, read-only; no account reads a Secret
// anywhere).
func CheckRBACLive(t *testing.T, env *k8stest.Env, ns, prefix, tenantNS string) {
	for _, svc := range ServiceNames {
		sa := prefix + "-" + svc
		t.Run(svc, func(t *testing.T) {
			// What any ServiceAccount may do by the cluster's defaults
			// (e.g. read ClusterTrustBundles) is not EventFlow's grant.
			baseline := Rules(t, env, ns, "eventflow-test-no-bindings", tenantNS)
			var got []string
			for _, r := range Rules(t, env, ns, sa, tenantNS) {
				if !slices.Contains(baseline, r) {
					got = append(got, r)
				}
			}
			if want := WantRules[svc]; !slices.Equal(got, want) {
				t.Errorf("%s may do in %s:\n  %s\nwant exactly:\n  %s", sa, tenantNS, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			allow, deny := accessMatrix(svc, ns, tenantNS)
			for _, a := range allow {
				if !Can(t, env, ns, sa, a) {
					t.Errorf("%s may not %s, and needs to", sa, a)
				}
			}
			for _, a := range deny {
				if Can(t, env, ns, sa, a) {
					t.Errorf("%s may %s, and must not", sa, a)
				}
			}
		})
	}
}

func accessMatrix(svc, ns, tenant string) (allow, deny []Access) {
	// Nobody reads Secrets, in EventFlow's namespace, a tenant's, or all.
	for _, where := range []string{ns, tenant, ""} {
		for _, v := range []string{"get", "list", "watch"} {
			deny = append(deny, access(v, "", "secrets", "", where))
		}
	}
	// Nobody escalates, execs into pods, or touches RBAC or nodes.
	deny = append(deny,
		access("create", "", "pods", "exec", tenant),
		access("create", "rbac.authorization.k8s.io", "clusterrolebindings", "", ""),
		access("bind", "rbac.authorization.k8s.io", "clusterroles", "", ""),
		access("escalate", "rbac.authorization.k8s.io", "clusterroles", "", ""),
		access("impersonate", "", "serviceaccounts", "", ""),
		access("create", "", "serviceaccounts", "token", tenant),
		access("list", "", "nodes", "", ""),
		access("get", "", "configmaps", "", ns),
		access("delete", "", "namespaces", "", ""),
	)
	switch svc {
	case "gateway":
		for _, where := range []string{tenant, ns, ""} {
			deny = append(deny,
				access("list", "", "pods", "", where),
				access("get", "", "pods", "", where),
				access("get", "", "pods", "log", where),
				access("list", "apps", "deployments", "", where),
				access("create", "batch", "jobs", "", where),
				access("get", "", "namespaces", "", ""),
				access("list", "", "services", "", where))
		}
	case "deployer":
		for _, where := range []string{tenant, ""} {
			for _, r := range [][2]string{{"apps", "deployments"}, {"", "services"}, {"autoscaling", "horizontalpodautoscalers"}} {
				for _, v := range []string{"get", "list", "watch", "create", "patch", "delete"} {
					allow = append(allow, access(v, r[0], r[1], "", where))
				}
			}
		}
		allow = append(allow,
			access("create", "", "namespaces", "", ""), access("get", "", "namespaces", "", ""), access("patch", "", "namespaces", "", ""),
			access("watch", "", "pods", "", ""), access("delete", "batch", "jobs", "", tenant),
			access("patch", "networking.k8s.io", "networkpolicies", "", tenant), access("watch", "networking.k8s.io", "networkpolicies", "", ""),
			access("patch", "apps", "deployments", "scale", tenant),
			// The functions' Secrets: written (server-side apply) and
			// deleted, never read.
			access("create", "", "secrets", "", tenant), access("patch", "", "secrets", "", tenant),
			access("delete", "", "secrets", "", tenant))
		deny = append(deny,
			access("create", "", "pods", "", tenant), access("delete", "", "pods", "", tenant),
			access("create", "batch", "jobs", "", tenant), access("get", "", "pods", "log", tenant),
			access("update", "", "secrets", "", tenant), access("deletecollection", "", "secrets", "", tenant),
			access("update", "apps", "deployments", "", tenant), access("update", "apps", "deployments", "scale", tenant),
			access("delete", "networking.k8s.io", "networkpolicies", "", tenant))
	case "invoker":
		allow = append(allow,
			access("create", "batch", "jobs", "", tenant), access("get", "batch", "jobs", "", tenant),
			access("watch", "batch", "jobs", "", ""), access("get", "", "pods", "", tenant),
			access("list", "", "pods", "", ""), access("get", "", "pods", "log", tenant),
			access("create", "", "secrets", "", tenant), access("patch", "", "secrets", "", tenant))
		deny = append(deny,
			access("delete", "apps", "deployments", "", tenant), access("delete", "apps", "deployments", "", ""),
			access("create", "apps", "deployments", "", tenant), access("delete", "batch", "jobs", "", tenant),
			access("patch", "apps", "deployments", "scale", tenant),
			access("delete", "", "pods", "", tenant), access("create", "", "namespaces", "", ""),
			access("delete", "", "secrets", "", tenant), access("create", "", "services", "", tenant))
	case "logstream":
		allow = append(allow,
			access("get", "", "pods", "", tenant), access("watch", "", "pods", "", tenant),
			access("list", "", "pods", "", ""), access("watch", "", "pods", "", ""),
			access("get", "", "pods", "log", tenant))
		deny = append(deny,
			access("create", "", "pods", "", tenant), access("delete", "", "pods", "", tenant),
			access("patch", "", "pods", "", tenant), access("list", "apps", "deployments", "", tenant),
			access("get", "batch", "jobs", "", tenant), access("list", "", "namespaces", "", ""),
			access("create", "", "secrets", "", tenant), access("list", "", "services", "", tenant))
	default:
		panic(fmt.Sprintf("unknown service %s", svc))
	}
	return allow, deny
}
