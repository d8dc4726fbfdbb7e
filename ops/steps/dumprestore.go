package steps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
)

// The dump and restore steps: the part of the cutover where data moves.

// earlyBackup is a backup of the destination taken during the dump step, with the
// destination's state read before and after it.
type earlyBackup struct {
	res           pg.DumpResult
	before, after pg.State
	attempts      int
	err           error
}

// backupWithState backs dst up between two reads of its state. When the state moved
// meanwhile (a write, autovacuum's ANALYZE) it tries once more if the origin's dump
// (dumping) still runs.
func (c *ClusterSteps) backupWithState(ctx context.Context, dst podExec, path string, dumping <-chan struct{}) (b earlyBackup) {
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
		if b.res, b.err = pg.Dump(ctx, dst, c.db, path); b.err != nil {
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
	pgx, err := c.postgres(ctx, x.Step.Cluster)
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
		d, err := c.postgres(ctx, rs.Cluster)
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
			early <- c.backupWithState(bctx, *dst, SpoolPath(c.cfg, x.Run.ID, rs.ID+"-backup-early.dump"), dumping)
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
	out.Summary = fmt.Sprintf("dumped %s from %s: %s, sha256 %s, PGDMP magic checked, fsynced", c.db.Name, x.Step.Cluster, humanBytes(res.Size), res.SHA256)
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
			result.Backup = &EarlyBackup{File: eb.res, Cluster: rs.Cluster, Before: eb.before, After: eb.after}
			how := rs.Cluster + " did not change while it was taken; the restore step uses it if it still has not"
			if eb.before != eb.after || !eb.before.Quiet() {
				how = rs.Cluster + " may have changed while it was taken: the restore step takes it again"
			}
			if eb.attempts > 1 {
				how = "second attempt: the state moved during the first; " + how
			}
			notes = append(notes, fmt.Sprintf("backup of %s taken meanwhile: %s, sha256 %s (%s)", rs.Cluster, humanBytes(eb.res.Size), short(eb.res.SHA256), how))
		}
	}
	if len(notes) > 0 {
		out.Summary += "; " + strings.Join(notes, "; ")
	}
	return out.WithResult(result), nil
}

// backupOutcome is the backup the restore step keeps for undo.
// earlierAttemptBackup returns the backup an earlier attempt of this step took, when its
// file is still in the spool with the recorded sha256.
func earlierAttemptBackup(x engine.StepContext) (backupOutcome, bool) {
	if x.Attempt <= 1 {
		return backupOutcome{}, false
	}
	prev, err := engine.Decode[RestoreResult](x.Run.Steps[x.Index].Output) // the failed attempt's, kept with its error
	path, sum := prev.Backup.Path, prev.Backup.SHA256
	if err != nil || path == "" || sum == "" {
		return backupOutcome{}, false
	}
	f, err := os.Open(path)
	if err != nil {
		return backupOutcome{}, false
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil || hex.EncodeToString(h.Sum(nil)) != sum {
		return backupOutcome{}, false
	}
	b := backupOutcome{res: pg.DumpResult{Path: path, Size: n, SHA256: sum}, state: prev.BackupState, done: time.Now()}
	b.note = fmt.Sprintf("kept from attempt %d, taken before any attempt could change %s (sha256 checked again)", x.Attempt-1, x.Step.Cluster)
	return b, true
}

type backupOutcome struct {
	res   pg.DumpResult
	note  string
	state *pg.State
	done  time.Time
	err   error
}

// earlyBackupUsable says whether the backup taken during the dump step is still a
// backup of the destination as it is: the same transaction horizon, row counters
// and sequences before it, after it and now, and no write open (pg.State). On any doubt it says
// why not (the restore step then takes the backup again, as before).
func (c *ClusterSteps) earlyBackupUsable(ctx context.Context, x engine.StepContext, d DumpResult, pgx podExec) (b backupOutcome, why string) {
	name := x.Step.Cluster
	eb := d.Backup
	switch {
	case eb == nil:
		return b, "taken now"
	case eb.Cluster != name:
		return b, "taken now: the dump step backed up " + eb.Cluster
	case eb.Before != eb.After:
		return b, fmt.Sprintf("taken again: %s may have changed while the dump step backed it up (%s, then %s)", name, eb.Before, eb.After)
	}
	early := eb.File
	if fi, err := os.Stat(early.Path); err != nil || fi.Size() != early.Size || len(early.SHA256) != 64 {
		return b, "taken again: the backup from the dump step is not on this replica"
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
	b.res, b.state, b.done = early, &now, time.Now()
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
			_ = pg.Unstage(ctx, podExec{pgx.cl, cp.Pod, pgx.container}, cp.Path)
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
		x.Progress(fmt.Sprintf("copying %s into pod %s", humanBytes(src.Size), pgx.pod))
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
	opx, err := c.postgres(ctx, from)
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
		from, humanBytes(res.Size), res.SHA256))
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

func (c *ClusterSteps) restore(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	r := x.Step.Restore
	pgx, err := c.postgres(ctx, x.Step.Cluster)
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
	// An earlier attempt of this step dumped the origin again into the spool, in place
	// of this very dump: the spool holds that one now.
	redumpOf := ""
	if prev, err := engine.Decode[RestoreResult](x.Run.Steps[x.Index].Output); err == nil && prev.RedumpOf == src.SHA256 && prev.Restored.Path == src.Path && prev.Restored.SHA256 != "" {
		redumpOf = src.SHA256
		src = prev.Restored
	}
	backupPath := SpoolPath(c.cfg, x.Run.ID, x.Step.ID+"-backup.dump")
	if err := os.MkdirAll(dirOf(backupPath), 0o700); err != nil {
		return engine.Output{}, fmt.Errorf("create spool directory: %w", err)
	}
	remote := plan.RemoteDumpPath(x.Run.ID)
	defer pg.Unstage(ctx, pgx, remote)

	// The backup of the destination, kept for undo, and the dump's copy in the pod are
	// made ready at once (one reads the database, the other at most writes a file: they
	// do not meet). The restore starts only when both are. Whether the backup from the
	// dump step can be used is settled first: it takes one query.
	bch := make(chan backupOutcome, 1)
	if b, ok := earlierAttemptBackup(x); ok {
		// A failed attempt may have changed the destination (pg_restore dropped tables
		// before it stopped): the backup to keep for undo is the one taken before it.
		bch <- b
	} else if b, why := c.earlyBackupUsable(ctx, x, dump, pgx); why == "" {
		bch <- b
	} else {
		x.Progress(fmt.Sprintf("backing up %s (%s)", x.Step.Cluster, why))
		go func() {
			b := backupOutcome{note: why}
			b.res, b.err = pg.Dump(ctx, pgx, c.db, backupPath)
			b.done = time.Now()
			bch <- b
		}()
	}
	st := c.stageForRestore(ctx, x, dump.Copy, src, pgx, remote)
	b := <-bch
	src = st.src
	if b.err != nil {
		return engine.Output{}, fmt.Errorf("backup of %s before the restore failed, nothing was restored: %w", x.Step.Cluster, b.err)
	}
	result := RestoreResult{Backup: b.res, BackupState: b.state, Restored: src}
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
	return c.pgRestore(ctx, x, pgx, src, remote, result, b.note, st.notes)
}

// pgRestore runs pg_restore on the checked copy in the pod and says what was restored,
// which backup of the old data is kept (backupNote: how it was taken) and notes.
func (c *ClusterSteps) pgRestore(ctx context.Context, x engine.StepContext, pgx podExec, src pg.DumpResult, remote string,
	result RestoreResult, backupNote string, notes []string) (engine.Output, error) {
	x.Progress("pg_restore in " + x.Step.Cluster)
	res, err := pg.RestoreStaged(ctx, pgx, c.db, src, remote, x.Step.Restore.Jobs)
	result.IgnoredErrors = res.IgnoredErrors
	out := engine.Output{}.WithResult(result)
	if err != nil {
		return out, fmt.Errorf("restore into %s: %w", x.Step.Cluster, err)
	}
	backup := result.Backup
	out.Summary = fmt.Sprintf("restored %s (sha256 %s, checked in the pod) into %s; backup of the old data: %s, sha256 %s",
		humanBytes(src.Size), short(src.SHA256), x.Step.Cluster, humanBytes(backup.Size), short(backup.SHA256))
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

// restoreBackup restores the backup a restore step took (rollback): a fresh backup of
// the current state is taken meanwhile, kept in case.
func (c *ClusterSteps) restoreBackup(ctx context.Context, x engine.StepContext, pgx podExec) (engine.Output, error) {
	r := x.Step.Restore
	o, _, err := engine.ResultOf[RestoreResult](x.Run, r.FromBackup)
	if err != nil && !errors.Is(err, engine.ErrNoResult) {
		return engine.Output{}, fmt.Errorf("step %s: %w", r.FromBackup, err)
	}
	src := o.Backup
	if src.Path == "" || src.SHA256 == "" {
		return engine.Output{}, errors.New("no dump file is recorded to restore from")
	}
	if _, err := os.Stat(src.Path); err != nil {
		return engine.Output{}, fmt.Errorf("the backup to restore is gone from the spool (%v): it is on the replica that ran step %s", err, r.FromBackup)
	}
	backupPath := SpoolPath(c.cfg, x.Run.ID, x.Step.ID+"-backup.dump")
	if err := os.MkdirAll(dirOf(backupPath), 0o700); err != nil {
		return engine.Output{}, fmt.Errorf("create spool directory: %w", err)
	}
	remote := plan.RemoteDumpPath(x.Run.ID)
	defer pg.Unstage(ctx, pgx, remote)
	x.Progress(fmt.Sprintf("backing up %s and copying %s into pod %s", x.Step.Cluster, humanBytes(src.Size), pgx.pod))
	stageErr := make(chan error, 1)
	go func() { stageErr <- pg.Stage(ctx, pgx, src, remote) }()
	backup, berr := pg.Dump(ctx, pgx, c.db, backupPath)
	serr := <-stageErr
	if berr != nil {
		return engine.Output{}, fmt.Errorf("backup of %s before the restore failed, nothing was restored: %w", x.Step.Cluster, berr)
	}
	result := RestoreResult{Backup: backup, Restored: src}
	if serr != nil {
		return engine.Output{}.WithResult(result), fmt.Errorf("nothing was restored into %s: %w", x.Step.Cluster, serr)
	}
	return c.pgRestore(ctx, x, pgx, src, remote, result, "", nil)
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
	cur, err := c.postgres(ctx, name)
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
		err := pg.Unstage(ctx, podExec{cl, pod, container}, remote)
		switch {
		case err == nil:
			removed = append(removed, pod)
		case cur.pod != "" && pod != cur.pod:
			notes = append(notes, fmt.Sprintf("pod %s (where the dump step copied it): %v; a pod that is gone took its /tmp with it", pod, err))
		default:
			return engine.Output{}, err
		}
	}
	out := engine.Output{Details: strings.Join(notes, "\n")}
	out.Summary = fmt.Sprintf("removed %s (if it was there) in %s pod %s", remote, name, strings.Join(removed, " and "))
	if len(removed) == 0 {
		out.Summary = fmt.Sprintf("%s: no pod left that holds %s", name, remote)
	}
	return out, nil
}
