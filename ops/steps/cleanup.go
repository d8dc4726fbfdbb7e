package steps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// What a run leaves behind holds members' personal data. When a run ends, however it
// ends, the dump's copy in the destination pod's /tmp and the pid files go at once.
// The backups (in the spool, and their copies on the postgres volume) are kept for
// state.retention after the end, in case the destination must be restored by hand,
// then removed by ExpireRuns.

// EndRun removes what run left in the postgres pods' /tmp: the dump's copy and the pid
// files, in today's postgres pod of each cluster and in the pod the copy was recorded
// in. It reports (report.End) what could not be removed and where, and how long the
// backups are kept; nil when there is nothing to say.
func (c *ClusterSteps) EndRun(ctx context.Context, run *engine.Run) *engine.Report {
	x := engine.StepContext{Run: run}
	remote := plan.RemoteDumpPath(run.ID)
	var end report.End
	for _, name := range clustersOf(run) {
		cl, err := c.cluster(name)
		if err != nil {
			continue
		}
		pods := c.recordedPods(run, name)
		if cur, err := c.postgres(ctx, name, x); err == nil {
			if !slices.Contains(pods, cur.pod) {
				pods = append(pods, cur.pod)
			}
		} else if len(pods) == 0 {
			end.Leftovers = append(end.Leftovers, report.Leftover{Path: remote, Cluster: name, Err: err.Error()})
			continue
		}
		cc := c.cfg.Clusters[name]
		glob := pidBase(run.ID) + ".*.pid"
		for _, pod := range pods {
			px := podExec{cl, pod, cc.Postgres.Container, pg.Tag{}}
			err := px.Exec(ctx, []string{"sh", "-c", "rm -f '" + remote + "' " + glob}, nil, nil, nil)
			if err != nil && !isGonePod(err) {
				end.Leftovers = append(end.Leftovers, report.Leftover{Path: remote, Cluster: name, Namespace: cc.Namespace, Pod: pod,
					Container: cc.Postgres.Container, Err: err.Error()})
			}
		}
	}
	if end.Backups = c.keptBackups(run); len(end.Backups) > 0 {
		end.KeptUntil = run.Ended.Add(c.cfg.State.Retention.Duration).UTC()
	}
	if end.Empty() {
		return nil
	}
	return engine.ReportOf(end)
}

// recordedPods are the pods of cluster name the run recorded a file in.
func (c *ClusterSteps) recordedPods(run *engine.Run, name string) []string {
	var pods []string
	for _, s := range run.Steps {
		if s.Step.Kind != plan.KindDump || s.Step.Undoes != "" {
			continue
		}
		if d, err := engine.Decode[DumpResult](s.Output); err == nil && d.Copy != nil && d.Copy.Cluster == name && !slices.Contains(pods, d.Copy.Pod) {
			pods = append(pods, d.Copy.Pod)
		}
	}
	return pods
}

// isGonePod says the pod no longer exists: it took its /tmp with it.
// (errors.Is ErrNotFound: the API answered 404; an error's words prove nothing).
func isGonePod(err error) bool { return errors.Is(err, kube.ErrNotFound) }

// keptBackups lists the run's backups.
func (c *ClusterSteps) keptBackups(run *engine.Run) []report.KeptBackup {
	var kept []report.KeptBackup
	for _, s := range run.Steps {
		if s.Step.Kind != plan.KindRestore {
			continue
		}
		r, err := engine.Decode[RestoreResult](s.Output)
		if err != nil || !r.Backup.Taken() {
			continue
		}
		k := report.KeptBackup{File: filepath.Base(r.Backup.File.Path), Bytes: r.Backup.File.Size, SHA256: r.Backup.File.SHA256, Replica: r.Backup.Replica}
		if r.Backup.InPod != nil {
			k.PodCluster, k.PodPath = r.Backup.InPod.Cluster, r.Backup.InPod.Path
		}
		kept = append(kept, k)
	}
	return kept
}

// SpoolRun is what the spool holds of one run on this replica.
type SpoolRun struct {
	RunID string
	Bytes int64
	Files int
}

// SpoolUsage lists what this replica's spool holds, run by run.
func SpoolUsage(dir string) ([]SpoolRun, error) {
	root := filepath.Join(dir, "spool")
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []SpoolRun
	for _, e := range entries {
		if !e.IsDir() || e.Name() == expiredDir {
			continue
		}
		u := SpoolRun{RunID: e.Name()}
		err := filepath.WalkDir(filepath.Join(root, e.Name()), func(_ string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			u.Bytes += info.Size()
			u.Files++
			return nil
		})
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RunID > out[j].RunID })
	return out, nil
}

// expiredDir, under the spool, holds a marker per run whose files were removed.
const expiredDir = ".expired"

// ExpireRuns removes the files of runs that ended more than state.retention before
// now: this replica's spool directory of the run and the backups' copies on the
// postgres volumes. It returns what it removed and what it could not; a run is marked
// done only when everything went.
func (c *ClusterSteps) ExpireRuns(ctx context.Context, runs []*engine.Run, now time.Time) (removed []string, problems []string) {
	root := filepath.Join(c.cfg.State.Dir, "spool")
	for _, r := range runs {
		if r.Ended.IsZero() || now.Sub(r.Ended) < c.cfg.State.Retention.Duration {
			continue
		}
		marker := filepath.Join(root, expiredDir, unsafePathChars.ReplaceAllString(r.ID, "_"))
		if _, err := os.Stat(marker); err == nil {
			continue
		}
		ok := true
		dir := filepath.Join(root, r.ID)
		if _, err := os.Stat(dir); err == nil {
			if err := os.RemoveAll(dir); err != nil {
				problems = append(problems, fmt.Sprintf("run %s: remove %s: %v", r.ID, dir, err))
				ok = false
			} else {
				removed = append(removed, dir)
			}
		}
		for _, name := range clustersOf(r) {
			px, err := c.postgres(ctx, name, engine.StepContext{})
			if err != nil {
				problems = append(problems, fmt.Sprintf("run %s: %s: %v", r.ID, name, err))
				ok = false
				continue
			}
			podDir := c.podBackupPath(r.ID, "")
			if err := px.Exec(ctx, []string{"rm", "-rf", podDir}, nil, nil, nil); err != nil {
				problems = append(problems, fmt.Sprintf("run %s: remove %s in %s pod %s: %v", r.ID, podDir, name, px.pod, err))
				ok = false
				continue
			}
			removed = append(removed, fmt.Sprintf("%s in %s pod %s", podDir, name, px.pod))
		}
		if ok {
			if err := os.MkdirAll(filepath.Dir(marker), 0o700); err == nil {
				_ = os.WriteFile(marker, nil, 0o600)
			}
		}
	}
	return removed, problems
}
