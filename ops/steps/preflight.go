package steps

import (
	"context"
	"fmt"
	"strings"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// both runs fn on the origin, then the destination; what fails on either fails the
// check, naming each.
func (c *ClusterSteps) both(run *engine.Run, fn func(name string, cl Cluster) error) error {
	var bad []string
	for _, name := range []string{run.Origin, run.Destination} {
		cl, err := c.cluster(name)
		if err == nil {
			if err = fn(name, cl); err == nil {
				continue
			}
		}
		bad = append(bad, err.Error())
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}

func (c *ClusterSteps) checkReachable(ctx context.Context, run *engine.Run) (report.Facts, error) {
	var found report.CheckReachable
	err := c.both(run, func(name string, cl Cluster) error {
		if err := cl.Ping(ctx); err != nil {
			return err
		}
		found.Clusters = append(found.Clusters, name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

func (c *ClusterSteps) checkPods(ctx context.Context, run *engine.Run) (report.Facts, error) {
	var found report.CheckPods
	err := c.both(run, func(name string, cl Cluster) error {
		cc := c.cfg.Clusters[name]
		web, err := cl.FindPod(ctx, cc.Meshweb.Selector, cc.Meshweb.Container)
		if err != nil {
			return err
		}
		db, err := cl.FindPod(ctx, cc.Postgres.Selector, cc.Postgres.Container)
		if err != nil {
			return err
		}
		found.Clusters = append(found.Clusters, report.ClusterPods{Cluster: name, Meshweb: web.Name, Postgres: db.Name})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

func (c *ClusterSteps) checkCelery(ctx context.Context, run *engine.Run) (report.Facts, error) {
	var found report.CheckCelery
	err := c.both(run, func(name string, cl Cluster) error {
		sts := c.cfg.Clusters[name].CeleryStatefulSet
		if err := cl.WorkloadExists(ctx, kube.StatefulSet, sts); err != nil {
			return err
		}
		found.StatefulSets = append(found.StatefulSets, report.ClusterWorkload{Cluster: name, Name: sts})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

func (c *ClusterSteps) checkDigests(ctx context.Context, run *engine.Run) (report.Facts, error) {
	digests := map[string]string{}
	err := c.both(run, func(name string, cl Cluster) error {
		cc := c.cfg.Clusters[name]
		d, err := cl.ImageDigest(ctx, cc.Meshweb.Selector, cc.Meshweb.Container)
		digests[name] = d
		return err
	})
	if err != nil {
		return nil, err
	}
	// Advice, not a block: what the destination runs is checked against the branch head
	// (checkDeployed), and the origin keeps its own database whatever happens. What
	// differs is the schema: the restore gives the destination the origin's migrations,
	// and MeshDB migrates only when meshweb starts.
	if digests[run.Origin] != digests[run.Destination] {
		return nil, WarningOf(report.CheckDigestsDiffer{Origin: run.Origin, OriginDigest: digests[run.Origin],
			Destination: run.Destination, DestinationDigest: digests[run.Destination]})
	}
	return report.CheckDigests{Digest: digests[run.Origin]}, nil
}
