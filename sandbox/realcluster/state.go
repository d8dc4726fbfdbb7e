package realcluster

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/nycmeshnet/cutoverbot/deploy"
	"github.com/nycmeshnet/cutoverbot/sandbox/realkube"
)

// StateIdentity gives the bot the identity the chart gives a two-replica install in
// namespace ns (its ServiceAccount, and the Role and RoleBinding for its state ConfigMaps
// and Lease, as `helm install` renders them) and returns a token the API server issued for
// that ServiceAccount.
func StateIdentity(ctx context.Context, kube *realkube.Cluster, ns string) (string, error) {
	values, err := deploy.HAValues(ns)
	if err != nil {
		return "", err
	}
	raw, err := deploy.RenderChart(ctx, ns, values)
	if err != nil {
		return "", err
	}
	objs, err := realkube.SplitYAML(raw)
	if err != nil {
		return "", err
	}
	var identity []*unstructured.Unstructured
	sa := ""
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount":
			sa = o.GetName()
			identity = append(identity, o)
		case "Role", "RoleBinding":
			identity = append(identity, o)
		}
	}
	if sa == "" || len(identity) != 3 {
		return "", fmt.Errorf("the chart rendered %d identity objects (ServiceAccount %q), want a ServiceAccount, Role and RoleBinding", len(identity), sa)
	}
	if err := kube.EnsureNamespace(ctx, ns, nil); err != nil {
		return "", err
	}
	if _, err := kube.Apply(ctx, identity, realkube.ApplyOptions{FieldManager: "helm"}); err != nil {
		return "", err
	}
	return kube.ServiceAccountToken(ctx, ns, sa, 2*time.Hour)
}
