package steps_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
	"github.com/nycmeshnet/cutoverbot/ops/store"
)

// A run stored before step results were typed (a store written by the demo of
// 2026-12-06, results as string values) still reads: every later step, the rollback
// and the metrics find what they need.
func TestRunsStoredBeforeTypedResultsStillRead(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile("testdata/store-2026-12-06/cutoverbot.db")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cutoverbot.db"), raw, 0o600))
	st, err := store.Open(dir)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	runs, err := st.List(context.Background(), 1)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	run := runs[0]
	require.Equal(t, engine.Completed, run.State)

	scale, ok, err := engine.ResultOf[steps.ScaleResult](run, "scale-destination-celery")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, int32(1), scale.Previous)

	m, _, err := engine.ResultOf[steps.MaintenanceResult](run, "maintenance-off-destination")
	require.NoError(t, err)
	assert.False(t, m.On)
	m, _, err = engine.ResultOf[steps.MaintenanceResult](run, "maintenance-on-origin")
	require.NoError(t, err)
	assert.True(t, m.On)

	dump, _, err := engine.ResultOf[steps.DumpResult](run, "dump-origin")
	require.NoError(t, err)
	assert.Equal(t, int64(242481), dump.Spool.Size)
	assert.Equal(t, "bf84700430607111af9e3026fdcd50bc2de587eacb4a5b6fe59f7dcf2ff0fb95", dump.Spool.SHA256)
	require.NotNil(t, dump.Copy)
	assert.Equal(t, steps.PodFile{Cluster: "prod1", Pod: "meshdb-postgres-5c6b7-klmno", Path: "/tmp/cutoverbot-20261207-0049-aba7.dump"}, *dump.Copy)
	require.NotNil(t, dump.Early)
	want := pg.State{NextXid: "781", RowChanges: 1541, OpenWrites: 0, Sequences: "d2daef23dae09d26f3a23d9a0cb3a1df"}
	assert.Equal(t, want, dump.Early.Before)
	assert.Equal(t, want, dump.Early.After)
	assert.Equal(t, int64(137456), dump.Early.File.Size)

	restore, _, err := engine.ResultOf[steps.RestoreResult](run, "restore-destination")
	require.NoError(t, err)
	assert.Equal(t, dump.Early.File, restore.Backup.File, "the undo finds the backup from the dump step")
	require.NotNil(t, restore.BackupState)
	assert.Equal(t, want, *restore.BackupState)

	snap, _, err := engine.ResultOf[steps.SnapshotResult](run, "snapshot-prior")
	require.NoError(t, err)
	assert.Contains(t, snap.Dir, "snapshot-prior-attempt-1")

	pr, _, err := engine.ResultOf[steps.PullRequestResult](run, "pr-dns")
	require.NoError(t, err)
	assert.Equal(t, steps.PullRequestResult{Number: 1, URL: "https://github.com/nycmeshnet/nycmesh-dns/pull/1", Repo: "nycmeshnet/nycmesh-dns",
		BaseSHA: "03ebd20c173cf89fb3b514acb16772f519663fd5", Merged: true}, pr)

	_, _, err = engine.ResultOf[steps.DumpResult](run, "wait-dns")
	assert.ErrorIs(t, err, engine.ErrNoResult)
}
