package steps_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
	"github.com/nycmeshnet/cutoverbot/sandbox"
)

// world is two simulated clusters reached through real client-go.
type world struct {
	cfg      *config.Config
	origin   *sandbox.Cluster // prod2
	dest     *sandbox.Cluster // prod1
	exec     *steps.Executor
	plan     plan.Plan
	run      *engine.Run
	progress []string
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
	steps.RegisterClusterSteps(w.exec, cfg, clusters)
	w.plan, err = plan.Build(cfg, "prod2", "prod1")
	require.NoError(t, err)
	w.run = &engine.Run{ID: "20261124-2000-test", Origin: "prod2", Destination: "prod1", State: engine.Active, Plan: w.plan}
	for _, s := range w.plan.Steps {
		w.run.Steps = append(w.run.Steps, engine.StepRun{Step: s, State: engine.Pending})
	}
	return w
}

// step runs the plan step with that ID the way the engine would, recording its output.
func (w *world) step(t *testing.T, id string) (engine.Output, error) {
	t.Helper()
	i := w.plan.Index(id)
	require.GreaterOrEqual(t, i, 0, id)
	return w.runStep(t, i, w.plan.Steps[i])
}

func (w *world) runStep(t *testing.T, i int, s plan.Step) (engine.Output, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := w.exec.Execute(ctx, engine.StepContext{Run: w.run.Clone(), Index: i, Step: s, Attempt: 1,
		Progress: func(m string) { w.progress = append(w.progress, m) }})
	state := engine.Succeeded
	if err != nil {
		state = engine.Failed
	}
	if i < len(w.run.Steps) {
		w.run.Steps[i].State, w.run.Steps[i].Output = state, out
	}
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
	assert.Equal(t, "1", out.Values[steps.ValPreviousReplicas])
	assert.Equal(t, int32(0), w.dest.Kube.SpecReplicas("statefulset", sandbox.Namespace, sandbox.CeleryStatefulSet))
	assert.NotEmpty(t, w.progress, "scaling reports progress while it waits")

	out, err = w.step(t, "maintenance-on-destination")
	require.NoError(t, err)
	assert.Contains(t, out.Summary, "MAINTENANCE_MODE is on in prod1 (via manage.py enable_flag")
	assert.Equal(t, "True", w.sql(t, w.dest, "SELECT value FROM flags_flagstate WHERE name='MAINTENANCE_MODE'"))

	// Meshweb pods restart while the flag is on: the origin's flag goes through SQL.
	w.origin.SetMeshwebReady(false)
	out, err = w.step(t, "maintenance-on-origin")
	require.NoError(t, err)
	assert.Contains(t, out.Summary, "via SQL in pod meshdb-postgres")
	assert.Contains(t, out.Details, "used the SQL fallback")
	assert.Equal(t, "True", w.sql(t, w.origin, "SELECT value FROM flags_flagstate WHERE name='MAINTENANCE_MODE'"))

	out, err = w.step(t, "dump-origin")
	require.NoError(t, err)
	dump := out.Values[steps.ValPath]
	raw, err := os.ReadFile(dump)
	require.NoError(t, err)
	assert.Equal(t, "PGDMP", string(raw[:5]))
	assert.Len(t, out.Values[steps.ValSHA256], 64)

	before := w.sql(t, w.dest, "SELECT count(*) FROM meshapi_install")
	out, err = w.step(t, "restore-destination")
	require.NoError(t, err)
	assert.Contains(t, out.Summary, "checked in the pod")
	backup, err := os.ReadFile(out.Values[steps.ValBackupPath])
	require.NoError(t, err)
	assert.Equal(t, "PGDMP", string(backup[:5]), "the destination was backed up first")
	assert.NotEqual(t, before, w.sql(t, w.dest, "SELECT count(*) FROM meshapi_install"))
	assert.Equal(t, w.sql(t, w.origin, "SELECT count(*) FROM meshapi_install"), w.sql(t, w.dest, "SELECT count(*) FROM meshapi_install"))
	_, err = os.Stat(plan.RemoteDumpPath(w.run.ID))
	assert.True(t, os.IsNotExist(err), "the copy in the pod is removed")

	out, err = w.step(t, "verify-database")
	require.NoError(t, err)
	assert.Contains(t, out.Summary, "count(*) and md5 equal on prod2 and prod1")

	// The dump carried the origin's flag (on); the destination comes out of maintenance.
	out, err = w.step(t, "maintenance-off-destination")
	require.NoError(t, err)
	assert.Contains(t, out.Summary, "MAINTENANCE_MODE is off in prod1")

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
	_, err := w.runStep(t, len(w.run.Steps), undo[0])
	require.NoError(t, err)
	assert.Equal(t, destInstalls, w.sql(t, w.dest, "SELECT count(*) FROM meshapi_install"), "the destination's own data is back")
}

func TestPreflightListsEveryClusterProblem(t *testing.T) {
	w := newWorld(t)
	w.dest.Kube.AddPod(sandbox.Namespace, "meshdb-meshweb-new", map[string]string{"app": "meshdb-meshweb-app"},
		map[string]string{sandbox.MeshwebContainer: "docker.io/willnilges/meshdb@sha256:0000"}, true, time.Now())
	w.origin.SetMeshwebReady(false)
	out, err := w.step(t, "preflight")
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
