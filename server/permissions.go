package server

import (
	"context"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
)

// permissionsCheck is the preflight check that asks each cluster's API server
// (SelfSubjectAccessReview) whether the bot's identity holds every permission the plan
// needs, so a Role missing one stops the run before it changes anything rather than at the
// step that needs it.
func permissionsCheck(cfg *config.Config, clusters map[string]*kube.Cluster) steps.ReportingCheck {
	return func(ctx context.Context, run *engine.Run) (report.Facts, error) {
		found := report.CheckPermissions{Count: len(kube.PlanAccess) + 1}
		var bad report.Permissions
		for _, name := range []string{run.Origin, run.Destination} {
			c, ok := clusters[name]
			if !ok {
				bad.Clusters = append(bad.Clusters, report.ClusterPermissions{Cluster: name, Err: report.Fail(report.NoCluster{Cluster: name}, nil).Error()})
				continue
			}
			want := append(append([]kube.Access(nil), kube.PlanAccess...), kube.AnnotateAccess(kube.StatefulSet, cfg.Clusters[name].CeleryStatefulSet))
			missing, err := c.Missing(ctx, want)
			switch {
			case err != nil:
				bad.Clusters = append(bad.Clusters, report.ClusterPermissions{Cluster: name, Err: err.Error()})
			case len(missing) > 0:
				p := report.ClusterPermissions{Cluster: name, Namespace: c.Namespace()}
				for _, a := range missing {
					p.Missing = append(p.Missing, a.String())
				}
				bad.Clusters = append(bad.Clusters, p)
			default:
				found.Clusters = append(found.Clusters, name)
			}
		}
		if len(bad.Clusters) > 0 {
			return nil, report.Fail(bad, nil)
		}
		return found, nil
	}
}
