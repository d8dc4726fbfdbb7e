package steps_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
	"github.com/nycmeshnet/cutoverbot/sandbox"
)

// When a run ends, however it ends, the dump's copy in the destination pod and the pid
// files go; what cannot be removed is listed with the command to remove it; backups
// stay until state.retention has passed since the end, then go from the spool and the
// postgres volume.
func TestRunEndAndRetentionRemoveWhatTheRunLeft(t *testing.T) {
	w := newWorld(t)
	cs := w.cluster
	remote := plan.RemoteDumpPath(w.run.ID)
	_, err := w.step(t, "dump-origin")
	require.NoError(t, err)
	rout, err := w.step(t, "restore-destination")
	require.NoError(t, err)
	backup := result[steps.RestoreResult](t, rout).Backup
	require.NotNil(t, backup.InPod)
	require.FileExists(t, backup.InPod.Path, "the backup's copy on the postgres volume")
	require.NoError(t, os.WriteFile(remote, []byte("left by a step that was skipped"), 0o600))
	pid := strings.TrimSuffix(remote, ".dump") + ".prod1.restore-destination.1.restore.pid"
	require.NoError(t, os.WriteFile(pid, []byte("1\n"), 0o600))

	// The pods cannot be reached (the sandbox's pods share this machine's /tmp: both
	// fail): the end says so, with the command.
	for _, c := range []*sandbox.Cluster{w.dest, w.origin} {
		recordPod(c, func(argv []string) error {
			if argv[0] == "sh" {
				return fmt.Errorf("connection refused")
			}
			return nil
		})
	}
	w.run.State, w.run.Ended = engine.Completed, time.Now()
	end := endReport(t, cs.EndRun(context.Background(), w.run))
	w.dest.SetExecHook(nil)
	w.origin.SetExecHook(nil)
	var inDest []report.Leftover
	for _, l := range end.Leftovers {
		assert.Contains(t, l.Err, "connection refused")
		if l.Cluster == "prod1" {
			l.Err = ""
			inDest = append(inDest, l)
		}
	}
	assert.Equal(t, []report.Leftover{{Path: remote, Cluster: "prod1", Namespace: "meshdb", Pod: destPod, Container: "meshdb-postgres"}}, inDest,
		"what to remove by hand, and where: %+v", end.Leftovers)
	assert.FileExists(t, remote)

	end = endReport(t, cs.EndRun(context.Background(), w.run))
	assert.Empty(t, end.Leftovers)
	require.Len(t, end.Backups, 1)
	assert.Equal(t, report.KeptBackup{File: filepath.Base(backup.File.Path), Bytes: backup.File.Size, SHA256: backup.File.SHA256,
		Replica: backup.Replica, PodCluster: "prod1", PodPath: backup.InPod.Path}, end.Backups[0])
	assert.Equal(t, w.run.Ended.Add(w.cfg.State.Retention.Duration).UTC(), end.KeptUntil)
	assert.NoFileExists(t, remote, "the copy in the pod is gone")
	assert.NoFileExists(t, pid)
	assert.FileExists(t, backup.File.Path, "backups stay until the retention ends")
	assert.FileExists(t, backup.InPod.Path)

	spool := filepath.Dir(backup.File.Path)
	removed, problems := cs.ExpireRuns(context.Background(), []*engine.Run{w.run}, w.run.Ended.Add(w.cfg.State.Retention.Duration-time.Minute))
	assert.Empty(t, removed, "not yet")
	assert.Empty(t, problems)
	assert.DirExists(t, spool)
	usage, err := steps.SpoolUsage(w.cfg.State.Dir)
	require.NoError(t, err)
	require.Len(t, usage, 1)
	assert.Equal(t, w.run.ID, usage[0].RunID)
	assert.Positive(t, usage[0].Bytes)

	removed, problems = cs.ExpireRuns(context.Background(), []*engine.Run{w.run}, w.run.Ended.Add(w.cfg.State.Retention.Duration+time.Minute))
	assert.Empty(t, problems)
	assert.Len(t, removed, 3, "the spool and the volume of each cluster: %q", removed)
	assert.NoDirExists(t, spool)
	assert.NoFileExists(t, backup.InPod.Path)
	usage, err = steps.SpoolUsage(w.cfg.State.Dir)
	require.NoError(t, err)
	assert.Empty(t, usage)
	cmds := recordPod(w.dest, nil)
	removed, _ = cs.ExpireRuns(context.Background(), []*engine.Run{w.run}, w.run.Ended.Add(w.cfg.State.Retention.Duration+time.Hour))
	w.dest.SetExecHook(nil)
	assert.Empty(t, removed, "done once")
	assert.Empty(t, cmds(), "and not asked of the pods again")
}

// endReport reads what the end of a run reported.
func endReport(t *testing.T, r *engine.Report) report.End {
	t.Helper()
	require.NotNil(t, r, "the end of the run reports something")
	require.Equal(t, "end", r.Kind)
	f, err := report.Decode(r.Kind, r.Facts)
	require.NoError(t, err)
	return f.(report.End)
}

// A pod the copy was recorded in that is gone (the API's 404) took its /tmp with it:
// nothing is left there. An error that merely says "not found" is no such proof.
func TestRunEndKnowsAGonePodByItsStatus(t *testing.T) {
	w := newWorld(t)
	_, err := w.step(t, "dump-origin")
	require.NoError(t, err)
	w.setCopyPod(t, "meshdb-postgres-gone")
	w.run.State, w.run.Ended = engine.Aborted, time.Now()
	assert.Nil(t, w.cluster.EndRun(context.Background(), w.run), "the gone pod left nothing, and no backup was taken")

	recordPod(w.dest, func(argv []string) error {
		if argv[0] == "sh" {
			return fmt.Errorf("sh: rm: not found")
		}
		return nil
	})
	t.Cleanup(func() { w.dest.SetExecHook(nil) })
	end := endReport(t, w.cluster.EndRun(context.Background(), w.run))
	require.Len(t, end.Leftovers, 1, "today's pod answered, and its error is not a 404: %+v", end.Leftovers)
	assert.Equal(t, "prod1", end.Leftovers[0].Cluster)
	assert.NotEqual(t, "meshdb-postgres-gone", end.Leftovers[0].Pod)
	assert.Contains(t, end.Leftovers[0].Err, "not found")
}
