package steps

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// What a step's commands leave running when the bot is gone. A command started
// through pods/exec outlives its client: the bot dying, losing its lease or being
// shut down leaves a pg_restore running in the destination pod. Before a retry, an
// undo, or a step that writes or checks a database, the bot stops whatever earlier
// attempts left in both postgres pods; when a step's own context ends before it
// returns, it stops what that attempt started before letting go.

// StopOwnTimeout bounds the stop of an attempt's own commands after its context ended
// (the pod's grace period must cover the drain plus this).
const StopOwnTimeout = 45 * time.Second

var unsafePathChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

func tagOf(x engine.StepContext) pg.Tag {
	if x.Run == nil {
		return pg.Tag{}
	}
	return pg.Tag{Run: x.Run.ID, Step: x.Step.ID, Attempt: x.Attempt}
}

// pidFile is where a tracked command of tag writes its pid in a pod of cluster: beside
// the run's work file in /tmp.
func pidFile(tag pg.Tag, cluster, name string) string {
	return fmt.Sprintf("%s.%s.%s.%d.%s.pid", pidBase(tag.Run), unsafePathChars.ReplaceAllString(cluster, "_"),
		unsafePathChars.ReplaceAllString(tag.Step, "_"), tag.Attempt, unsafePathChars.ReplaceAllString(name, "_"))
}

func pidBase(runID string) string {
	return strings.TrimSuffix(plan.RemoteDumpPath(unsafePathChars.ReplaceAllString(runID, "_")), ".dump")
}

// sweeps says whether x stops leftovers before it runs: a retry, any rollback step,
// and the steps that write or check a database.
func sweeps(x engine.StepContext) bool {
	if x.Attempt > 1 || x.Step.Undoes != "" || (x.Index < len(x.Run.Steps) && x.Run.Steps[x.Index].Rollback) {
		return true
	}
	switch x.Step.Kind {
	case plan.KindRestore, plan.KindMaintenance, plan.KindExec, plan.KindVerify:
		return true
	}
	return false
}

// clustersOf are the clusters whose postgres pods a run's steps use.
func clustersOf(run *engine.Run) []string {
	if run.Origin == run.Destination {
		return []string{run.Origin}
	}
	return []string{run.Origin, run.Destination}
}

// stopLeftovers stops, in both postgres pods, every command of this run an earlier
// attempt left running and every database session of the bot's but x's. It returns
// what it stopped (cluster and command), none when nothing was left; an error when a
// pod cannot be checked (then nothing may run: a leftover could overlap).
func (c *ClusterSteps) stopLeftovers(ctx context.Context, x engine.StepContext) ([]report.Stopped, error) {
	var found []report.Stopped
	for _, name := range clustersOf(x.Run) {
		if _, ok := c.clusters[name]; !ok {
			continue
		}
		px, err := c.postgres(ctx, name, x)
		if err != nil {
			return nil, report.Fail(report.Leftovers{Cluster: name}, err)
		}
		glob := pidBase(x.Run.ID) + "." + unsafePathChars.ReplaceAllString(name, "_") + ".*.pid"
		left, err := pg.StopLeftovers(ctx, px, c.db, glob, pg.AppPrefix, tagOf(x))
		found = append(found, stoppedIn(name, left)...)
		if err != nil {
			return nil, report.Fail(report.Leftovers{Cluster: name, Stop: true}, err)
		}
	}
	return found, nil
}

// stopOwn stops what x's attempt started, after its context ended (shutdown, a lost
// lease): the commands outlive the connection that started them.
func (c *ClusterSteps) stopOwn(ctx context.Context, x engine.StepContext) *report.StoppedOwn {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), StopOwnTimeout)
	defer cancel()
	tag := tagOf(x)
	var own report.StoppedOwn
	for _, name := range clustersOf(x.Run) {
		if _, ok := c.clusters[name]; !ok {
			continue
		}
		px, err := c.postgres(ctx, name, x)
		if err != nil {
			own.Unreached = append(own.Unreached, report.ClusterErr{Cluster: name, Err: err.Error(), Reach: true})
			continue
		}
		glob := fmt.Sprintf("%s.%s.%s.%d.*.pid", pidBase(tag.Run), unsafePathChars.ReplaceAllString(name, "_"),
			unsafePathChars.ReplaceAllString(tag.Step, "_"), tag.Attempt)
		left, err := pg.StopLeftovers(ctx, px, c.db, glob, tag.AppName(), pg.Tag{})
		own.Stopped = append(own.Stopped, stoppedIn(name, left)...)
		if err != nil {
			own.Unreached = append(own.Unreached, report.ClusterErr{Cluster: name, Err: err.Error()})
		}
	}
	if len(own.Stopped) == 0 && len(own.Unreached) == 0 {
		return nil
	}
	return &own
}

// stoppedIn sets the cluster of what pg.StopLeftovers stopped there.
func stoppedIn(cluster string, left []pg.Leftover) []report.Stopped {
	for i := range left {
		left[i].Cluster = cluster
	}
	return left
}
