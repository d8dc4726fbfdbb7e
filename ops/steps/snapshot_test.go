package steps_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/ops/snapshot/meshwebfake"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
)

// A post snapshot that differs from the prior one fails with the differences as data
// (report.SnapshotDiffers), which the transport words and lays out per endpoint.
func TestSnapshotDiffFailsWithTheDifferencesAsData(t *testing.T) {
	var nodes atomic.Value
	nodes.Store(`[{"id":1,"status":"Active"},{"id":2,"status":"Active"}]`)
	ca, err := meshwebfake.NewCA("test CA")
	require.NoError(t, err)
	mw, err := meshwebfake.Start(meshwebfake.Options{ServiceHost: "localhost", CA: ca, OtherNames: []string{"localhost"}, UniqueKeys: true,
		Data: func(_ context.Context, kind string) ([]byte, error) {
			if kind == "nodes" {
				return []byte(nodes.Load().(string)), nil
			}
			return []byte("[]"), nil
		},
		Maintenance: func(context.Context) (bool, error) { return false, nil }})
	require.NoError(t, err)
	t.Cleanup(mw.Close)
	require.NoError(t, mw.UseServiceCert())

	cfg, problems := config.Parse(cutoverbot.ExampleConfig, config.Options{Getenv: func(string) string { return "" }})
	require.Empty(t, problems.Criticals())
	_, port, _ := net.SplitHostPort(mw.Addr())
	cfg.Service.URL = "https://localhost:" + port
	cfg.Service.CAFile = filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(cfg.Service.CAFile, ca.PEM(), 0o600))
	cfg.Service.ReadyPollEvery = config.Duration{Duration: 10 * time.Millisecond}
	cfg.State.Dir = t.TempDir()
	for name, cc := range cfg.Clusters {
		cc.LBAddress = mw.Addr()
		cfg.Clusters[name] = cc
	}
	exec := steps.New(cfg)
	_, err = steps.RegisterTrafficSteps(exec, cfg, nil, steps.PRWords{}) // snapshots need no GitHub
	require.NoError(t, err)
	p, err := plan.Build(cfg, "prod2", "prod1")
	require.NoError(t, err)
	run := &engine.Run{ID: "20261207-1200-diff", Origin: "prod2", Destination: "prod1", Initiator: "U01ALICE", State: engine.Active, Plan: p}
	for _, st := range p.Steps {
		run.Steps = append(run.Steps, engine.StepRun{Step: st, State: engine.Pending})
	}
	post := -1
	for i, st := range p.Steps {
		if st.Kind == plan.KindSnapshot && st.Snapshot.DiffAgainst != "" {
			post = i
		}
	}
	require.GreaterOrEqual(t, post, 0, "the plan diffs a post snapshot")
	prior := p.Index(p.Steps[post].Snapshot.DiffAgainst)
	execute := func(i int) (engine.Output, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return exec.Execute(ctx, engine.StepContext{Run: run.Clone(), Index: i, Step: p.Steps[i], Attempt: 1,
			OnlyWaiting: func() {}, ProgressReport: func(engine.Reported) {}})
	}

	out, err := execute(prior)
	require.NoError(t, err)
	run.Steps[prior].State, run.Steps[prior].Output = engine.Succeeded, out
	nodes.Store(`[{"id":1,"status":"Inactive"},{"id":3,"status":"Active"}]`)
	out, err = execute(post)
	var f *report.Failed
	require.True(t, errors.As(err, &f), "%v", err)
	d, ok := f.Facts.(report.SnapshotDiffers)
	require.True(t, ok, "%T", f.Facts)
	require.NotEmpty(t, d.Endpoints)
	assert.Equal(t, report.DiffEndpoint{Name: "nodes", Before: 2, After: 2, Added: 1, Removed: 1, Changed: 1, Items: []report.DiffItem{
		{How: report.DiffChanged, Key: "1", Fields: []report.DiffField{{Field: "status", Old: `"Active"`, New: `"Inactive"`}}},
		{How: report.DiffAdded, Key: "3"}, {How: report.DiffRemoved, Key: "2"}}}, d.Endpoints[0])
	assert.Contains(t, out.Details, "== nodes: 2 before, 2 after", "the whole diff, for the file")
	assert.Nil(t, out.Report, "the failure says it all")
}
