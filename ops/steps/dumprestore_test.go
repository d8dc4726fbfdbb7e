package steps_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
	"github.com/nycmeshnet/cutoverbot/sandbox"
)

// The dump step copies the dump into the destination pod and backs the destination
// up while pg_dump streams; the restore step uses both while the destination has not
// changed, and takes the backup again when it has.
func TestDumpStagesAndBacksUpTheDestinationTheRestoreUsesWhileUnchanged(t *testing.T) {
	w := newWorld(t)
	destInstalls := w.sql(t, w.dest, "SELECT count(*) FROM meshapi_install")
	remote := plan.RemoteDumpPath(w.run.ID)

	t.Run("unchanged: the copy and the backup from the dump step are used", func(t *testing.T) {
		w.quiet(t, w.dest)
		out, err := w.step(t, "dump-origin")
		require.NoError(t, err)
		assert.Equal(t, remote, result[steps.DumpResult](t, out).Copy.Path)
		assert.Equal(t, "prod1", result[steps.DumpResult](t, out).Copy.Cluster)
		assert.Equal(t, destPod, result[steps.DumpResult](t, out).Copy.Pod)
		assert.Equal(t, result[steps.DumpResult](t, out).Spool.SHA256, sha256File(t, remote), "the copy in the destination pod is the dump")
		assert.Equal(t, result[steps.DumpResult](t, out).Spool.SHA256, sha256File(t, result[steps.DumpResult](t, out).Spool.Path))
		drep := reported[report.Dump](t, out)
		assert.Equal(t, "prod1", drep.Dest)
		assert.Equal(t, destPod, drep.CopyPod, "copied into the destination pod as it came")
		assert.Equal(t, remote, drep.CopyPath)
		assert.Equal(t, w.cfg.Clusters["prod1"].Namespace, drep.CopyNamespace, "how to remove the copy if the run stops: the namespace")
		assert.Equal(t, sandbox.PostgresContainer, drep.CopyContainer, "and the container")
		assert.Empty(t, out.Details, "the details are data in the report")
		require.NotNil(t, result[steps.DumpResult](t, out).Early)
		assert.Equal(t, result[steps.DumpResult](t, out).Early.Before, result[steps.DumpResult](t, out).Early.After)
		require.NotNil(t, drep.Backup, "the destination was backed up meanwhile: %+v", drep)
		assert.Equal(t, result[steps.DumpResult](t, out).Early.File.SHA256, drep.Backup.SHA256)
		assert.Equal(t, destInstalls, w.sql(t, w.dest, "SELECT count(*) FROM meshapi_install"), "the destination's data is untouched")

		cmds := recordPod(w.dest, nil)
		rout, err := w.step(t, "restore-destination")
		w.dest.SetExecHook(nil)
		require.NoError(t, err)
		rrep := reported[report.Restore](t, rout)
		assert.Contains(t, rrep.Notes, report.Note{Kind: report.NoteCopyUsed, Pod: destPod}, "the copy made during the dump is used")
		assert.Equal(t, report.BackupEarly, rrep.Backup.Source, "the backup taken during the dump step is kept: %+v", rrep.Backup)
		assert.Equal(t, "prod1", rrep.Backup.Cluster)
		assert.Equal(t, result[steps.DumpResult](t, out).Spool.SHA256, rrep.SHA256, "the file checked in the pod is the dump")
		// restore_jobs: auto, the default: as many jobs as the pod has cores.
		jobs := min(runtime.NumCPU(), pg.MaxAutoJobs)
		assert.Equal(t, jobs, rrep.Jobs.Jobs)
		require.NotNil(t, rrep.Jobs.Resources, "chosen for what the pod may use")
		assert.Equal(t, runtime.NumCPU(), rrep.Jobs.Resources.Cores)
		assert.Zero(t, rrep.Jobs.Resources.CPULimit, "the cores are nproc's, no CPU limit")
		// restore_maintenance_work_mem: auto: chosen from the pod's memory, or left at the
		// server's when that is already as much; never unread.
		assert.Empty(t, rrep.Jobs.MemErr)
		assert.True(t, rrep.Jobs.MemKB > 0 || rrep.Jobs.ServerMemKB > 0, "%+v", rrep.Jobs)
		assert.Equal(t, result[steps.DumpResult](t, out).Early.File.Path, result[steps.RestoreResult](t, rout).Backup.File.Path, "the undo uses the backup from the dump step")
		assert.Equal(t, result[steps.DumpResult](t, out).Early.After, *result[steps.RestoreResult](t, rout).BackupState)
		ran := cmds()
		assert.Equal(t, 0, countPrefix(ran, "sh -c cat"), "nothing copied again: %q", ran)
		assert.Equal(t, 0, countPrefix(ran, "pg_dump"), "no second backup: %q", ran)
		assert.Equal(t, 1, countPrefix(ran, "sha256sum "+remote), "the sha256 is checked in the pod: %q", ran)
		assert.Equal(t, "sha256sum "+remote, ran[len(ran)-3], "right before pg_restore: %q", ran)
		assert.Equal(t, fmt.Sprintf("pg_restore -d meshdb -U meshdb -c --if-exists -j %d %s", jobs, remote), ran[len(ran)-2])
		_, err = os.Stat(remote)
		assert.True(t, os.IsNotExist(err), "the copy in the pod is removed")

		out, err = w.step(t, "verify-database")
		require.NoError(t, err, said(out))
		w.undoRestore(t)
		assert.Equal(t, destInstalls, w.sql(t, w.dest, "SELECT count(*) FROM meshapi_install"), "the backup from the dump step brings the destination back")
	})

	t.Run("written after the dump: the backup is taken again", func(t *testing.T) {
		w.quiet(t, w.dest)
		out, err := w.step(t, "dump-origin")
		require.NoError(t, err)
		early := result[steps.DumpResult](t, out).Early.File.Path
		require.NotEmpty(t, early)

		w.sql(t, w.dest, "UPDATE meshapi_member SET notes = 'written after the dump' WHERE id = (SELECT id FROM meshapi_member ORDER BY id LIMIT 1)")
		rout, err := w.step(t, "restore-destination")
		require.NoError(t, err)
		why := reported[report.Restore](t, rout).Backup
		assert.Equal(t, report.BackupChanged, why.Source, "taken again: prod1 changed since the dump step backed it up")
		assert.Equal(t, "prod1", why.Cluster)
		assert.NotEqual(t, *why.After, *why.Now)
		backup := result[steps.RestoreResult](t, rout).Backup.File.Path
		assert.NotEqual(t, early, backup)
		memberData := func(path string) string {
			var data, errb bytes.Buffer
			code, err := w.dest.PG.Run(context.Background(), []string{"pg_restore", "-f", "-", "--data-only", "-t", "meshapi_member", path}, nil, &data, &errb)
			require.NoError(t, err)
			require.Equal(t, 0, code, errb.String())
			return data.String()
		}
		assert.NotContains(t, memberData(early), "written after the dump")
		assert.Contains(t, memberData(backup), "written after the dump", "the backup kept for undo has the row")

		out, err = w.step(t, "verify-database")
		require.NoError(t, err, said(out))
		w.undoRestore(t)
		assert.Equal(t, "written after the dump", w.sql(t, w.dest, "SELECT notes FROM meshapi_member WHERE id = (SELECT id FROM meshapi_member ORDER BY id LIMIT 1)"))
	})
}

// The copy in the pod is used only when its sha256 is the dump's, right before
// pg_restore: a copy that failed, is gone, damaged or in another pod is made again
// from the spool, or from a new dump of the origin when the spool is on another
// replica; a copy that never checks out is refused.
func TestStagedCopyOrSpoolLostIsReplacedNeverRestoredWrong(t *testing.T) {
	w := newWorld(t)
	remote := plan.RemoteDumpPath(w.run.ID)
	// want checks the notes of what the restore reported; every restore reports the
	// file it restored, checked in the pod.
	var restoreAttempt func(t *testing.T, want func(*testing.T, []report.Note), run func(*testing.T, string) (engine.Output, error)) engine.Output
	restore := func(t *testing.T, want func(*testing.T, []report.Note)) engine.Output {
		return restoreAttempt(t, want, w.step)
	}
	restoreAttempt = func(t *testing.T, want func(*testing.T, []report.Note), run func(*testing.T, string) (engine.Output, error)) engine.Output {
		t.Helper()
		cmds := recordPod(w.dest, nil)
		out, err := run(t, "restore-destination")
		w.dest.SetExecHook(nil)
		require.NoError(t, err)
		rep := reported[report.Restore](t, out)
		assert.Equal(t, result[steps.RestoreResult](t, out).Restored.SHA256, rep.SHA256, "restored the file checked in the pod")
		assert.Equal(t, "prod1", rep.Cluster)
		if want != nil {
			want(t, rep.Notes)
		}
		ran := cmds()
		assert.Equal(t, 1, countPrefix(ran, "sh -c cat > '"+remote+"'"), "copied in again: %q", ran)
		assert.Equal(t, "sha256sum "+remote, ran[len(ran)-3], "checked right before pg_restore: %q", ran)
		_, err = os.Stat(remote)
		assert.True(t, os.IsNotExist(err), "the copy in the pod is removed")
		vout, err := w.step(t, "verify-database")
		require.NoError(t, err, said(vout))
		return out
	}

	t.Run("staging fails during the dump", func(t *testing.T) {
		recordPod(w.dest, func(argv []string) error {
			if argv[0] == "sh" {
				return fmt.Errorf("pod evicted")
			}
			return nil
		})
		out, err := w.step(t, "dump-origin")
		w.dest.SetExecHook(nil)
		require.NoError(t, err, "the dump does not depend on the copy")
		assert.Nil(t, result[steps.DumpResult](t, out).Copy)
		drep := reported[report.Dump](t, out)
		assert.Equal(t, "prod1", drep.Dest)
		assert.Empty(t, drep.CopyPod, "not copied into prod1 during the dump")
		assert.Contains(t, drep.CopyErr, "pod evicted")
		assert.Equal(t, result[steps.DumpResult](t, out).Spool.SHA256, drep.SHA256, "the dump (PGDMP magic checked, fsynced) is reported")
		assert.Equal(t, result[steps.DumpResult](t, out).Spool.Size, drep.Size)
		restore(t, nil)
	})

	t.Run("copy damaged in the pod", func(t *testing.T) {
		_, err := w.step(t, "dump-origin")
		require.NoError(t, err)
		f, err := os.OpenFile(remote, os.O_RDWR, 0)
		require.NoError(t, err)
		_, err = f.WriteAt([]byte("XXXX"), 4096)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		restore(t, func(t *testing.T, notes []report.Note) {
			require.NotEmpty(t, notes)
			assert.Equal(t, report.NoteCopyFailed, notes[0].Kind, "%+v", notes)
			assert.Equal(t, destPod, notes[0].Pod)
			// The error is held as a failure's data; the transport words it.
			assert.Contains(t, notes[0].Err, `failed_checksum {"of":"copy"`)
		})
	})

	t.Run("copy gone from the pod", func(t *testing.T) {
		_, err := w.step(t, "dump-origin")
		require.NoError(t, err)
		require.NoError(t, os.Remove(remote))
		restore(t, func(t *testing.T, notes []report.Note) {
			assert.Contains(t, notes, report.Note{Kind: report.NoteCopiedAgain})
		})
	})

	t.Run("postgres pod replaced", func(t *testing.T) {
		_, err := w.step(t, "dump-origin")
		require.NoError(t, err)
		w.setCopyPod(t, "meshdb-postgres-5c6b7-old")
		restore(t, func(t *testing.T, notes []report.Note) {
			assert.Contains(t, notes, report.Note{Kind: report.NoteCopyPodReplaced, Pod: "meshdb-postgres-5c6b7-old", NowPod: destPod})
		})
	})

	t.Run("spool on another replica: the checked copy is used", func(t *testing.T) {
		out, err := w.step(t, "dump-origin")
		require.NoError(t, err)
		require.NoError(t, os.Remove(result[steps.DumpResult](t, out).Spool.Path))
		rout, err := w.step(t, "restore-destination")
		require.NoError(t, err)
		assert.Contains(t, reported[report.Restore](t, rout).Notes, report.Note{Kind: report.NoteCopyUsed, Pod: destPod, NoSpool: true},
			"the dump spool was not on this replica; the copy made in the pod during the dump is used")
		out, err = w.step(t, "verify-database")
		require.NoError(t, err, said(out))
	})

	t.Run("spool on another replica and no copy: the origin is dumped again", func(t *testing.T) {
		w.sql(t, w.dest, "UPDATE meshapi_member SET notes = 'to be replaced' WHERE id = (SELECT id FROM meshapi_member ORDER BY id LIMIT 1)")
		out, err := w.step(t, "dump-origin")
		require.NoError(t, err)
		require.NoError(t, os.Remove(result[steps.DumpResult](t, out).Spool.Path))
		require.NoError(t, os.Remove(remote))
		// The first attempt dumps the origin again, then fails at pg_restore.
		recordPod(w.dest, func(argv []string) error {
			if argv[0] == "pg_restore" {
				return fmt.Errorf("pod evicted")
			}
			return nil
		})
		rout, err := w.step(t, "restore-destination")
		w.dest.SetExecHook(nil)
		require.Error(t, err)
		assert.Equal(t, result[steps.DumpResult](t, out).Spool.Path, result[steps.RestoreResult](t, rout).Restored.Path, "the new dump is in the spool")
		assert.Equal(t, result[steps.RestoreResult](t, rout).Restored.SHA256, sha256File(t, result[steps.RestoreResult](t, rout).Restored.Path))
		assert.Equal(t, result[steps.DumpResult](t, out).Spool.SHA256, result[steps.RestoreResult](t, rout).RedumpOf)
		// The retry restores that new dump from the spool: no third dump, no refusal.
		rout = restoreAttempt(t, nil, w.retry)
		assert.Equal(t, sha256File(t, result[steps.DumpResult](t, out).Spool.Path), result[steps.RestoreResult](t, rout).Restored.SHA256)
		for _, n := range reported[report.Restore](t, rout).Notes {
			assert.NotEqual(t, report.NoteRedumped, n.Kind, "prod2 is not dumped again: %+v", n)
		}
	})

	t.Run("copy damaged at every check is refused", func(t *testing.T) {
		dout, err := w.step(t, "dump-origin")
		require.NoError(t, err)
		w.sql(t, w.dest, "UPDATE meshapi_member SET notes = 'kept' WHERE id = (SELECT id FROM meshapi_member ORDER BY id LIMIT 1)")
		before := w.fingerprints(t, w.dest)
		recordPod(w.dest, func(argv []string) error {
			if argv[0] == "sha256sum" {
				f, err := os.OpenFile(argv[1], os.O_RDWR, 0)
				if err == nil {
					_, _ = f.WriteAt([]byte("XXXX"), 4096)
					f.Close()
				}
			}
			return nil
		})
		dump := result[steps.DumpResult](t, dout)
		_, err = w.step(t, "restore-destination")
		w.dest.SetExecHook(nil)
		require.ErrorIs(t, err, pg.ErrChecksum)
		// The failure arrives as data: nothing restored into prod1, because the copy's
		// sha256 in the pod is not the dump's.
		var f *report.Failed
		require.ErrorAs(t, err, &f)
		assert.Equal(t, report.NotRestored{Cluster: "prod1"}, f.Facts)
		var sum *report.Failed
		require.ErrorAs(t, f.Unwrap(), &sum)
		c, ok := sum.Facts.(report.Checksum)
		require.True(t, ok, "%#v", sum.Facts)
		assert.Equal(t, report.ChecksumCopy, c.Of)
		assert.Equal(t, dump.Spool.SHA256, c.Want)
		assert.Len(t, c.Got, 64)
		assert.NotEqual(t, c.Want, c.Got)
		assert.Empty(t, pg.CompareFingerprints(before, w.fingerprints(t, w.dest)), "the destination is untouched")
		_, err = os.Stat(remote)
		assert.True(t, os.IsNotExist(err), "the damaged copy is removed")
	})
}

// A run rolled back between the dump and the restore leaves no copy of the dump in
// the destination pod: the rollback removes it there, and in today's pod when the
// recorded one is gone.
func TestRollbackRemovesTheCopyNoRestoreUsed(t *testing.T) {
	w := newWorld(t)
	remote := plan.RemoteDumpPath(w.run.ID)
	out, err := w.step(t, "dump-origin")
	require.NoError(t, err)
	require.Equal(t, remote, result[steps.DumpResult](t, out).Copy.Path)
	_, err = os.Stat(remote)
	require.NoError(t, err, "the dump step copied the dump into the destination pod")

	ran := map[string]plan.Ran{}
	for _, s := range w.plan.Steps[:w.plan.Index("dump-origin")+1] {
		ran[s.ID] = plan.Done
	}
	undo := plan.Rollback(w.plan, ran)[0]
	require.Equal(t, "undo-dump-origin", undo.ID)
	cmds := recordPod(w.dest, nil)
	uout, err := w.rollback(t, undo)
	w.dest.SetExecHook(nil)
	require.NoError(t, err)
	_, err = os.Stat(remote)
	assert.True(t, os.IsNotExist(err), "the copy is removed")
	assert.Equal(t, report.CopyRemoved{Path: remote, Cluster: "prod1", Pods: []string{destPod}}, reported[report.CopyRemoved](t, uout))
	assert.Equal(t, 1, countPrefix(cmds(), "rm -f "), "once: the recorded pod is today's pod: %q", cmds())
	assert.Equal(t, "rm -f "+remote, cmds()[len(cmds())-1])
	assert.Equal(t, result[steps.DumpResult](t, out).Spool.SHA256, sha256File(t, result[steps.DumpResult](t, out).Spool.Path), "the spool keeps the dump")

	// The pod was replaced since the dump: the recorded one is gone (404), today's is
	// cleaned, and the details say so.
	w.setCopyPod(t, "meshdb-postgres-gone")
	require.NoError(t, os.WriteFile(remote, []byte("left over"), 0o600))
	uout, err = w.rollback(t, undo)
	require.NoError(t, err)
	_, err = os.Stat(remote)
	assert.True(t, os.IsNotExist(err))
	assert.Contains(t, reported[report.CopyRemoved](t, uout).Pods, destPod)
	gone := reported[report.CopyRemoved](t, uout).Gone
	require.Len(t, gone, 1, "the pod where the dump step copied it is gone")
	assert.Equal(t, "meshdb-postgres-gone", gone[0].Pod)
	assert.NotEmpty(t, gone[0].Err)

	// Running it again finds nothing to remove and succeeds (rm -f).
	_, err = w.rollback(t, undo)
	require.NoError(t, err)
}
