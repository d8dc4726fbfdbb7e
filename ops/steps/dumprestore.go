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
	note          string
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
		if b.b, b.note, b.err = c.takeBackup(ctx, x, cluster, dst, fmt.Sprintf("%s-%d.%d.dump", name, x.Attempt, b.attempts)); b.err != nil {
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
		return engine.Output{}, fmt.Errorf("create spool directory: %w", err)
	}
	rs := x.Run.Plan.RestoreOf(x.Step.ID)
	var dst *podExec
	var notes []string
	if rs != nil {
		d, err := c.postgres(ctx, rs.Cluster, x)
		if err != nil {
			notes = append(notes, fmt.Sprintf("not copied into %s nor backed up during the dump (%v): the restore step does both", rs.Cluster, err))
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
		x.Progress(fmt.Sprintf("dumping %s from %s pod %s, copying it into %s pod %s as it comes, and backing up %s meanwhile",
			c.db.Name, x.Step.Cluster, pgx.pod, rs.Cluster, dst.pod, rs.Cluster))
	} else {
		x.Progress(fmt.Sprintf("dumping %s from %s pod %s", c.db.Name, x.Step.Cluster, pgx.pod))
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
		return engine.Output{}, fmt.Errorf("dump %s: %w", x.Step.Cluster, err)
	}
	// The origin's table fingerprints are taken by the verify step, on both sides at
	// once: taking them here too would compete with pg_dump for the CPU.
	result := DumpResult{Spool: res}
	var out engine.Output
	out.Summary = fmt.Sprintf("dumped %s from %s: %s, sha256 %s, PGDMP magic checked, fsynced", c.db.Name, x.Step.Cluster, HumanBytes(res.Size), res.SHA256)
	if dst != nil {
		if stageErr == nil {
			result.Copy = &PodFile{Cluster: rs.Cluster, Pod: dst.pod, Path: remote}
			notes = append(notes, fmt.Sprintf("copied into %s pod %s as it came (%s; the restore step checks its sha256 there, then removes it)", rs.Cluster, dst.pod, remote))
			out.Details = fmt.Sprintf("The dump is also at %s in %s pod %s. The restore step removes it; if the run stops before, remove it by hand (in %s):\n  kubectl -n %s exec %s -c %s -- rm -f %s\n",
				remote, rs.Cluster, dst.pod, rs.Cluster, c.cfg.Clusters[rs.Cluster].Namespace, dst.pod, dst.container, remote)
		} else {
			notes = append(notes, fmt.Sprintf("not copied into %s during the dump (%v): the restore step copies it", rs.Cluster, stageErr))
		}
		switch {
		case eb.err != nil:
			notes = append(notes, fmt.Sprintf("no backup of %s during the dump (%v): the restore step takes it", rs.Cluster, eb.err))
		default:
			result.Early = &EarlyBackup{Backup: eb.b, Before: eb.before, After: eb.after}
			how := rs.Cluster + " did not change while it was taken; the restore step uses it if it still has not"
			if eb.before != eb.after || !eb.before.Quiet() {
				how = rs.Cluster + " may have changed while it was taken: the restore step takes it again"
			}
			if eb.attempts > 1 {
				how = "second attempt: the state moved during the first; " + how
			}
			notes = append(notes, fmt.Sprintf("backup of %s taken meanwhile: %s, sha256 %s (%s)", rs.Cluster, HumanBytes(eb.b.File.Size), short(eb.b.File.SHA256), how))
			if eb.note != "" {
				notes = append(notes, eb.note)
			}
		}
	}
	if len(notes) > 0 {
		out.Summary += "; " + strings.Join(notes, "; ")
	}
	return out.WithResult(result), nil
}

// backupOutcome is the backup the restore step keeps for undo, and how it was had.
type backupOutcome struct {
	b     Backup
	note  string
	state *pg.State
	done  time.Time
	err   error
}

// earlyBackupUsable says whether the backup taken during the dump step is still a
// backup of the destination as it is: the same transaction horizon, row counters
// and sequences before it, after it and now, and no write open (pg.State). On any doubt
// it says why not (the restore step then takes the backup again).
func (c *ClusterSteps) earlyBackupUsable(ctx context.Context, x engine.StepContext, d DumpResult, pgx podExec) (b backupOutcome, why string) {
	name := x.Step.Cluster
	eb := d.Early
	switch {
	case eb == nil:
		return b, "taken now"
	case eb.Cluster != name:
		return b, "taken now: the dump step backed up " + eb.Cluster
	case eb.Before != eb.After:
		return b, fmt.Sprintf("taken again: %s may have changed while the dump step backed it up (%s, then %s)", name, eb.Before, eb.After)
	}
	if fi, err := os.Stat(eb.File.Path); err != nil || fi.Size() != eb.File.Size || len(eb.File.SHA256) != 64 {
		if eb.InPod == nil {
			return b, "taken again: the backup from the dump step is not on this replica"
		}
		if err := pg.CheckStaged(ctx, pgx, eb.File, eb.InPod.Path); err != nil {
			return b, fmt.Sprintf("taken again: the backup from the dump step is not on this replica, and its copy on %s's volume failed its check (%v)", name, err)
		}
	}
	now, err := pg.ReadState(ctx, pgx, c.db)
	switch {
	case err != nil:
		return b, fmt.Sprintf("taken again: %v", err)
	case now != eb.After:
		return b, fmt.Sprintf("taken again: %s changed since the dump step backed it up (%s, now %s)", name, eb.After, now)
	case !now.Quiet():
		return b, fmt.Sprintf("taken again: %d write transaction(s) open in %s", now.OpenWrites, name)
	}
	b.b, b.state, b.done = eb.Backup, &now, time.Now()
	b.note = fmt.Sprintf("taken during the dump step; %s has not changed since (%s)", name, now)
	return b, ""
}

// stageOutcome is the dump's copy in the pod, ready for pg_restore.
type stageOutcome struct {
	src      pg.DumpResult
	redumped bool
	notes    []string
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
			st.notes = append(st.notes, fmt.Sprintf("the copy made during the dump (%s in %s) is not where this step restores from", cp.Path, cp.Cluster))
		case cp.Pod != pgx.pod:
			st.notes = append(st.notes, fmt.Sprintf("the copy made during the dump is in pod %s, the postgres pod is now %s", cp.Pod, pgx.pod))
			// Best effort: a dump must not stay behind in a pod's /tmp.
			_ = pg.Unstage(ctx, podExec{pgx.cl, cp.Pod, pgx.container, pgx.tag}, cp.Path)
		default:
			x.Progress(fmt.Sprintf("checking the sha256 of the copy in pod %s", pgx.pod))
			err := pg.CheckStaged(ctx, pgx, src, remote)
			if err == nil {
				st.checked = time.Now()
				note := fmt.Sprintf("used the copy made in pod %s during the dump", pgx.pod)
				if spoolErr != nil {
					note = "the dump spool was not on this replica; " + note + " (its sha256 is the dump's)"
				}
				st.notes = append(st.notes, note)
				return st
			}
			st.notes = append(st.notes, fmt.Sprintf("the copy made in pod %s during the dump failed its check (%v)", pgx.pod, err))
		}
	}
	if spoolErr == nil {
		x.Progress(fmt.Sprintf("copying %s into pod %s", HumanBytes(src.Size), pgx.pod))
		if st.err = pg.Stage(ctx, pgx, src, remote); st.err == nil {
			st.checked = time.Now()
			if len(st.notes) > 0 {
				st.notes = append(st.notes, "copied it in again from the spool")
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
		st.err = fmt.Errorf("the dump spool is not on this replica (%v) and %s cannot be dumped again: %w", spoolErr, from, err)
		return st
	}
	if err := os.MkdirAll(dirOf(src.Path), 0o700); err != nil {
		st.err = fmt.Errorf("create spool directory: %w", err)
		return st
	}
	x.Progress(fmt.Sprintf("the dump spool is not on this replica: dumping %s from %s pod %s again, into pod %s as it comes", c.db.Name, from, opx.pod, pgx.pod))
	res, stageErr, err := c.streamDump(ctx, opx, src.Path, &pgx, remote)
	if err != nil {
		st.err = fmt.Errorf("the dump spool is not on this replica (%v), and dumping %s again failed: %w", spoolErr, from, err)
		return st
	}
	st.src, st.redumped = res, true
	st.notes = append(st.notes, fmt.Sprintf("the dump spool was not on this replica; dumped %s again: %s, sha256 %s, PGDMP magic checked, fsynced (the verify step compares the tables)",
		from, HumanBytes(res.Size), res.SHA256))
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
		return backupOutcome{}, src, fmt.Errorf("nothing was run: %w. An earlier attempt of this step may have half-restored %s, so the bot will not back it up again "+
			"as the data before the run. Bring the backup back (to %s on the bot's replica, or to its path in %s's postgres pod) and Retry; "+
			"or Abort and restore %s by hand; or Skip with a reason, accepting that the undo cannot restore %s's old data",
			err, x.Step.Cluster, prev.Backup.File.Path, x.Step.Cluster, x.Step.Cluster, x.Step.Cluster)
	}
	b := backupOutcome{b: prev.Backup, state: prev.BackupState, done: time.Now()}
	b.note = fmt.Sprintf("kept from an earlier attempt, taken before any attempt could change %s (%s)", x.Step.Cluster, src.note)
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
		return engine.Output{}, fmt.Errorf("step %s has not produced a dump; run it first", r.From)
	}
	if err != nil {
		return engine.Output{}, fmt.Errorf("step %s: %w", r.From, err)
	}
	src := dump.Spool
	if src.Path == "" || src.SHA256 == "" {
		return engine.Output{}, errors.New("no dump file is recorded to restore from")
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
		if b, why := c.earlyBackupUsable(ctx, x, dump, pgx); why == "" {
			bch <- b
		} else {
			x.Progress(fmt.Sprintf("backing up %s (%s)", x.Step.Cluster, why))
			go func() {
				b := backupOutcome{note: why}
				var note string
				b.b, note, b.err = c.takeBackup(ctx, x, x.Step.Cluster, pgx, fmt.Sprintf("%s-backup-attempt-%d.dump", x.Step.ID, x.Attempt))
				if note != "" {
					b.note += "; " + note
				}
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
		return keep, fmt.Errorf("backup of %s before the restore failed, nothing was restored: %w", x.Step.Cluster, b.err)
	}
	result := RestoreResult{Backup: b.b, BackupState: b.state, Restored: src}
	if st.redumped && redumpOf == "" {
		redumpOf = dump.Spool.SHA256
	}
	result.RedumpOf = redumpOf
	out := engine.Output{}.WithResult(result)
	if st.err != nil {
		return out, fmt.Errorf("nothing was restored into %s: %w", x.Step.Cluster, st.err)
	}
	// The sha256 in the pod is checked right before pg_restore: again if the backup
	// finished after the last check.
	if !st.checked.After(b.done) {
		x.Progress(fmt.Sprintf("checking the sha256 of the copy in pod %s", pgx.pod))
		if err := pg.CheckStaged(ctx, pgx, src, remote); err != nil {
			return out, fmt.Errorf("nothing was restored into %s: %w", x.Step.Cluster, err)
		}
	}
	return c.pgRestore(ctx, x, pgx, remote, opts, how, result, b.note, st.notes)
}

// pgRestore records the backup in the run, then runs pg_restore on the checked file in
// the pod and says what was restored, which backup of the old data is kept (backupNote:
// how it was had) and notes.
func (c *ClusterSteps) pgRestore(ctx context.Context, x engine.StepContext, pgx podExec, remote string,
	opts pg.RestoreOptions, how string, result RestoreResult, backupNote string, notes []string) (engine.Output, error) {
	out := engine.Output{}.WithResult(result)
	if err := x.Record(result); err != nil {
		return out, fmt.Errorf("could not record the backup of %s in the run before restoring (%w); nothing was restored: Retry", x.Step.Cluster, err)
	}
	x.Progress(fmt.Sprintf("pg_restore in %s (%s)", x.Step.Cluster, how))
	notes = append(notes, "pg_restore "+how)
	res, err := pg.RestoreStaged(ctx, pgx, c.db, result.Restored, remote, opts)
	result.IgnoredErrors = res.IgnoredErrors
	out = out.WithResult(result)
	if err != nil {
		return out, fmt.Errorf("restore into %s: %w", x.Step.Cluster, err)
	}
	src, backup := result.Restored, result.Backup.File
	out.Summary = fmt.Sprintf("restored %s (sha256 %s, checked in the pod) into %s; backup of the old data: %s, sha256 %s",
		HumanBytes(src.Size), short(src.SHA256), x.Step.Cluster, HumanBytes(backup.Size), short(backup.SHA256))
	if backupNote != "" {
		out.Summary += ", " + backupNote
	}
	if len(notes) > 0 {
		out.Summary += "; " + strings.Join(notes, "; ")
	}
	if res.IgnoredErrors > 0 {
		out.Summary += fmt.Sprintf("; pg_restore ignored %d error(s): see details, then check the verify step", res.IgnoredErrors)
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
		return engine.Output{}, fmt.Errorf("step %s: %w", r.FromBackup, err)
	}
	if !o.Backup.Taken() {
		return engine.Output{}, errors.New("no backup is recorded to restore from")
	}
	if o.Backup.Cluster == "" {
		o.Backup.Cluster = x.Step.Cluster // recorded by a version that did not name it
	}
	from, err := c.findBackup(ctx, o.Backup, pgx)
	if err != nil {
		return engine.Output{}, fmt.Errorf("nothing was restored: %w; bring it back to either place and Retry", err)
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
		x.Progress(fmt.Sprintf("backing up %s as it is now, kept in case", x.Step.Cluster))
		var note string
		fresh.b, note, fresh.err = c.takeBackup(ctx, x, x.Step.Cluster, pgx, fmt.Sprintf("%s-backup-attempt-%d.dump", x.Step.ID, x.Attempt))
		if fresh.err != nil {
			return keep, fmt.Errorf("backup of %s before the restore failed, nothing was restored: %w", x.Step.Cluster, fresh.err)
		}
		fresh.note = note
	}
	opts, how := c.restoreOptions(ctx, x, pgx)
	if from.inPod == "" {
		x.Progress(fmt.Sprintf("copying %s into pod %s", HumanBytes(o.Backup.File.Size), pgx.pod))
		if err := pg.Stage(ctx, pgx, o.Backup.File, remote); err != nil {
			return engine.Output{}.WithResult(RestoreResult{Backup: fresh.b, Restored: o.Backup.File}), fmt.Errorf("nothing was restored into %s: %w", x.Step.Cluster, err)
		}
	}
	notes := []string{"restored the backup " + from.note}
	return c.pgRestore(ctx, x, pgx, remote, opts, how, RestoreResult{Backup: fresh.b, Restored: o.Backup.File}, fresh.note, notes)
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
	var pods, notes []string
	if prev, _, err := engine.ResultOf[DumpResult](x.Run, x.Step.Undoes); err == nil && prev.Copy != nil && prev.Copy.Cluster == name {
		pods = append(pods, prev.Copy.Pod)
	}
	cur, err := c.postgres(ctx, name, x)
	if err != nil {
		if len(pods) == 0 {
			return engine.Output{}, fmt.Errorf("find the postgres pod in %s to remove %s: %w", name, remote, err)
		}
		notes = append(notes, fmt.Sprintf("no postgres pod found in %s now (%v)", name, err))
	} else if !slices.Contains(pods, cur.pod) {
		pods = append(pods, cur.pod)
	}
	var removed []string
	for _, pod := range pods {
		err := pg.Unstage(ctx, podExec{cl, pod, container, tagOf(x)}, remote)
		switch {
		case err == nil:
			removed = append(removed, pod)
		case cur.pod != "" && pod != cur.pod:
			notes = append(notes, fmt.Sprintf("pod %s (where the dump step copied it): %v; a pod that is gone took its /tmp with it", pod, err))
		default:
			return engine.Output{}, err
		}
	}
	return engine.Output{Details: strings.Join(notes, "\n")}.WithReport(report.CopyRemoved{Path: remote, Cluster: name, Pods: removed}), nil
}
