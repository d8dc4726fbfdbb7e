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
	if digests[run.Origin] != digests[run.Destination] {
		return "", fmt.Errorf("%s runs %s but %s runs %s: deploy the same MeshDB to both first", run.Origin, digests[run.Origin], run.Destination, digests[run.Destination])
	}
	return digests[run.Origin], nil
}
