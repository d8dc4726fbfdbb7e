package steps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Backups of the destination, taken before it is overwritten and kept for the undo.
// Each is a file of its own in the spool (a backup of a run is never overwritten or
// removed before the run's retention ends), with a copy on the postgres pod's data
// volume (database.pod_backup_dir) that outlives the bot replica that took it. The
// restore step records the backup in the run before pg_restore starts: a retry or an
// undo after any interruption finds it there, checks its sha256, and uses it; it never
// backs up a database an earlier attempt may have half-restored.

// replicaName names this bot replica in the records (its pod's name in Kubernetes).
func replicaName() string {
	if n := os.Getenv("POD_NAME"); n != "" {
		return n
	}
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// podBackupPath is where, on the postgres pod's volume, the copy of a backup goes.
func (c *ClusterSteps) podBackupPath(runID, name string) string {
	return path.Join(c.cfg.Database.PodBackupDir, unsafePathChars.ReplaceAllString(runID, "_"), name)
}

// takeBackup backs up the database of pgx's cluster into a new spool file, copying it
// as it streams onto the pod's volume. A failed copy does not fail the backup:
// noPodCopy says why there is none.
func (c *ClusterSteps) takeBackup(ctx context.Context, x engine.StepContext, cluster string, pgx podExec, name string) (b Backup, noPodCopy string, err error) {
	spool := SpoolPath(c.cfg, x.Run.ID, name)
	if err := os.MkdirAll(dirOf(spool), 0o700); err != nil {
		return b, "", report.Fail(report.SpoolDir{Path: dirOf(spool)}, err)
	}
	b = Backup{Cluster: cluster, Replica: replicaName()}
	inPod := c.podBackupPath(x.Run.ID, name)
	var st *pg.StageStream
	stderr := &lockedBuffer{}
	stageErr := pgx.Exec(ctx, []string{"mkdir", "-p", path.Dir(inPod)}, nil, io.Discard, stderr)
	if stageErr != nil {
		stageErr = report.Fail(report.MkdirInPod{Dir: path.Dir(inPod), Pod: pgx.pod, Stderr: tail(stderr.String(), 300)}, stageErr)
	} else {
		st, stageErr = pg.StartStage(ctx, pgx, inPod, pg.StageOptions{})
	}
	var tee io.Writer
	if st != nil {
		tee = st
	}
	res, err := pg.Backup(ctx, pgx, c.db, spool, tee)
	if err != nil {
		if st != nil {
			_ = st.Abort(ctx, err)
		}
		return b, "", err
	}
	b.File = res
	if st != nil {
		stageErr = st.Finish(ctx, res.Size)
	}
	if stageErr != nil {
		return b, stageErr.Error(), nil
	}
	b.InPod = &PodFile{Cluster: cluster, Pod: pgx.pod, Path: inPod}
	return b, "", nil
}

// checkSpool says whether the spool file is whole: there, with the sha256 recorded.
func checkSpool(f pg.DumpResult) error {
	file, err := os.Open(f.Path)
	if err != nil {
		return err
	}
	defer file.Close()
	h := sha256.New()
	if _, err := io.Copy(h, file); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return &report.Failed{Facts: report.Checksum{Of: report.ChecksumBackup, Path: f.Path, Got: got, Want: f.SHA256}, Sentinel: pg.ErrChecksum}
	}
	return nil
}

// backupSource is where a recorded backup can be read now.
type backupSource struct {
	spool bool   // the spool file checks out
	inPod string // the copy on the pod's volume checks out there (path), or ""
	found report.Found
}

// findBackup checks that a recorded backup can still be had, in this replica's spool or
// on the volume of the postgres pod of its cluster (pgx is that cluster's pod today),
// sha256 checked. An error says where it was looked for and why it is not there.
func (c *ClusterSteps) findBackup(ctx context.Context, b Backup, pgx podExec) (backupSource, error) {
	var src backupSource
	spoolErr := checkSpool(b.File)
	src.spool = spoolErr == nil
	var podErr error = errNoPodCopy
	if b.InPod != nil && b.InPod.Cluster == b.Cluster {
		if podErr = pg.CheckStaged(ctx, pgx, b.File, b.InPod.Path); podErr == nil {
			src.inPod = b.InPod.Path
		}
	}
	src.found = report.Found{Cluster: b.Cluster, Spool: src.spool, InPod: src.inPod}
	switch {
	case src.spool && src.inPod != "":
	case src.spool:
		if podErr != errNoPodCopy {
			src.found.PodErr = podErr.Error() // "": no copy was kept
		}
	case src.inPod != "":
		src.found.Replica = b.Replica
	default:
		nf := report.BackupNotFound{Cluster: b.Cluster, SHA256: b.File.SHA256, Path: b.File.Path, Replica: b.Replica}
		if b.InPod != nil {
			nf.PodPath = b.InPod.Path
		}
		nf.SpoolGot, nf.SpoolErr = mismatch(spoolErr)
		if podErr != errNoPodCopy {
			nf.PodGot, nf.PodErr = mismatch(podErr)
		}
		return src, report.Fail(nf, nil)
	}
	return src, nil
}

// errNoPodCopy: a backup has no copy on its cluster's postgres volume.
var errNoPodCopy = errors.New("no copy was kept on the postgres volume")

// mismatch is the sha256 found where a file was checked, or the error's text when the
// check failed otherwise.
func mismatch(err error) (got, text string) {
	var f *report.Failed
	if errors.As(err, &f) {
		if c, ok := f.Facts.(report.Checksum); ok && c.Got != "" {
			return c.Got, ""
		}
	}
	return "", err.Error()
}
