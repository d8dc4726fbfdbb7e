package steps

import (
	"bytes"
	"context"
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
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Cluster is what the steps need of one Kubernetes cluster (*kube.Cluster).
type Cluster interface {
	Name() string
	Namespace() string
	Ping(ctx context.Context) error
	FindPod(ctx context.Context, selector, container string) (kube.Pod, error)
	Exec(ctx context.Context, pod, container string, argv []string, stdin io.Reader, stdout, stderr io.Writer) error
	ExecShown(ctx context.Context, pod, container string, argv, shown []string, stdin io.Reader, stdout, stderr io.Writer) error
	Scale(ctx context.Context, kind kube.Workload, name string, replicas int32, wait time.Duration, progress func(kube.ScaleProgress)) (int32, error)
	WorkloadExists(ctx context.Context, kind kube.Workload, name string) error
	Replicas(ctx context.Context, kind kube.Workload, name string) (spec, status int32, err error)
	Annotation(ctx context.Context, kind kube.Workload, name, key string) (string, error)
	Annotate(ctx context.Context, kind kube.Workload, name, key, value string) error
	ImageDigest(ctx context.Context, selector, container string) (string, error)
}

// ScaleWait bounds how long a scale step waits for status.replicas.
const ScaleWait = 5 * time.Minute

// ClusterSteps runs the steps that act inside the clusters.
type ClusterSteps struct {
	cfg      *config.Config
	clusters map[string]Cluster
	db       pg.DB
}

// RegisterClusterSteps wires the cluster-side kinds and preflight checks into e.
func RegisterClusterSteps(e *Executor, cfg *config.Config, clusters map[string]Cluster) *ClusterSteps {
	c := &ClusterSteps{cfg: cfg, clusters: clusters, db: cfg.Database.PG()}
	e.sweep, e.stopOwn = c.stopLeftovers, c.stopOwn
	e.Register(plan.KindScale, c.scale)
	e.Register(plan.KindMaintenance, c.maintenance)
	e.Register(plan.KindExec, c.exec)
	e.Register(plan.KindDump, c.dump)
	e.Register(plan.KindRestore, c.restore)
	e.Register(plan.KindVerify, c.verify)
	e.AddReportingCheck("clusters reachable", c.checkReachable)
	e.AddReportingCheck("pods ready", c.checkPods)
	e.AddReportingCheck("celery StatefulSet present", c.checkCelery)
	e.AddReportingCheck("meshweb image digests equal", c.checkDigests)
	return c
}

func (c *ClusterSteps) cluster(name string) (Cluster, error) {
	cl, ok := c.clusters[name]
	if !ok {
		return nil, report.Fail(report.NoCluster{Cluster: name}, nil)
	}
	return cl, nil
}

// podExec binds a cluster, pod and container into a pg.Execer. With a tag, the long
// commands it runs can be found and stopped after the bot is gone (pg.Tracker).
type podExec struct {
	cl        Cluster
	pod       string
	container string
	tag       pg.Tag
}

func (p podExec) Exec(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	shown := argv
	if inner, _, _, ok := pg.Untracked(argv); ok {
		shown = inner // errors name the command, not its wrapper
	}
	return p.cl.ExecShown(ctx, p.pod, p.container, argv, shown, stdin, stdout, stderr)
}

// Track implements pg.Tracker.
func (p podExec) Track(argv []string, name string) []string {
	if p.tag.IsZero() {
		return argv
	}
	return pg.Tracked(argv, p.tag, pidFile(p.tag, p.cl.Name(), name))
}

// postgres finds the postgres pod of cluster name; the commands run through it carry
// the tag of x's attempt.
func (c *ClusterSteps) postgres(ctx context.Context, name string, x engine.StepContext) (podExec, error) {
	cl, err := c.cluster(name)
	if err != nil {
		return podExec{}, err
	}
	pc := c.cfg.Clusters[name].Postgres
	pod, err := cl.FindPod(ctx, pc.Selector, pc.Container)
	if err != nil {
		return podExec{}, err
	}
	return podExec{cl, pod.Name, pc.Container, tagOf(x)}, nil
}

func (c *ClusterSteps) scale(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	s := x.Step.Scale
	cl, err := c.cluster(x.Step.Cluster)
	if err != nil {
		return engine.Output{}, err
	}
	kind := kube.Workload(s.Workload)
	if s.Replicas == nil {
		return c.restoreScale(ctx, x, cl)
	}
	target := *s.Replicas
	// The count to come back to is the one before the run first scaled the workload:
	// an earlier attempt's record (it may have scaled already), else the workload's
	// annotation for this run (a bot that lost its state), else the count now, which
	// is recorded in the run and on the workload before anything changes.
	res, rep := ScaleResult{}, report.Scale{Workload: s.Workload, Name: s.Name, Cluster: x.Step.Cluster, To: target}
	if prev, err := engine.Decode[ScaleResult](x.Run.Steps[x.Index].Output); err == nil && x.Attempt > 1 {
		res.Previous, rep.Source = prev.Previous, report.CountEarlierAttempt
	} else if n, ok := c.annotatedReplicas(ctx, cl, kind, s.Name, x.Run.ID); ok {
		res.Previous, rep.Source, rep.Annotation = n, report.CountAnnotation, kube.ReplicasAnnotation
	} else {
		spec, _, err := cl.Replicas(ctx, kind, s.Name)
		if err != nil {
			return engine.Output{}, err
		}
		if err := cl.Annotate(ctx, kind, s.Name, kube.ReplicasAnnotation, fmt.Sprintf("%s=%d", x.Run.ID, spec)); err != nil {
			return engine.Output{}, report.Fail(report.RecordCount{Name: s.Name}, err)
		}
		res.Previous, rep.Source = spec, report.CountRecorded
	}
	if err := x.Record(res); err != nil {
		return engine.Output{}, report.Fail(report.RecordCount{Name: s.Name, InRun: true}, err)
	}
	found, err := cl.Scale(ctx, kind, s.Name, target, ScaleWait, scaling(x, cl, kind, s.Name))
	out := engine.Output{}.WithResult(res)
	if err != nil {
		return out, err
	}
	rep.From, rep.Before = found, res.Previous
	return out.WithReport(rep), nil
}

// restoreScale scales a workload back to the count another step recorded.
func (c *ClusterSteps) restoreScale(ctx context.Context, x engine.StepContext, cl Cluster) (engine.Output, error) {
	s := x.Step.Scale
	kind := kube.Workload(s.Workload)
	rec, _, err := engine.ResultOf[ScaleResult](x.Run, s.RestoreFrom)
	rep := report.ScaleBack{Workload: s.Workload, Name: s.Name, Cluster: x.Step.Cluster, Source: report.CountStep, Step: s.RestoreFrom}
	switch {
	case errors.Is(err, engine.ErrNoResult):
		n, ok := c.annotatedReplicas(ctx, cl, kind, s.Name, x.Run.ID)
		if !ok {
			return engine.Output{}, report.Fail(report.NoCount{Step: s.RestoreFrom, Name: s.Name}, nil)
		}
		rec.Previous, rep.Source, rep.Step, rep.Annotation = n, report.CountAnnotation, "", kube.ReplicasAnnotation
	case err != nil:
		return engine.Output{}, report.Fail(report.StepResult{Step: s.RestoreFrom}, err)
	}
	found, err := cl.Scale(ctx, kind, s.Name, rec.Previous, ScaleWait, scaling(x, cl, kind, s.Name))
	out := engine.Output{}.WithResult(ScaleResult{Previous: found})
	if err != nil {
		return out, err
	}
	rep.From, rep.To = found, rec.Previous
	return out.WithReport(rep), nil
}

// annotatedReplicas reads the count the workload's annotation recorded for run runID.
func (c *ClusterSteps) annotatedReplicas(ctx context.Context, cl Cluster, kind kube.Workload, name, runID string) (int32, bool) {
	v, err := cl.Annotation(ctx, kind, name, kube.ReplicasAnnotation)
	if err != nil {
		return 0, false
	}
	run, n, ok := strings.Cut(v, "=")
	if !ok || run != runID {
		return 0, false
	}
	count, err := strconv.ParseInt(n, 10, 32)
	if err != nil || count < 0 {
		return 0, false
	}
	return int32(count), true
}

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
	var rep report.Maintenance
	pod, err := cl.FindPod(ctx, cc.Meshweb.Selector, cc.Meshweb.Container)
	if err == nil {
		argv := append(append([]string(nil), cc.Meshweb.Manage...), verb, "MAINTENANCE_MODE")
		var stdout, stderr bytes.Buffer
		err = cl.Exec(ctx, pod.Name, cc.Meshweb.Container, argv, nil, &stdout, &stderr)
		want := "Successfully " + word + " MAINTENANCE_MODE"
		if err == nil && !strings.Contains(stdout.String(), want) {
			err = report.Fail(report.ManageOutput{Stdout: strings.TrimSpace(tail(stdout.String(), 300)), Want: want}, nil)
		}
		if err == nil {
			rep = report.Maintenance{Via: "manage.py", Verb: verb, Pod: pod.Name}
		}
	}
	pgx, perr := c.postgres(ctx, name, x)
	if perr != nil {
		return engine.Output{}, report.Fail(report.MaintenanceNoPostgres{On: on}, perr)
	}
	if rep.Via == "" {
		meshwebErr := err.Error()
		x.ProgressReport(report.SQLFallback{})
		if err := pg.SetMaintenanceSQL(ctx, pgx, c.db, on); err != nil {
			return engine.Output{}, report.Fail(report.MaintenanceSQL{On: on, Cluster: name}, err)
		}
		rep = report.Maintenance{Via: "sql", Pod: pgx.pod, MeshwebErr: meshwebErr}
	}
	state, err := pg.MaintenanceState(ctx, pgx, c.db)
	if err != nil {
		return engine.Output{}, report.Fail(report.MaintenanceUnread{Cluster: name}, err)
	}
	out := engine.Output{}.WithResult(MaintenanceResult{On: state})
	if state != on {
		return out, report.Fail(report.MaintenanceReads{Reads: state, Set: on, Cluster: name}, nil)
	}
	rep.On, rep.Cluster = state, name
	return out.WithReport(rep), nil
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
	return out.WithReport(report.Exec{Argv: x.Step.Exec.Argv, Cluster: x.Step.Cluster, Pod: pod.Name}), nil
}

func (c *ClusterSteps) verify(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	origin, err := c.postgres(ctx, x.Run.Origin, x)
	if err != nil {
		return engine.Output{}, err
	}
	dest, err := c.postgres(ctx, x.Run.Destination, x)
	if err != nil {
		return engine.Output{}, err
	}
	a, err := pg.Fingerprints(ctx, origin, c.db)
	if err != nil {
		return engine.Output{}, report.Fail(report.Fingerprint{Cluster: x.Run.Origin}, err)
	}
	b, err := pg.Fingerprints(ctx, dest, c.db)
	if err != nil {
		return engine.Output{}, report.Fail(report.Fingerprint{Cluster: x.Run.Destination}, err)
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
		return out, report.Fail(report.TablesDiffer{Origin: x.Run.Origin, Destination: x.Run.Destination, Diffs: lines}, nil)
	}
	return out.WithReport(report.Verify{Tables: len(a), Rows: rows, Origin: x.Run.Origin, Destination: x.Run.Destination}), nil
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

// HumanBytes renders a size for people: KiB, MiB, GiB.
func HumanBytes(n int64) string { return report.HumanBytes(n) }

// scaling reports a scale's progress as data.
func scaling(x engine.StepContext, cl Cluster, kind kube.Workload, name string) func(kube.ScaleProgress) {
	return func(p kube.ScaleProgress) {
		x.ProgressReport(report.Scaling{Cluster: cl.Name(), Namespace: cl.Namespace(), Workload: string(kind), Name: name, From: p.Previous, To: p.Want, Status: p.Status})
	}
}
