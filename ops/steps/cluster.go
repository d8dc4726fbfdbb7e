package steps

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
)

// Cluster is what the steps need of one Kubernetes cluster (*kube.Cluster).
type Cluster interface {
	Name() string
	Ping(ctx context.Context) error
	FindPod(ctx context.Context, selector, container string) (kube.Pod, error)
	Exec(ctx context.Context, pod, container string, argv []string, stdin io.Reader, stdout, stderr io.Writer) error
	Scale(ctx context.Context, kind kube.Workload, name string, replicas int32, wait time.Duration, progress func(string)) (int32, error)
	WorkloadExists(ctx context.Context, kind kube.Workload, name string) error
	ImageDigest(ctx context.Context, selector, container string) (string, error)
}

// ScaleWait bounds how long a scale step waits for status.replicas.
const ScaleWait = 5 * time.Minute

// Values the cluster steps record for later steps and rollback.
const (
	ValPreviousReplicas = "previous_replicas"
	ValPath             = "path"
	ValSize             = "size"
	ValSHA256           = "sha256"
	ValBackupPath       = "backup_path"
	ValBackupSize       = "backup_size"
	ValBackupSHA256     = "backup_sha256"
	ValMaintenance      = "maintenance"
	ValRestoredSize     = "restored_size"

	// The dump step, when the plan restores its dump: where the copy made in the
	// destination pod during the dump is (absent when it was not made whole).
	ValStagedPath    = "staged_path"
	ValStagedCluster = "staged_cluster"
	ValStagedPod     = "staged_pod"
	// The dump step: the backup of the destination taken during the dump, and the
	// destination's state (pg.State) read before and after it.
	ValDestBackupPath    = "dest_backup_path"
	ValDestBackupSize    = "dest_backup_size"
	ValDestBackupSHA256  = "dest_backup_sha256"
	ValDestBackupCluster = "dest_backup_cluster"
	ValDestBackupBefore  = "dest_backup_state_before"
	ValDestBackupAfter   = "dest_backup_state_after"
	// The restore step: the destination's state its backup is of, when it was read.
	ValBackupState = "backup_state"
	// The restore step, when the spool was not on its replica and it dumped the origin
	// again: the sha256 of the dump step's dump it replaced (its own ValPath, ValSize
	// and ValSHA256 are the new dump's, which a retry of the step restores).
	ValRedumpOf = "redump_of"
)

// ClusterSteps runs the steps that act inside the clusters.
type ClusterSteps struct {
	cfg      *config.Config
	clusters map[string]Cluster
	db       pg.DB
}

// RegisterClusterSteps wires the cluster-side kinds and preflight checks into e.
func RegisterClusterSteps(e *Executor, cfg *config.Config, clusters map[string]Cluster) *ClusterSteps {
	c := &ClusterSteps{cfg: cfg, clusters: clusters, db: pg.DB{Name: cfg.Database.Name, User: cfg.Database.User, ExcludeTables: cfg.Database.ExcludeTables}}
	e.Register(plan.KindScale, c.scale)
	e.Register(plan.KindMaintenance, c.maintenance)
	e.Register(plan.KindExec, c.exec)
	e.Register(plan.KindDump, c.dump)
	e.Register(plan.KindRestore, c.restore)
	e.Register(plan.KindVerify, c.verify)
	e.AddCheck("clusters reachable", c.checkReachable)
	e.AddCheck("pods ready", c.checkPods)
	e.AddCheck("celery StatefulSet present", c.checkCelery)
	e.AddCheck("meshweb image digests equal", c.checkDigests)
	return c
}

func (c *ClusterSteps) cluster(name string) (Cluster, error) {
	cl, ok := c.clusters[name]
	if !ok {
		return nil, fmt.Errorf("no connection to cluster %q is configured", name)
	}
	return cl, nil
}

// podExec binds a cluster, pod and container into a pg.Execer.
type podExec struct {
	cl        Cluster
	pod       string
	container string
}

func (p podExec) Exec(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return p.cl.Exec(ctx, p.pod, p.container, argv, stdin, stdout, stderr)
}

func (c *ClusterSteps) postgres(ctx context.Context, name string) (podExec, error) {
	cl, err := c.cluster(name)
	if err != nil {
		return podExec{}, err
	}
	pc := c.cfg.Clusters[name].Postgres
	pod, err := cl.FindPod(ctx, pc.Selector, pc.Container)
	if err != nil {
		return podExec{}, err
	}
	return podExec{cl, pod.Name, pc.Container}, nil
}

func (c *ClusterSteps) scale(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	s := x.Step.Scale
	cl, err := c.cluster(x.Step.Cluster)
	if err != nil {
		return engine.Output{}, err
	}
	var target int32
	if s.Replicas != nil {
		target = *s.Replicas
	} else {
		out, _ := x.Run.Output(s.RestoreFrom)
		prev, ok := out.Values[ValPreviousReplicas]
		if !ok {
			return engine.Output{}, fmt.Errorf("step %s recorded no previous replica count for %s; scale it by hand and Skip with a reason", s.RestoreFrom, s.Name)
		}
		n, err := strconv.ParseInt(prev, 10, 32)
		if err != nil {
			return engine.Output{}, fmt.Errorf("recorded replica count %q of step %s is not a number", prev, s.RestoreFrom)
		}
		target = int32(n)
	}
	prev, err := cl.Scale(ctx, kube.Workload(s.Workload), s.Name, target, ScaleWait, x.Progress)
	out := engine.Output{Values: map[string]string{ValPreviousReplicas: strconv.Itoa(int(prev))}}
	if err != nil {
		return out, err
	}
	out.Summary = fmt.Sprintf("%s %s in %s: %d -> %d replicas (previous count %d recorded)", s.Workload, s.Name, x.Step.Cluster, prev, target, prev)
	return out, nil
}

var errManageOutput = errors.New("unexpected output")

// maintenance flips the flag through manage.py in a meshweb pod; meshweb pods restart
// while the flag is on, so when none is ready or the command fails it falls back to
// the same change in SQL. Either way the state is read back from the database.
func (c *ClusterSteps) maintenance(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	on := x.Step.Maintenance.On
	name := x.Step.Cluster
	cl, err := c.cluster(name)
	if err != nil {
		return engine.Output{}, err
	}
	cc := c.cfg.Clusters[name]
	verb, word := "disable_flag", "disabled"
	if on {
		verb, word = "enable_flag", "enabled"
	}
	var notes []string
	via := ""
	pod, err := cl.FindPod(ctx, cc.Meshweb.Selector, cc.Meshweb.Container)
	if err == nil {
		argv := append(append([]string(nil), cc.Meshweb.Manage...), verb, "MAINTENANCE_MODE")
		var stdout, stderr bytes.Buffer
		err = cl.Exec(ctx, pod.Name, cc.Meshweb.Container, argv, nil, &stdout, &stderr)
		want := "Successfully " + word + " MAINTENANCE_MODE"
		if err == nil && !strings.Contains(stdout.String(), want) {
			err = fmt.Errorf("%w: %q, not %q", errManageOutput, strings.TrimSpace(tail(stdout.String(), 300)), want)
		}
		if err == nil {
			via = "manage.py " + verb + " in pod " + pod.Name
		}
	}
	pgx, perr := c.postgres(ctx, name)
	if perr != nil {
		return engine.Output{}, fmt.Errorf("maintenance %s: %w", onOff(on), perr)
	}
	if via == "" {
		notes = append(notes, "meshweb path failed ("+err.Error()+"); used the SQL fallback")
		x.Progress("meshweb path failed; setting the flag in SQL")
		if err := pg.SetMaintenanceSQL(ctx, pgx, c.db, on); err != nil {
			return engine.Output{}, fmt.Errorf("maintenance %s in %s: the meshweb path failed and so did SQL: %w", onOff(on), name, err)
		}
		via = "SQL in pod " + pgx.pod
	}
	state, err := pg.MaintenanceState(ctx, pgx, c.db)
	if err != nil {
		return engine.Output{}, fmt.Errorf("read MAINTENANCE_MODE back in %s: %w", name, err)
	}
	out := engine.Output{Values: map[string]string{ValMaintenance: onOff(state)}, Details: strings.Join(notes, "\n")}
	if state != on {
		return out, fmt.Errorf("MAINTENANCE_MODE reads %s in %s after setting it %s", onOff(state), name, onOff(on))
	}
	out.Summary = fmt.Sprintf("MAINTENANCE_MODE is %s in %s (via %s; read back from flags_flagstate)", onOff(state), name, via)
	return out, nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (c *ClusterSteps) exec(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	cl, err := c.cluster(x.Step.Cluster)
	if err != nil {
		return engine.Output{}, err
	}
	cc := c.cfg.Clusters[x.Step.Cluster]
	sel, container := cc.Postgres.Selector, cc.Postgres.Container
	if x.Step.Exec.Target == "meshweb" {
		sel, container = cc.Meshweb.Selector, cc.Meshweb.Container
	}
	pod, err := cl.FindPod(ctx, sel, container)
	if err != nil {
		return engine.Output{}, err
	}
	// stdout and stderr are copied by two goroutines: one buffer, one lock.
	var buf lockedBuffer
	err = cl.Exec(ctx, pod.Name, container, x.Step.Exec.Argv, nil, &buf, &buf)
	out := engine.Output{Details: tail(buf.String(), 20000)}
	if err != nil {
		return out, err
	}
	out.Summary = fmt.Sprintf("%s exited 0 in %s pod %s", plan.ShellQuote(x.Step.Exec.Argv), x.Step.Cluster, pod.Name)
	return out, nil
}

// restoreOf finds the restore step that restores the dump of step dumpID (none: nil).
func restoreOf(p plan.Plan, dumpID string) *plan.Step {
	for i, s := range p.Steps {
		if s.Kind == plan.KindRestore && s.Restore != nil && s.Restore.FromBackup == "" && s.Restore.From == dumpID {
			return &p.Steps[i]
		}
	}
	return nil
}

// earlyBackup is a backup of the destination taken during the dump step, with the
// destination's state read before and after it.
type earlyBackup struct {
	res           pg.DumpResult
	before, after pg.State
	attempts      int
	err           error
}

// backupWithState backs dst up between two reads of its state. When the state moved
// meanwhile it tries once more if the origin's dump (dumping) still runs: the first
// read of a database can itself write WAL (pruning pages, such as those ANALYZE left
// in pg_statistic).
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
		if b.before.String() == b.after.String() && b.before.Quiet() {
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
	pgx, err := c.postgres(ctx, x.Step.Cluster)
	if err != nil {
		return engine.Output{}, err
	}
	path := SpoolPath(c.cfg, x.Run.ID, x.Step.ID+".dump")
	if err := os.MkdirAll(dirOf(path), 0o700); err != nil {
		return engine.Output{}, fmt.Errorf("create spool directory: %w", err)
	}
	rs := restoreOf(x.Run.Plan, x.Step.ID)
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
	out := engine.Output{Values: map[string]string{ValPath: res.Path, ValSize: strconv.FormatInt(res.Size, 10), ValSHA256: res.SHA256}}
	out.Summary = fmt.Sprintf("dumped %s from %s: %s, sha256 %s, PGDMP magic checked, fsynced", c.db.Name, x.Step.Cluster, humanBytes(res.Size), res.SHA256)
	if dst != nil {
		if stageErr == nil {
			out.Values[ValStagedPath], out.Values[ValStagedCluster], out.Values[ValStagedPod] = remote, rs.Cluster, dst.pod
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
			for k, v := range map[string]string{ValDestBackupPath: eb.res.Path, ValDestBackupSize: strconv.FormatInt(eb.res.Size, 10),
				ValDestBackupSHA256: eb.res.SHA256, ValDestBackupCluster: rs.Cluster, ValDestBackupBefore: eb.before.String(), ValDestBackupAfter: eb.after.String()} {
				out.Values[k] = v
			}
			how := rs.Cluster + " did not change while it was taken; the restore step uses it if it still has not"
			if eb.before.String() != eb.after.String() || !eb.before.Quiet() {
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
	return out, nil
}

// backupOutcome is the backup the restore step keeps for undo.
// earlierAttemptBackup returns the backup an earlier attempt of this step took, when its
// file is still in the spool with the recorded sha256.
func earlierAttemptBackup(x engine.StepContext) (backupOutcome, bool) {
	if x.Attempt <= 1 {
		return backupOutcome{}, false
	}
	prev := x.Run.Steps[x.Index].Output // the failed attempt's, kept with its error
	path, sum := prev.Values[ValBackupPath], prev.Values[ValBackupSHA256]
	if path == "" || sum == "" {
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
	b := backupOutcome{res: pg.DumpResult{Path: path, Size: n, SHA256: sum}, state: prev.Values[ValBackupState], done: time.Now()}
	b.note = fmt.Sprintf("kept from attempt %d, taken before any attempt could change %s (sha256 checked again)", x.Attempt-1, x.Step.Cluster)
	return b, true
}

type backupOutcome struct {
	res   pg.DumpResult
	note  string
	state string
	done  time.Time
	err   error
}

// earlyBackupUsable says whether the backup taken during the dump step is still a
// backup of the destination as it is: the same WAL insert position, row counters
// and sequences before it, after it and now, and no write open. On any doubt it says
// why not (the restore step then takes the backup again, as before).
func (c *ClusterSteps) earlyBackupUsable(ctx context.Context, x engine.StepContext, v map[string]string, pgx podExec) (b backupOutcome, why string) {
	name := x.Step.Cluster
	switch {
	case v[ValDestBackupPath] == "":
		return b, "taken now"
	case v[ValDestBackupCluster] != name:
		return b, "taken now: the dump step backed up " + v[ValDestBackupCluster]
	case v[ValDestBackupBefore] == "" || v[ValDestBackupBefore] != v[ValDestBackupAfter]:
		return b, fmt.Sprintf("taken again: %s may have changed while the dump step backed it up (%s, then %s)", name, v[ValDestBackupBefore], v[ValDestBackupAfter])
	}
	early := pg.DumpResult{Path: v[ValDestBackupPath], SHA256: v[ValDestBackupSHA256]}
	early.Size, _ = strconv.ParseInt(v[ValDestBackupSize], 10, 64)
	if fi, err := os.Stat(early.Path); err != nil || fi.Size() != early.Size || len(early.SHA256) != 64 {
		return b, "taken again: the backup from the dump step is not on this replica"
	}
	now, err := pg.ReadState(ctx, pgx, c.db)
	switch {
	case err != nil:
		return b, fmt.Sprintf("taken again: %v", err)
	case now.String() != v[ValDestBackupAfter]:
		return b, fmt.Sprintf("taken again: %s changed since the dump step backed it up (%s, now %s)", name, v[ValDestBackupAfter], now)
	case !now.Quiet():
		return b, fmt.Sprintf("taken again: %d write transaction(s) open in %s", now.OpenWrites, name)
	}
	b.res, b.state, b.done = early, now.String(), time.Now()
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
func (c *ClusterSteps) stageForRestore(ctx context.Context, x engine.StepContext, v map[string]string, src pg.DumpResult, pgx podExec, remote string) (st stageOutcome) {
	st.src = src
	name := x.Step.Cluster
	_, spoolErr := os.Stat(src.Path)
	if v[ValStagedPath] != "" {
		switch {
		case v[ValStagedPath] != remote || v[ValStagedCluster] != name:
			st.notes = append(st.notes, fmt.Sprintf("the copy made during the dump (%s in %s) is not where this step restores from", v[ValStagedPath], v[ValStagedCluster]))
		case v[ValStagedPod] != pgx.pod:
			st.notes = append(st.notes, fmt.Sprintf("the copy made during the dump is in pod %s, the postgres pod is now %s", v[ValStagedPod], pgx.pod))
			// Best effort: a dump must not stay behind in a pod's /tmp.
			_ = pg.Unstage(ctx, podExec{pgx.cl, v[ValStagedPod], pgx.container}, v[ValStagedPath])
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
	o, ok := x.Run.Output(r.From)
	if !ok {
		return engine.Output{}, fmt.Errorf("step %s has not produced a dump; run it first", r.From)
	}
	src := pg.DumpResult{Path: o.Values[ValPath], SHA256: o.Values[ValSHA256]}
	src.Size, _ = strconv.ParseInt(o.Values[ValSize], 10, 64)
	if src.Path == "" || src.SHA256 == "" {
		return engine.Output{}, errors.New("no dump file is recorded to restore from")
	}
	// An earlier attempt of this step dumped the origin again into the spool, in place
	// of this very dump: the spool holds that one now.
	redumpOf := ""
	if prev, _ := x.Run.Output(x.Step.ID); prev.Values[ValRedumpOf] == src.SHA256 && prev.Values[ValPath] == src.Path && prev.Values[ValSHA256] != "" {
		redumpOf = src.SHA256
		src.SHA256 = prev.Values[ValSHA256]
		src.Size, _ = strconv.ParseInt(prev.Values[ValSize], 10, 64)
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
	} else if b, why := c.earlyBackupUsable(ctx, x, o.Values, pgx); why == "" {
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
	st := c.stageForRestore(ctx, x, o.Values, src, pgx, remote)
	b := <-bch
	src = st.src
	if b.err != nil {
		return engine.Output{}, fmt.Errorf("backup of %s before the restore failed, nothing was restored: %w", x.Step.Cluster, b.err)
	}
	out := engine.Output{Values: map[string]string{ValBackupPath: b.res.Path, ValBackupSize: strconv.FormatInt(b.res.Size, 10), ValBackupSHA256: b.res.SHA256}}
	if b.state != "" {
		out.Values[ValBackupState] = b.state
	}
	if st.redumped && redumpOf == "" {
		redumpOf = o.Values[ValSHA256]
	}
	if redumpOf != "" {
		out.Values[ValPath], out.Values[ValSize], out.Values[ValSHA256], out.Values[ValRedumpOf] = src.Path, strconv.FormatInt(src.Size, 10), src.SHA256, redumpOf
	}
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
	x.Progress("pg_restore in " + x.Step.Cluster)
	res, err := pg.RestoreStaged(ctx, pgx, c.db, src, remote, r.Jobs)
	if err != nil {
		return out, fmt.Errorf("restore into %s: %w", x.Step.Cluster, err)
	}
	out.Summary = fmt.Sprintf("restored %s (sha256 %s, checked in the pod) into %s; backup of the old data: %s, sha256 %s, %s",
		humanBytes(src.Size), short(src.SHA256), x.Step.Cluster, humanBytes(b.res.Size), short(b.res.SHA256), b.note)
	if len(st.notes) > 0 {
		out.Summary += "; " + strings.Join(st.notes, "; ")
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
	o, _ := x.Run.Output(r.FromBackup)
	src := pg.DumpResult{Path: o.Values[ValBackupPath], SHA256: o.Values[ValBackupSHA256]}
	src.Size, _ = strconv.ParseInt(o.Values[ValBackupSize], 10, 64)
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
	out := engine.Output{Values: map[string]string{ValBackupPath: backup.Path, ValBackupSize: strconv.FormatInt(backup.Size, 10), ValBackupSHA256: backup.SHA256}}
	if serr != nil {
		return out, fmt.Errorf("nothing was restored into %s: %w", x.Step.Cluster, serr)
	}
	x.Progress("pg_restore in " + x.Step.Cluster)
	res, err := pg.RestoreStaged(ctx, pgx, c.db, src, remote, r.Jobs)
	if err != nil {
		return out, fmt.Errorf("restore into %s: %w", x.Step.Cluster, err)
	}
	out.Summary = fmt.Sprintf("restored %s (sha256 %s, checked in the pod) into %s; backup of the old data: %s, sha256 %s",
		humanBytes(src.Size), short(src.SHA256), x.Step.Cluster, humanBytes(backup.Size), short(backup.SHA256))
	if res.IgnoredErrors > 0 {
		out.Summary += fmt.Sprintf("; pg_restore ignored %d error(s): see details, then check the verify step", res.IgnoredErrors)
		out.Details = strings.Join(res.Messages, "\n")
	}
	return out, nil
}

func (c *ClusterSteps) verify(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	origin, err := c.postgres(ctx, x.Run.Origin)
	if err != nil {
		return engine.Output{}, err
	}
	dest, err := c.postgres(ctx, x.Run.Destination)
	if err != nil {
		return engine.Output{}, err
	}
	a, err := pg.Fingerprints(ctx, origin, c.db)
	if err != nil {
		return engine.Output{}, fmt.Errorf("fingerprint %s: %w", x.Run.Origin, err)
	}
	b, err := pg.Fingerprints(ctx, dest, c.db)
	if err != nil {
		return engine.Output{}, fmt.Errorf("fingerprint %s: %w", x.Run.Destination, err)
	}
	diffs := pg.CompareFingerprints(a, b)
	var rows int64
	for _, f := range a {
		rows += f.Rows
	}
	out := engine.Output{Details: fingerprintTable(b)}
	if len(diffs) > 0 {
		var lines []string
		for _, d := range diffs {
			lines = append(lines, fmt.Sprint(d))
		}
		out.Details = strings.Join(lines, "\n") + "\n\n" + out.Details
		return out, fmt.Errorf("%d table(s) differ between %s and %s: %s", len(diffs), x.Run.Origin, x.Run.Destination, strings.Join(lines, "; "))
	}
	out.Summary = fmt.Sprintf("%d tables, %d rows: count(*) and md5 equal on %s and %s", len(a), rows, x.Run.Origin, x.Run.Destination)
	return out, nil
}

func fingerprintTable(fps []pg.Fingerprint) string {
	var b strings.Builder
	for _, f := range fps {
		fmt.Fprintf(&b, "%-40s %10d  %s\n", f.Table, f.Rows, f.MD5)
	}
	return b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

func dirOf(path string) string {
	i := strings.LastIndex(path, string(os.PathSeparator))
	if i <= 0 {
		return "."
	}
	return path[:i]
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
