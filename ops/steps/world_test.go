package steps_test

// world_test.go: two simulated clusters and the executor, the harness the cluster,
// dump/restore and cleanup tests share.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
