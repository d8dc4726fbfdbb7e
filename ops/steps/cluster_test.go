package steps_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
	"github.com/nycmeshnet/cutoverbot/sandbox"
)

// world is two simulated clusters reached through real client-go.
type world struct {
	cfg      *config.Config
	origin   *sandbox.Cluster // prod2
	dest     *sandbox.Cluster // prod1
	exec     *steps.Executor
	cluster  *steps.ClusterSteps
	plan     plan.Plan
	run      *engine.Run
	progress []string
	// progressAt is when each progress message came (the benchmark prints a timeline).
	progressAt []time.Time
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	origin, err := sandbox.NewCluster(ctx, "prod2", filepath.Join(dir, "prod2"), sandbox.Options{Installs: 2000, ScaleDelay: 100 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(origin.Close)
	dest, err := sandbox.NewCluster(ctx, "prod1", filepath.Join(dir, "prod1"), sandbox.Options{Installs: 300, ScaleDelay: 100 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(dest.Close)
	return worldFrom(t, dir, origin, dest)
}

var worldSeq atomic.Int64

// worldFrom connects an executor to two running clusters through real client-go.
func worldFrom(t *testing.T, dir string, origin, dest *sandbox.Cluster) *world {
	return worldFromConfig(t, dir, origin, dest, nil)
}

func worldFromConfig(t *testing.T, dir string, origin, dest *sandbox.Cluster, mutate func(*config.Config)) *world {
	t.Helper()
	_, cfg, err := sandbox.WriteConfig(dir, []*sandbox.Cluster{origin, dest}, mutate)
	require.NoError(t, err)

	clusters := map[string]steps.Cluster{}
	for _, name := range []string{"prod1", "prod2"} {
		cc := cfg.Clusters[name]
		c, err := kube.Connect(kube.Options{Name: name, Kubeconfig: cc.Kubeconfig, Context: cc.Context, Namespace: cc.Namespace})
		require.NoError(t, err)
		clusters[name] = c
	}
	w := &world{cfg: cfg, origin: origin, dest: dest, exec: steps.New(cfg)}
	w.cluster = steps.RegisterClusterSteps(w.exec, cfg, clusters)
	w.plan, err = plan.Build(cfg, "prod2", "prod1")
	require.NoError(t, err)
	// The sandbox's pods share the host's /tmp, where the restore stages its copy
	// (plan.RemoteDumpPath): a run ID of its own keeps worlds, and test processes
	// running at the same time, apart.
	id := fmt.Sprintf("20261124-2000-test-%d-%d", os.Getpid(), worldSeq.Add(1))
	w.run = &engine.Run{ID: id, Origin: "prod2", Destination: "prod1", State: engine.Active, Plan: w.plan}
	for _, s := range w.plan.Steps {
		w.run.Steps = append(w.run.Steps, engine.StepRun{Step: s, State: engine.Pending})
	}
	return w
}

// step runs the plan step with that ID the way the engine would, as an attempt that
// finds nothing recorded by an earlier one (a fresh run of it; the attempt number still
// grows, as the files a step keeps are named after it), recording its output.
func (w *world) step(t *testing.T, id string) (engine.Output, error) {
	t.Helper()
	i := w.plan.Index(id)
	require.GreaterOrEqual(t, i, 0, id)
	w.run.Steps[i].Output = engine.Output{}
	return w.runStep(t, i, w.plan.Steps[i])
}

// retry runs the step with that ID again as its next attempt, as Retry does: what the
// earlier attempt recorded stays in the run.
func (w *world) retry(t *testing.T, id string) (engine.Output, error) {
	t.Helper()
	i := w.plan.Index(id)
	require.GreaterOrEqual(t, i, 0, id)
	return w.runStep(t, i, w.plan.Steps[i])
}

// rollback runs a rollback step as the engine would after an abort: appended to the
// run once, then run again as its next attempt with nothing recorded.
func (w *world) rollback(t *testing.T, s plan.Step) (engine.Output, error) {
	t.Helper()
	for i := range w.run.Steps {
		if w.run.Steps[i].Rollback && w.run.Steps[i].Step.ID == s.ID {
			w.run.Steps[i].Output = engine.Output{}
			return w.runStep(t, i, s)
		}
	}
	return w.runStep(t, len(w.run.Steps), s)
}

func (w *world) runStep(t *testing.T, i int, s plan.Step) (engine.Output, error) {
	return w.runStepCtx(t, context.Background(), i, s)
}

func (w *world) runStepCtx(t *testing.T, ctx context.Context, i int, s plan.Step) (engine.Output, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for len(w.run.Steps) <= i { // a rollback step appended to the run
		w.run.Steps = append(w.run.Steps, engine.StepRun{Step: s, State: engine.Pending, Rollback: true})
	}
	w.run.Steps[i].Attempt++
	w.run.Steps[i].State = engine.Running
	out, err := w.exec.Execute(ctx, engine.StepContext{Run: w.run.Clone(), Index: i, Step: s, Attempt: w.run.Steps[i].Attempt,
		Progress: func(m string) { w.progress, w.progressAt = append(w.progress, m), append(w.progressAt, time.Now()) },
		ProgressReport: func(v engine.Reported) {
			r := engine.ReportOf(v)
			w.progress, w.progressAt = append(w.progress, r.Kind+" "+string(r.Facts)), append(w.progressAt, time.Now())
		},
		Record: func(v any) error {
			w.run.Steps[i].Output = engine.Output{}.WithResult(v)
			return nil
		},
		OnlyWaiting: func() {}})
	state := engine.Succeeded
	if err != nil {
		state = engine.Failed
	}
	w.run.Steps[i].State, w.run.Steps[i].Output = state, out
	return out, err
}

func (w *world) sql(t *testing.T, c *sandbox.Cluster, q string) string {
	t.Helper()
	out, err := c.PG.SQL(context.Background(), sandbox.DBName, q)
	require.NoError(t, err)
	return strings.TrimSpace(out)
}

func TestClusterStepsMoveTheDatabaseThroughKubernetes(t *testing.T) {
	w := newWorld(t)

	out, err := w.step(t, "preflight")
	require.NoError(t, err, "preflight: %s", out.Details)
	assert.Contains(t, out.Details, "✓ meshweb image digests equal")

	out, err = w.step(t, "scale-destination-celery")
	require.NoError(t, err)
	assert.Equal(t, int32(1), result[steps.ScaleResult](t, out).Previous)
	assert.Equal(t, int32(0), w.dest.Kube.SpecReplicas("statefulset", sandbox.Namespace, sandbox.CeleryStatefulSet))
	assert.NotEmpty(t, w.progress, "scaling reports progress while it waits")
	assert.Contains(t, w.progress, `scaling {"cluster":"prod1","namespace":"`+sandbox.Namespace+`","workload":"statefulset","name":"`+sandbox.CeleryStatefulSet+`","from":1,"to":0,"status":0}`,
		"the wait ends at the count it set: %q", w.progress)

	out, err = w.step(t, "maintenance-on-destination")
	require.NoError(t, err)
	on := reported[report.Maintenance](t, out)
	assert.Equal(t, report.Maintenance{On: true, Cluster: "prod1", Via: "manage.py", Verb: "enable_flag", Pod: on.Pod}, on)
	assert.True(t, strings.HasPrefix(on.Pod, "meshdb-meshweb"), on.Pod)
	assert.Equal(t, "True", w.sql(t, w.dest, "SELECT value FROM flags_flagstate WHERE name='MAINTENANCE_MODE'"))

	// Meshweb pods restart while the flag is on: the origin's flag goes through SQL.
	w.origin.SetMeshwebReady(false)
	out, err = w.step(t, "maintenance-on-origin")
	require.NoError(t, err)
	on = reported[report.Maintenance](t, out)
	assert.Equal(t, report.Maintenance{On: true, Cluster: "prod2", Via: "sql", Pod: on.Pod}, on)
	assert.True(t, strings.HasPrefix(on.Pod, "meshdb-postgres"), on.Pod)
	assert.Contains(t, out.Details, "used the SQL fallback")
	assert.Equal(t, "True", w.sql(t, w.origin, "SELECT value FROM flags_flagstate WHERE name='MAINTENANCE_MODE'"))

	out, err = w.step(t, "dump-origin")
	require.NoError(t, err)
	dump := result[steps.DumpResult](t, out).Spool.Path
	raw, err := os.ReadFile(dump)
	require.NoError(t, err)
	assert.Equal(t, "PGDMP", string(raw[:5]))
	assert.Len(t, result[steps.DumpResult](t, out).Spool.SHA256, 64)

	before := w.sql(t, w.dest, "SELECT count(*) FROM meshapi_install")
	out, err = w.step(t, "restore-destination")
	require.NoError(t, err)
	assert.Equal(t, result[steps.RestoreResult](t, out).Restored.SHA256, reported[report.Restore](t, out).SHA256, "the restore reports the file it checked in the pod")
	backup, err := os.ReadFile(result[steps.RestoreResult](t, out).Backup.File.Path)
	require.NoError(t, err)
	assert.Equal(t, "PGDMP", string(backup[:5]), "the destination was backed up first")
	assert.NotEqual(t, before, w.sql(t, w.dest, "SELECT count(*) FROM meshapi_install"))
	assert.Equal(t, w.sql(t, w.origin, "SELECT count(*) FROM meshapi_install"), w.sql(t, w.dest, "SELECT count(*) FROM meshapi_install"))
	_, err = os.Stat(plan.RemoteDumpPath(w.run.ID))
	assert.True(t, os.IsNotExist(err), "the copy in the pod is removed")

	out, err = w.step(t, "verify-database")
	require.NoError(t, err)
	verified := reported[report.Verify](t, out)
	assert.Equal(t, report.Verify{Tables: verified.Tables, Rows: verified.Rows, Origin: "prod2", Destination: "prod1"}, verified)
	assert.Positive(t, verified.Tables)
	assert.Positive(t, verified.Rows)

	// The dump carried the origin's flag (on); the destination comes out of maintenance.
	out, err = w.step(t, "maintenance-off-destination")
	require.NoError(t, err)
	off := reported[report.Maintenance](t, out)
	assert.False(t, off.On)
	assert.Equal(t, "prod1", off.Cluster)

	out, err = w.step(t, "restore-destination-celery")
	require.NoError(t, err)
	assert.Equal(t, int32(1), w.dest.Kube.SpecReplicas("statefulset", sandbox.Namespace, sandbox.CeleryStatefulSet))

	// One changed row on the destination is caught, and the table is named.
	w.sql(t, w.dest, "UPDATE meshapi_install SET notes = 'changed' WHERE install_number = (SELECT min(install_number) FROM meshapi_install)")
	_, err = w.step(t, "verify-database")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "meshapi_install")
}

func TestRollbackRestoresTheDestinationFromItsBackup(t *testing.T) {
	w := newWorld(t)
	destInstalls := w.sql(t, w.dest, "SELECT count(*) FROM meshapi_install")
	for _, id := range []string{"dump-origin", "restore-destination"} {
		_, err := w.step(t, id)
		require.NoError(t, err, id)
	}
	require.NotEqual(t, destInstalls, w.sql(t, w.dest, "SELECT count(*) FROM meshapi_install"))
	undo := plan.Rollback(w.plan, map[string]plan.Ran{"dump-origin": plan.Done, "restore-destination": plan.Done})
	require.Len(t, undo, 1)
	_, err := w.rollback(t, undo[0])
	require.NoError(t, err)
	assert.Equal(t, destInstalls, w.sql(t, w.dest, "SELECT count(*) FROM meshapi_install"), "the destination's own data is back")
}

func TestPreflightListsEveryClusterProblem(t *testing.T) {
	w := newWorld(t)
	w.dest.Kube.AddPod(sandbox.Namespace, "meshdb-meshweb-new", map[string]string{"app": "meshdb-meshweb-app"},
		map[string]string{sandbox.MeshwebContainer: "docker.io/willnilges/meshdb@sha256:0000"}, true, time.Now())
	// Different images are advice: the destination's is checked against the branch head.
	out, err := w.step(t, "preflight")
	require.NoError(t, err, out.Details)
	assert.Contains(t, out.Details, "⚠ meshweb image digests equal: prod2 runs ")
	assert.Contains(t, out.Details, "but prod1 runs docker.io/willnilges/meshdb@sha256:0000")
	assert.Equal(t, 1, reported[report.Checks](t, out).Warned)
	res := result[engine.Checks](t, out)
	line, ok := res.Line("meshweb-image-digests-equal")
	require.True(t, ok)
	assert.Equal(t, engine.CheckWarned, line.Outcome)

	w.origin.SetMeshwebReady(false)
	out, err = w.step(t, "preflight")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pods ready")
	assert.Contains(t, out.Details, "✗ pods ready")
	assert.Contains(t, out.Details, "prod2/meshdb", "the failing cluster and namespace are named")
	assert.Contains(t, out.Details, "✓ clusters reachable")
}

func TestExecFailureNamesTheCommandAndPod(t *testing.T) {
	w := newWorld(t)
	s := plan.Step{ID: "x", Kind: plan.KindExec, Role: plan.Destination, Cluster: "prod1",
		Exec: &plan.Exec{Target: "postgres", Argv: []string{"psql", "-d", "meshdb", "-U", "meshdb", "-c", "SELECT * FROM no_such_table"}}}
	_, err := w.runStep(t, len(w.run.Steps), s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no_such_table")
	assert.Contains(t, err.Error(), "prod1")
}

// quiet leaves autovacuum nothing to analyze in c's database: the state the restore
// step compares moves with any transaction, autovacuum's ANALYZE included.
func (w *world) quiet(t *testing.T, c *sandbox.Cluster) {
	t.Helper()
	w.sql(t, c, "ANALYZE")
	w.sql(t, c, "VACUUM")
}

// recordPod records the commands run in c's postgres pod; fail, when set, fails those
// it returns an error for (as if the pod died under them).
func recordPod(c *sandbox.Cluster, fail func(argv []string) error) func() []string {
	var mu sync.Mutex
	var cmds []string
	c.SetExecHook(func(ctx context.Context, container string, argv []string) error {
		if container != sandbox.PostgresContainer {
			return nil
		}
		mu.Lock()
		cmds = append(cmds, strings.Join(argv, " "))
		mu.Unlock()
		if fail != nil {
			return fail(argv)
		}
		return nil
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), cmds...)
	}
}

func countPrefix(cmds []string, prefix string) int {
	n := 0
	for _, c := range cmds {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	return hex.EncodeToString(h.Sum(nil))
}

func (w *world) fingerprints(t *testing.T, c *sandbox.Cluster) []pg.Fingerprint {
	t.Helper()
	fps, err := pg.Fingerprints(context.Background(), c.Execer(), pg.DB{Name: sandbox.DBName, User: sandbox.DBUser})
	require.NoError(t, err)
	return fps
}

// undoRestore runs the rollback's restore of the destination from its backup.
func (w *world) undoRestore(t *testing.T) {
	t.Helper()
	undo := plan.Rollback(w.plan, map[string]plan.Ran{"dump-origin": plan.Done, "restore-destination": plan.Done})
	require.Len(t, undo, 1)
	out, err := w.rollback(t, undo[0])
	require.NoError(t, err, said(out))
}

const destPod = "meshdb-postgres-5c6b7-klmno"

// result reads a step's typed result.
func result[T any](t *testing.T, out engine.Output) T {
	t.Helper()
	v, err := engine.Decode[T](out)
	require.NoError(t, err)
	return v
}

// said is what a step reported, for a failure's message.
func said(out engine.Output) string {
	if out.Report == nil {
		return out.Summary
	}
	return out.Report.Kind + " " + string(out.Report.Facts)
}

// reported returns the facts a step reported, of the type T its kind must have.
func reported[T report.Facts](t *testing.T, out engine.Output) T {
	t.Helper()
	var want T
	require.NotNil(t, out.Report, "the step reports what it did")
	require.Equal(t, want.ReportKind(), out.Report.Kind)
	f, err := report.Decode(out.Report.Kind, out.Report.Facts)
	require.NoError(t, err)
	return f.(T)
}

// setCopyPod rewrites the dump step's record of the pod its copy went to.
func (w *world) setCopyPod(t *testing.T, pod string) {
	t.Helper()
	i := w.plan.Index("dump-origin")
	d := result[steps.DumpResult](t, w.run.Steps[i].Output)
	require.NotNil(t, d.Copy)
	d.Copy.Pod = pod
	w.run.Steps[i].Output = w.run.Steps[i].Output.WithResult(d)
}

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
		assert.Contains(t, out.Details, "rm -f "+remote, "how to remove the copy if the run stops")
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
			assert.Contains(t, notes[0].Err, "sha256 mismatch")
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
		_, err := w.step(t, "dump-origin")
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
		_, err = w.step(t, "restore-destination")
		w.dest.SetExecHook(nil)
		require.ErrorIs(t, err, pg.ErrChecksum)
		assert.Contains(t, err.Error(), "nothing was restored")
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
	assert.Contains(t, uout.Details, "pod meshdb-postgres-gone (where the dump step copied it)")
	assert.Contains(t, uout.Details, "took its /tmp with it")

	// Running it again finds nothing to remove and succeeds (rm -f).
	_, err = w.rollback(t, undo)
	require.NoError(t, err)
}

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

// The replica count before the run is recorded on the workload too: a bot that lost
// the run's record still scales celery back to it, and a count recorded by another run
// is not taken for this run's.
func TestScaleRecordsTheCountOnTheWorkload(t *testing.T) {
	w := newWorld(t)
	out, err := w.step(t, "scale-destination-celery")
	require.NoError(t, err)
	scaled := reported[report.Scale](t, out)
	assert.Equal(t, report.Scale{Workload: "statefulset", Name: sandbox.CeleryStatefulSet, Cluster: "prod1", From: 1, To: 0, Before: 1, Source: report.CountRecorded}, scaled)
	ann, err := w.celeryAnnotation(t, "prod1")
	require.NoError(t, err)
	assert.Equal(t, w.run.ID+"=1", ann)

	// The run's record is lost (w.step starts from nothing recorded); the workload's
	// annotation still says 1, although the workload is at 0 now.
	out, err = w.step(t, "scale-destination-celery")
	require.NoError(t, err)
	scaled = reported[report.Scale](t, out)
	assert.Equal(t, report.Scale{Workload: "statefulset", Name: sandbox.CeleryStatefulSet, Cluster: "prod1", From: 0, To: 0, Before: 1,
		Source: report.CountAnnotation, Annotation: kube.ReplicasAnnotation}, scaled)
	out, err = w.step(t, "restore-destination-celery")
	require.NoError(t, err)
	assert.Equal(t, int32(1), w.dest.Kube.SpecReplicas("statefulset", sandbox.Namespace, sandbox.CeleryStatefulSet))

	// Another run's annotation is not this run's count.
	w.run.ID += "-next"
	_, err = w.step(t, "scale-destination-celery")
	require.NoError(t, err)
	ann, err = w.celeryAnnotation(t, "prod1")
	require.NoError(t, err)
	assert.Equal(t, w.run.ID+"=1", ann)
}

func (w *world) celeryAnnotation(t *testing.T, cluster string) (string, error) {
	t.Helper()
	cc := w.cfg.Clusters[cluster]
	c, err := kube.Connect(kube.Options{Name: cluster, Kubeconfig: cc.Kubeconfig, Context: cc.Context, Namespace: cc.Namespace})
	require.NoError(t, err)
	return c.Annotation(context.Background(), kube.StatefulSet, cc.CeleryStatefulSet, kube.ReplicasAnnotation)
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
