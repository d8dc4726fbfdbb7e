package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
)

// permissionsCheck is the preflight check that asks each cluster's API server
// (SelfSubjectAccessReview) whether the bot's identity holds every permission the plan
// needs, so a Role missing one stops the run before it changes anything rather than at the
// step that needs it.
func permissionsCheck(cfg *config.Config, clusters map[string]*kube.Cluster) steps.Check {
	return func(ctx context.Context, run *engine.Run) (string, error) {
		var ok, bad []string
		for _, name := range []string{run.Origin, run.Destination} {
			c, found := clusters[name]
			if !found {
				bad = append(bad, fmt.Sprintf("no connection to cluster %q is configured", name))
				continue
			}
			want := append(append([]kube.Access(nil), kube.PlanAccess...), kube.AnnotateAccess(kube.StatefulSet, cfg.Clusters[name].CeleryStatefulSet))
			missing, err := c.Missing(ctx, want)
			switch {
			case err != nil:
				bad = append(bad, err.Error())
			case len(missing) > 0:
				bad = append(bad, fmt.Sprintf("%s: the bot may not %s in namespace %s (apply deploy/target-cluster/rbac.yaml)",
					name, kube.DescribeMissing(missing), c.Namespace()))
			default:
				ok = append(ok, name)
			}
		}
		if len(bad) > 0 {
			return "", fmt.Errorf("%s", strings.Join(bad, "; "))
		}
		return fmt.Sprintf("all %d the plan needs in %s", len(kube.PlanAccess)+1, strings.Join(ok, " and ")), nil
	}
}
