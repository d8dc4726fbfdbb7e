package steps

import (
	"context"
	"fmt"
	"strings"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
)

func (c *ClusterSteps) both(run *engine.Run, fn func(name string, cl Cluster) (string, error)) (string, error) {
	var ok, bad []string
	for _, name := range []string{run.Origin, run.Destination} {
		cl, err := c.cluster(name)
		if err == nil {
			var msg string
			msg, err = fn(name, cl)
			if err == nil {
				ok = append(ok, msg)
				continue
			}
		}
		bad = append(bad, err.Error())
	}
	if len(bad) > 0 {
		return "", fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return strings.Join(ok, "; "), nil
}

func (c *ClusterSteps) checkReachable(ctx context.Context, run *engine.Run) (string, error) {
	return c.both(run, func(name string, cl Cluster) (string, error) {
		if err := cl.Ping(ctx); err != nil {
			return "", err
		}
		return name + " answers", nil
	})
}

func (c *ClusterSteps) checkPods(ctx context.Context, run *engine.Run) (string, error) {
	return c.both(run, func(name string, cl Cluster) (string, error) {
		cc := c.cfg.Clusters[name]
		web, err := cl.FindPod(ctx, cc.Meshweb.Selector, cc.Meshweb.Container)
		if err != nil {
			return "", err
		}
		db, err := cl.FindPod(ctx, cc.Postgres.Selector, cc.Postgres.Container)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: %s, %s", name, web.Name, db.Name), nil
	})
}

func (c *ClusterSteps) checkCelery(ctx context.Context, run *engine.Run) (string, error) {
	return c.both(run, func(name string, cl Cluster) (string, error) {
		sts := c.cfg.Clusters[name].CeleryStatefulSet
		if err := cl.WorkloadExists(ctx, kube.StatefulSet, sts); err != nil {
			return "", err
		}
		return name + "/" + sts, nil
	})
}

func (c *ClusterSteps) checkDigests(ctx context.Context, run *engine.Run) (string, error) {
	digests := map[string]string{}
	_, err := c.both(run, func(name string, cl Cluster) (string, error) {
		cc := c.cfg.Clusters[name]
		d, err := cl.ImageDigest(ctx, cc.Meshweb.Selector, cc.Meshweb.Container)
		digests[name] = d
		return d, err
	})
	if err != nil {
		return "", err
	}
	// Advice, not a block: what the destination runs is checked against the branch head
	// (checkDeployed), and the origin keeps its own database whatever happens. What
	// differs is the schema: the restore gives the destination the origin's migrations,
	// and MeshDB migrates only when meshweb starts.
	if digests[run.Origin] != digests[run.Destination] {
		return "", Warning("%s runs %s but %s runs %s: the restore gives %s the database of %s as migrated by its MeshDB; if that is older, restart meshweb in %s after the restore (it runs manage.py migrate as it starts)",
			run.Origin, digests[run.Origin], run.Destination, digests[run.Destination], run.Destination, run.Origin, run.Destination)
	}
	return digests[run.Origin], nil
}
