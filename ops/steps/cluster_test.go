package steps_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
	"github.com/nycmeshnet/cutoverbot/sandbox"
)

func TestClusterStepsMoveTheDatabaseThroughKubernetes(t *testing.T) {
	w := newWorld(t)

	out, err := w.step(t, "preflight")
	require.NoError(t, err, "preflight: %s", handlers.DetailsText(out))
	assert.Contains(t, handlers.DetailsText(out), "✓ meshweb image digests equal")

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
	assert.NotEmpty(t, on.MeshwebErr, "why the meshweb path failed")
	assert.Equal(t, report.Maintenance{On: true, Cluster: "prod2", Via: "sql", Pod: on.Pod, MeshwebErr: on.MeshwebErr}, on)
	assert.True(t, strings.HasPrefix(on.Pod, "meshdb-postgres"), on.Pod)
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
	require.NoError(t, err, handlers.DetailsText(out))
	assert.Contains(t, handlers.DetailsText(out), "⚠ meshweb image digests equal: prod2 runs ")
	assert.Equal(t, 1, reported[report.Checks](t, out).Warned)
	res := result[engine.Checks](t, out)
	line, ok := res.Line("meshweb-image-digests-equal")
	require.True(t, ok)
	assert.Equal(t, engine.CheckWarned, line.Outcome)
	require.NotNil(t, line.Report, "the advice is data")
	differ, err := report.Decode(line.Report.Kind, line.Report.Facts)
	require.NoError(t, err)
	assert.Equal(t, "docker.io/willnilges/meshdb@sha256:0000", differ.(report.CheckDigestsDiffer).DestinationDigest)
	assert.Equal(t, "prod2", differ.(report.CheckDigestsDiffer).Origin)
	assert.NotEmpty(t, differ.(report.CheckDigestsDiffer).OriginDigest)
	reachable, ok := res.Line("clusters-reachable")
	require.True(t, ok)
	assert.Equal(t, engine.ReportOf(report.CheckReachable{Clusters: []string{"prod2", "prod1"}}), reachable.Report, "what a check found is data")

	w.origin.SetMeshwebReady(false)
	out, err = w.step(t, "preflight")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pods-ready")
	assert.Contains(t, handlers.DetailsText(out), "✗ pods ready")
	assert.Contains(t, handlers.DetailsText(out), "prod2/meshdb", "the failing cluster and namespace are named")
	assert.Contains(t, handlers.DetailsText(out), "✓ clusters reachable")
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
