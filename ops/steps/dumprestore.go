package steps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// The dump and restore steps: the part of the cutover where data moves.

// earlyBackup is a backup of the destination taken during the dump step, with the
// destination's state read before and after it.
type earlyBackup struct {
	b             Backup
	noPodCopy     string // why b has no copy on the pod's volume
	before, after pg.State
	attempts      int
	err           error
}

// backupWithState backs dst up between two reads of its state. When the state moved
// meanwhile (a write, autovacuum's ANALYZE) it tries once more if the origin's dump
// (dumping) still runs. Each try is a backup file of its own.
func (c *ClusterSteps) backupWithState(ctx context.Context, x engine.StepContext, cluster string, dst podExec, name string, dumping <-chan struct{}) (b earlyBackup) {
	if b.after, b.err = pg.ReadState(ctx, dst, c.db); b.err != nil {
		return b
	}
	for b.attempts < 2 {
		if b.attempts > 0 {
			select {
			case <-dumping:
				return b
			default:
			}
		}
		b.attempts++
		b.before = b.after
		if b.b, b.noPodCopy, b.err = c.takeBackup(ctx, x, cluster, dst, fmt.Sprintf("%s-%d.%d.dump", name, x.Attempt, b.attempts)); b.err != nil {
			return b
		}
		if b.after, b.err = pg.ReadState(ctx, dst, c.db); b.err != nil {
			return b
		}
		if b.before == b.after && b.before.Quiet() {
			break
		}
	}
	return b
}

// streamDump dumps src into the spool at path. With dst, the same bytes go into remote
// in dst's pod as they come (bounded buffer): stageErr says why that copy is not
// whole (nil: the pod holds every byte). A failed copy never fails the dump.
func (c *ClusterSteps) streamDump(ctx context.Context, src podExec, path string, dst *podExec, remote string) (res pg.DumpResult, stageErr, err error) {
	if dst == nil {
		res, err = pg.Dump(ctx, src, c.db, path)
		return res, errors.New("no destination to copy into"), err
	}
	st, stageErr := pg.StartStage(ctx, *dst, remote, pg.StageOptions{})
	if stageErr != nil {
		res, err = pg.Dump(ctx, src, c.db, path)
		return res, stageErr, err
	}
	res, err = pg.DumpTee(ctx, src, c.db, path, st)
	if err != nil {
		_ = st.Abort(ctx, err)
		return res, err, err
	}
	return res, st.Finish(ctx, res.Size), nil
}

// dump streams pg_dump from the origin into the spool. When the plan restores this
// dump somewhere, the same bytes are copied into that pod's temporary file as they
// come, and the destination is backed up meanwhile (both read or write nothing of the
// destination's data: the restore step, once approved, checks both are still good).
func (c *ClusterSteps) dump(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	if x.Step.Undoes != "" {
		return c.removeCopy(ctx, x)
	}
	pgx, err := c.postgres(ctx, x.Step.Cluster, x)
	if err != nil {
		return engine.Output{}, err
	}
	path := SpoolPath(c.cfg, x.Run.ID, x.Step.ID+".dump")
	if err := os.MkdirAll(dirOf(path), 0o700); err != nil {
		return engine.Output{}, report.Fail(report.SpoolDir{Path: dirOf(path)}, err)
	}
	rs := x.Run.Plan.RestoreOf(x.Step.ID)
	var dst *podExec
	var rep report.Dump
	if rs != nil {
		rep.Dest = rs.Cluster
		d, err := c.postgres(ctx, rs.Cluster, x)
		if err != nil {
			rep.DestErr = err.Error()
		} else {
			dst = &d
		}
	}
	remote := plan.RemoteDumpPath(x.Run.ID)
	var early chan earlyBackup
	bctx, cancelBackup := context.WithCancel(ctx)
	defer cancelBackup()
	dumping := make(chan struct{})
	if dst != nil {
		early = make(chan earlyBackup, 1)
		go func() {
			early <- c.backupWithState(bctx, x, rs.Cluster, *dst, rs.ID+"-backup-early", dumping)
		}()
		x.ProgressReport(report.Dumping{Database: c.db.Name, Cluster: x.Step.Cluster, Pod: pgx.pod, Dest: rs.Cluster, DestPod: dst.pod})
	} else {
		x.ProgressReport(report.Dumping{Database: c.db.Name, Cluster: x.Step.Cluster, Pod: pgx.pod})
	}
	res, stageErr, err := c.streamDump(ctx, pgx, path, dst, remote)
	close(dumping)
	var eb earlyBackup
	if early != nil {
		if err != nil {
			cancelBackup()
		}
		eb = <-early
	}
	if err != nil {
		return engine.Output{}, report.Fail(report.DumpFailed{Cluster: x.Step.Cluster}, err)
	}
	// The origin's table fingerprints are taken by the verify step, on both sides at
	// once: taking them here too would compete with pg_dump for the CPU.
	result := DumpResult{Spool: res}
	var out engine.Output
	rep.Database, rep.Cluster, rep.Size, rep.SHA256 = c.db.Name, x.Step.Cluster, res.Size, res.SHA256
	if dst != nil {
		if stageErr == nil {
			result.Copy = &PodFile{Cluster: rs.Cluster, Pod: dst.pod, Path: remote}
			// The details say how to remove it by hand (handlers' details/dump).
			rep.CopyPod, rep.CopyPath = dst.pod, remote
			rep.CopyNamespace, rep.CopyContainer = c.cfg.Clusters[rs.Cluster].Namespace, dst.container
		} else {
			rep.CopyErr = stageErr.Error()
		}
		switch {
		case eb.err != nil:
			rep.BackupErr = eb.err.Error()
		default:
			result.Early = &EarlyBackup{Backup: eb.b, Before: eb.before, After: eb.after}
			rep.Backup = &report.DumpBackup{Size: eb.b.File.Size, SHA256: eb.b.File.SHA256, Second: eb.attempts > 1,
				Changed: eb.before != eb.after || !eb.before.Quiet(), NoPodCopy: eb.noPodCopy}
		}
	}
	return out.WithResult(result).WithReport(rep), nil
}

// backupOutcome is the backup the restore step keeps for undo, and how it was had.
type backupOutcome struct {
	b     Backup
	how   report.BackupHow
	state *pg.State
	done  time.Time
	err   error
}

// earlyBackupUsable says whether the backup taken during the dump step is still a
// backup of the destination as it is: the same transaction horizon, row counters
// and sequences before it, after it and now, and no write open (pg.State). On any doubt
// it says why not (the restore step then takes the backup again): usable is false
// and b.how says why.
func (c *ClusterSteps) earlyBackupUsable(ctx context.Context, x engine.StepContext, d DumpResult, pgx podExec) (b backupOutcome, usable bool) {
	name := x.Step.Cluster
	eb := d.Early
	defer func() { b.how.Cluster = name }()
	switch {
	case eb == nil:
		b.how = report.BackupHow{Source: report.BackupNone}
		return b, false
	case eb.Cluster != name:
		b.how = report.BackupHow{Source: report.BackupOtherCluster, EarlyCluster: eb.Cluster}
		return b, false
	case eb.Before != eb.After:
		b.how = report.BackupHow{Source: report.BackupMoved, Before: dbState(eb.Before), After: dbState(eb.After)}
		return b, false
	}
	if fi, err := os.Stat(eb.File.Path); err != nil || fi.Size() != eb.File.Size || len(eb.File.SHA256) != 64 {
		b.how = report.BackupHow{Source: report.BackupNotHere}
		if eb.InPod == nil {
			return b, false
		}
		if err := pg.CheckStaged(ctx, pgx, eb.File, eb.InPod.Path); err != nil {
			b.how.Err = err.Error()
			return b, false
		}
	}
	now, err := pg.ReadState(ctx, pgx, c.db)
	switch {
	case err != nil:
		b.how = report.BackupHow{Source: report.BackupStateUnread, Err: err.Error()}
		return b, false
	case now != eb.After:
		b.how = report.BackupHow{Source: report.BackupChanged, After: dbState(eb.After), Now: dbState(now)}
		return b, false
	case !now.Quiet():
		b.how = report.BackupHow{Source: report.BackupWrites, Now: dbState(now)}
		return b, false
	}
	b.b, b.state, b.done = eb.Backup, &now, time.Now()
	b.how = report.BackupHow{Source: report.BackupEarly, Now: dbState(now)}
	return b, true
}

// dbState is a database's state as the report gives it.
func dbState(s pg.State) *report.DBState {
	return &report.DBState{NextXid: s.NextXid, RowChanges: s.RowChanges, OpenWrites: s.OpenWrites, Sequences: s.Sequences}
}

// stageOutcome is the dump's copy in the pod, ready for pg_restore.
type stageOutcome struct {
	src      pg.DumpResult
	redumped bool
	notes    []report.Note
	checked  time.Time // when its sha256 in the pod was last found equal to the dump's
	err      error
}

// stageForRestore makes sure remote in pgx's pod holds the dump, sha256 checked there:
// the copy made during the dump step when it checks out, else a new copy from the
// spool, else (the spool is on another replica) a new dump of the origin.
func (c *ClusterSteps) stageForRestore(ctx context.Context, x engine.StepContext, cp *PodFile, src pg.DumpResult, pgx podExec, remote string) (st stageOutcome) {
	st.src = src
	name := x.Step.Cluster
	_, spoolErr := os.Stat(src.Path)
	if cp != nil {
		switch {
		case cp.Path != remote || cp.Cluster != name:
			st.notes = append(st.notes, report.Note{Kind: report.NoteCopyElsewhere, Path: cp.Path, Cluster: cp.Cluster})
		case cp.Pod != pgx.pod:
			st.notes = append(st.notes, report.Note{Kind: report.NoteCopyPodReplaced, Pod: cp.Pod, NowPod: pgx.pod})
			// Best effort: a dump must not stay behind in a pod's /tmp.
			_ = pg.Unstage(ctx, podExec{pgx.cl, cp.Pod, pgx.container, pgx.tag}, cp.Path)
		default:
			x.ProgressReport(report.CheckingCopy{Pod: pgx.pod})
			err := pg.CheckStaged(ctx, pgx, src, remote)
			if err == nil {
				st.checked = time.Now()
				st.notes = append(st.notes, report.Note{Kind: report.NoteCopyUsed, Pod: pgx.pod, NoSpool: spoolErr != nil})
				return st
			}
			st.notes = append(st.notes, report.Note{Kind: report.NoteCopyFailed, Pod: pgx.pod, Err: err.Error()})
		}
	}
	if spoolErr == nil {
		x.ProgressReport(report.Copying{Size: src.Size, Pod: pgx.pod})
		if st.err = pg.Stage(ctx, pgx, src, remote); st.err == nil {
			st.checked = time.Now()
			if len(st.notes) > 0 {
				st.notes = append(st.notes, report.Note{Kind: report.NoteCopiedAgain})
			}
		}
		return st
	}
	// The spool is local to the replica that ran the dump step, and the engine cannot
	// go back a step: the origin (in maintenance mode by now) is dumped again.
	from := x.Run.Origin
	if i := x.Run.Plan.Index(x.Step.Restore.From); i >= 0 && x.Run.Plan.Steps[i].Cluster != "" {
		from = x.Run.Plan.Steps[i].Cluster
	}
	opx, err := c.postgres(ctx, from, x)
	if err != nil {
		st.err = report.Fail(report.RedumpNoOrigin{SpoolErr: spoolErr.Error(), From: from}, err)
		return st
	}
	if err := os.MkdirAll(dirOf(src.Path), 0o700); err != nil {
		st.err = report.Fail(report.SpoolDir{Path: dirOf(src.Path)}, err)
		return st
	}
	x.ProgressReport(report.Dumping{Database: c.db.Name, Cluster: from, Pod: opx.pod, Dest: name, DestPod: pgx.pod, Again: true})
	res, stageErr, err := c.streamDump(ctx, opx, src.Path, &pgx, remote)
	if err != nil {
		st.err = report.Fail(report.RedumpFailed{SpoolErr: spoolErr.Error(), From: from}, err)
		return st
	}
	st.src, st.redumped = res, true
	st.notes = append(st.notes, report.Note{Kind: report.NoteRedumped, Cluster: from, Size: res.Size, SHA256: res.SHA256})
	if stageErr == nil {
		st.err = pg.CheckStaged(ctx, pgx, res, remote)
	} else {
		st.err = pg.Stage(ctx, pgx, res, remote)
	}
	if st.err == nil {
		st.checked = time.Now()
	}
	return st
}

// recordedBackup returns the backup an earlier attempt of step x recorded, if any:
// recorded before its pg_restore could start, it is the database as it was before any
// attempt changed it.
func recordedBackup(x engine.StepContext) (RestoreResult, bool) {
	prev, err := engine.Decode[RestoreResult](x.Run.Steps[x.Index].Output)
	return prev, err == nil && prev.Backup.Taken()
}

// keepRecordedBackup checks the backup an earlier attempt recorded, and says what the
// maintainers can do when it cannot be found: a database an earlier attempt may have
// half-restored is never backed up as "the database before the run".
func (c *ClusterSteps) keepRecordedBackup(ctx context.Context, x engine.StepContext, prev RestoreResult, pgx podExec) (backupOutcome, backupSource, error) {
	src, err := c.findBackup(ctx, prev.Backup, pgx)
	if err != nil {
		return backupOutcome{}, src, report.Fail(report.BackupLost{Cluster: x.Step.Cluster, Path: prev.Backup.File.Path}, err)
	}
	b := backupOutcome{b: prev.Backup, state: prev.BackupState, done: time.Now()}
	b.how = report.BackupHow{Cluster: x.Step.Cluster, Source: report.BackupKept, Found: &src.found}
	return b, src, nil
}

func (c *ClusterSteps) restore(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	r := x.Step.Restore
	pgx, err := c.postgres(ctx, x.Step.Cluster, x)
	if err != nil {
		return engine.Output{}, err
	}
	if r.FromBackup != "" {
		return c.restoreBackup(ctx, x, pgx)
	}
	dump, ok, err := engine.ResultOf[DumpResult](x.Run, r.From)
	if !ok {
		return engine.Output{}, report.Fail(report.NoDump{Step: r.From}, nil)
	}
	if err != nil {
		return engine.Output{}, report.Fail(report.StepResult{Step: r.From}, err)
	}
	src := dump.Spool
	if src.Path == "" || src.SHA256 == "" {
		return engine.Output{}, report.Fail(report.NoDumpFile{}, nil)
	}
	prev, hasBackup := recordedBackup(x)
	// An earlier attempt of this step dumped the origin again into the spool, in place
	// of this very dump: the spool holds that one now.
	redumpOf := ""
	if prev.RedumpOf == src.SHA256 && prev.Restored.Path == src.Path && prev.Restored.SHA256 != "" {
		redumpOf = src.SHA256
		src = prev.Restored
	}
	// What is returned on every failure keeps the backup an earlier attempt recorded.
	keep := engine.Output{}
	if hasBackup {
		keep = keep.WithResult(prev)
	}
	remote := plan.RemoteDumpPath(x.Run.ID)
	defer pg.Unstage(ctx, pgx, remote)

	// The backup of the destination, kept for undo, and the dump's copy in the pod are
	// made ready at once (one reads the database, the other at most writes a file: they
	// do not meet). The restore starts only when both are.
	bch := make(chan backupOutcome, 1)
	switch {
	case hasBackup:
		b, _, err := c.keepRecordedBackup(ctx, x, prev, pgx)
		if err != nil {
			return keep, err
		}
		bch <- b
	default:
		if b, usable := c.earlyBackupUsable(ctx, x, dump, pgx); usable {
			bch <- b
		} else {
			x.ProgressReport(report.BackingUp{Why: b.how})
			go func() {
				b.b, b.how.NoPodCopy, b.err = c.takeBackup(ctx, x, x.Step.Cluster, pgx, fmt.Sprintf("%s-backup-attempt-%d.dump", x.Step.ID, x.Attempt))
				b.done = time.Now()
				bch <- b
			}()
		}
	}
	// How pg_restore runs is read from the pod now: the sha256 check stays the last
	// command before it.
	opts, how := c.restoreOptions(ctx, x, pgx)
	st := c.stageForRestore(ctx, x, dump.Copy, src, pgx, remote)
	b := <-bch
	src = st.src
	if b.err != nil {
		return keep, report.Fail(report.BackupFailed{Cluster: x.Step.Cluster}, b.err)
	}
	result := RestoreResult{Backup: b.b, BackupState: b.state, Restored: src}
	if st.redumped && redumpOf == "" {
		redumpOf = dump.Spool.SHA256
	}
	result.RedumpOf = redumpOf
	out := engine.Output{}.WithResult(result)
	if st.err != nil {
		return out, report.Fail(report.NotRestored{Cluster: x.Step.Cluster}, st.err)
	}
	// The sha256 in the pod is checked right before pg_restore: again if the backup
	// finished after the last check.
	if !st.checked.After(b.done) {
		x.ProgressReport(report.CheckingCopy{Pod: pgx.pod})
		if err := pg.CheckStaged(ctx, pgx, src, remote); err != nil {
			return out, report.Fail(report.NotRestored{Cluster: x.Step.Cluster}, err)
		}
	}
	return c.pgRestore(ctx, x, pgx, remote, opts, how, result, b.how, st.notes)
}

// pgRestore records the backup in the run, then runs pg_restore on the checked file in
// the pod and reports what was restored, which backup of the old data is kept (backup:
// how it was had) and notes.
func (c *ClusterSteps) pgRestore(ctx context.Context, x engine.StepContext, pgx podExec, remote string,
	opts pg.RestoreOptions, how report.Jobs, result RestoreResult, backup report.BackupHow, notes []report.Note) (engine.Output, error) {
	out := engine.Output{}.WithResult(result)
	if err := x.Record(result); err != nil {
		return out, report.Fail(report.NotRecorded{Cluster: x.Step.Cluster}, err)
	}
	x.ProgressReport(report.Restoring{Cluster: x.Step.Cluster, Jobs: how})
	res, err := pg.RestoreStaged(ctx, pgx, c.db, result.Restored, remote, opts)
	result.IgnoredErrors = res.IgnoredErrors
	out = out.WithResult(result)
	if err != nil {
		return out, report.Fail(report.RestoreFailed{Cluster: x.Step.Cluster}, err)
	}
	src, kept := result.Restored, result.Backup.File
	out = out.WithReport(report.Restore{Cluster: x.Step.Cluster, Size: src.Size, SHA256: src.SHA256, BackupSize: kept.Size, BackupSHA256: kept.SHA256,
		Backup: backup, Notes: notes, Jobs: how, IgnoredErrors: res.IgnoredErrors})
	if res.IgnoredErrors > 0 {
		out.Details = strings.Join(res.Messages, "\n")
	}
	return out, nil
}

// restoreBackup restores the backup a restore step recorded (rollback): from its copy
// on the pod's volume when that checks out, else from the spool. A backup of the
// current state is taken first and kept in case (a retry keeps the one recorded).
func (c *ClusterSteps) restoreBackup(ctx context.Context, x engine.StepContext, pgx podExec) (engine.Output, error) {
	r := x.Step.Restore
	o, _, err := engine.ResultOf[RestoreResult](x.Run, r.FromBackup)
	if err != nil && !errors.Is(err, engine.ErrNoResult) {
		return engine.Output{}, report.Fail(report.StepResult{Step: r.FromBackup}, err)
	}
	if !o.Backup.Taken() {
		return engine.Output{}, report.Fail(report.NoBackup{}, nil)
	}
	if o.Backup.Cluster == "" {
		o.Backup.Cluster = x.Step.Cluster // recorded by a version that did not name it
	}
	from, err := c.findBackup(ctx, o.Backup, pgx)
	if err != nil {
		return engine.Output{}, report.Fail(report.BackupMissing{}, err)
	}
	prev, hasBackup := recordedBackup(x)
	keep := engine.Output{}
	if hasBackup {
		keep = keep.WithResult(prev)
	}
	remote := from.inPod
	if remote == "" {
		remote = plan.RemoteDumpPath(x.Run.ID)
		defer pg.Unstage(ctx, pgx, remote)
	}
	var fresh backupOutcome
	if hasBackup {
		if fresh, _, err = c.keepRecordedBackup(ctx, x, prev, pgx); err != nil {
			return keep, err
		}
	} else {
		fresh.how = report.BackupHow{Cluster: x.Step.Cluster, Source: report.BackupFresh}
		x.ProgressReport(report.BackingUp{Why: fresh.how})
		fresh.b, fresh.how.NoPodCopy, fresh.err = c.takeBackup(ctx, x, x.Step.Cluster, pgx, fmt.Sprintf("%s-backup-attempt-%d.dump", x.Step.ID, x.Attempt))
		if fresh.err != nil {
			return keep, report.Fail(report.BackupFailed{Cluster: x.Step.Cluster}, fresh.err)
		}
	}
	opts, how := c.restoreOptions(ctx, x, pgx)
	if from.inPod == "" {
		x.ProgressReport(report.Copying{Size: o.Backup.File.Size, Pod: pgx.pod})
		if err := pg.Stage(ctx, pgx, o.Backup.File, remote); err != nil {
			return engine.Output{}.WithResult(RestoreResult{Backup: fresh.b, Restored: o.Backup.File}), report.Fail(report.NotRestored{Cluster: x.Step.Cluster}, err)
		}
	}
	notes := []report.Note{{Kind: report.NoteRestoredBackup, Found: &from.found}}
	return c.pgRestore(ctx, x, pgx, remote, opts, how, RestoreResult{Backup: fresh.b, Restored: o.Backup.File}, fresh.how, notes)
}

// removeCopy undoes what the dump step x.Step.Undoes left in the destination pod: the
// copy of the dump in /tmp, when no restore step removed it. It removes the file in
// the pod the dump step recorded and in today's postgres pod (the same one, unless it
// was replaced); a recorded pod that is gone took its /tmp with it.
func (c *ClusterSteps) removeCopy(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	remote := plan.RemoteDumpPath(x.Run.ID)
	name := x.Step.Cluster
	cl, err := c.cluster(name)
	if err != nil {
		return engine.Output{}, err
	}
	container := c.cfg.Clusters[name].Postgres.Container
	var pods []string
	rep := report.CopyRemoved{Path: remote, Cluster: name}
	if prev, _, err := engine.ResultOf[DumpResult](x.Run, x.Step.Undoes); err == nil && prev.Copy != nil && prev.Copy.Cluster == name {
		pods = append(pods, prev.Copy.Pod)
	}
	cur, err := c.postgres(ctx, name, x)
	if err != nil {
		if len(pods) == 0 {
			return engine.Output{}, report.Fail(report.FindPodToRemove{Cluster: name, Path: remote}, err)
		}
		rep.NowErr = err.Error()
	} else if !slices.Contains(pods, cur.pod) {
		pods = append(pods, cur.pod)
	}
	for _, pod := range pods {
		err := pg.Unstage(ctx, podExec{cl, pod, container, tagOf(x)}, remote)
		switch {
		case err == nil:
			rep.Pods = append(rep.Pods, pod)
		case cur.pod != "" && pod != cur.pod:
			rep.Gone = append(rep.Gone, report.PodErr{Pod: pod, Err: err.Error()})
		default:
			return engine.Output{}, err
		}
	}
	return engine.Output{}.WithReport(rep), nil
}
