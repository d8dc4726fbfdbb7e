package steps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
)

// What a run leaves behind holds members' personal data. When a run ends, however it
// ends, the dump's copy in the destination pod's /tmp and the pid files go at once.
// The backups (in the spool, and their copies on the postgres volume) are kept for
// state.retention after the end, in case the destination must be restored by hand,
// then removed by ExpireRuns.

// EndRun removes what run left in the postgres pods' /tmp: the dump's copy and the pid
// files, in today's postgres pod of each cluster and in the pod the copy was recorded
// in. It says, for people, what could not be removed (with the command to remove it)
// and how long the backups are kept.
func (c *ClusterSteps) EndRun(ctx context.Context, run *engine.Run) string {
	x := engine.StepContext{Run: run}
	remote := plan.RemoteDumpPath(run.ID)
	var problems []string
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
			problems = append(problems, fmt.Sprintf("%s: no postgres pod found (%v); if it still holds %s, remove it by hand", name, err, remote))
			continue
		}
		cc := c.cfg.Clusters[name]
		glob := pidBase(run.ID) + ".*.pid"
		for _, pod := range pods {
			px := podExec{cl, pod, cc.Postgres.Container, pg.Tag{}}
			err := px.Exec(ctx, []string{"sh", "-c", "rm -f '" + remote + "' " + glob}, nil, nil, nil)
			if err != nil && !isGonePod(err) {
				problems = append(problems, fmt.Sprintf("could not remove %s in %s pod %s (%v); remove it by hand:\n  kubectl -n %s exec %s -c %s -- rm -f %s",
					remote, name, pod, err, cc.Namespace, pod, cc.Postgres.Container, remote))
			}
		}
	}
	var lines []string
	if len(problems) > 0 {
		lines = append(lines, "Files the bot could not remove (they hold members' data):")
		lines = append(lines, problems...)
	}
	if kept := c.keptBackups(run); kept != "" {
		lines = append(lines, kept)
	}
	return strings.Join(lines, "\n")
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
func isGonePod(err error) bool {
	return strings.Contains(err.Error(), "not found") || strings.Contains(err.Error(), "NotFound")
}

// keptBackups says where the run's backups are and until when.
func (c *ClusterSteps) keptBackups(run *engine.Run) string {
	var where []string
	for _, s := range run.Steps {
		if s.Step.Kind != plan.KindRestore {
			continue
		}
		r, err := engine.Decode[RestoreResult](s.Output)
		if err != nil || !r.Backup.Taken() {
			continue
		}
		w := fmt.Sprintf("%s (%s, sha256 %s) in the spool of replica %s", filepath.Base(r.Backup.File.Path), HumanBytes(r.Backup.File.Size), short(r.Backup.File.SHA256), r.Backup.Replica)
		if r.Backup.InPod != nil {
			w += fmt.Sprintf(" and on %s's postgres volume (%s)", r.Backup.InPod.Cluster, r.Backup.InPod.Path)
		}
		where = append(where, w)
	}
	if len(where) == 0 {
		return ""
	}
	until := run.Ended.Add(c.cfg.State.Retention.Duration)
	return fmt.Sprintf("Backups kept until %s (state.retention), then removed: %s", until.UTC().Format("2006-01-02 15:04 MST"), strings.Join(where, "; "))
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
