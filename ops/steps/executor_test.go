package steps_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
)

// A step of a kind this bot does not run fails as data naming the kind (a plan stored
// by a newer version), and nothing is run.
func TestAStepWithoutExecutorFailsAsData(t *testing.T) {
	x := steps.New(&config.Config{})
	s := plan.Step{ID: "teleport-db", Kind: plan.Kind("teleport"), Title: "Teleport the database"}
	run := &engine.Run{ID: "r1", Origin: "prod2", Destination: "prod1", Steps: []engine.StepRun{{Step: s, State: engine.Running, Attempt: 1}}}
	_, err := x.Execute(context.Background(), engine.StepContext{Run: run, Index: 0, Step: s, Attempt: 1, ProgressReport: func(engine.Reported) {}})
	var f *report.Failed
	require.True(t, errors.As(err, &f), "%v", err)
	assert.Equal(t, report.NoExecutor{Kind: "teleport"}, f.Facts)
}

// What the sweep stopped before a step ran is data: in the step's report when it has
// one, else beside the words of a step without a report (which stay as the step wrote them).
func TestWhatTheSweepStoppedIsData(t *testing.T) {
	left := []report.Stopped{{Cluster: "prod1", PID: "12", PidFile: "/tmp/cutoverbot-r1.prod1.restore-destination.1.restore.pid"}}
	x := steps.New(&config.Config{})
	steps.SetSweep(x, func(context.Context, engine.StepContext) ([]report.Stopped, error) { return left, nil })
	cases := map[string]struct {
		out  engine.Output
		want engine.Output
	}{
		"report": {engine.Output{}.WithReport(report.DNS{Name: "a", Want: "b", Resolvers: 1}),
			func() engine.Output {
				o := engine.Output{}.WithReport(report.DNS{Name: "a", Want: "b", Resolvers: 1})
				o.Report.Left = left
				return o
			}()},
		"words": {engine.Output{Summary: "/api/v1/nodes/: 1 changed"}, engine.Output{Summary: "/api/v1/nodes/: 1 changed", Left: left}},
		"none":  {engine.Output{}, engine.Output{Left: left}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			x.Register(plan.KindWaitDNS, func(context.Context, engine.StepContext) (engine.Output, error) { return tc.out, nil })
			s := plan.Step{ID: "wait-dns", Kind: plan.KindWaitDNS}
			run := &engine.Run{ID: "r1", Origin: "prod2", Destination: "prod1", Steps: []engine.StepRun{{Step: s, State: engine.Running, Attempt: 2}}}
			var progress []engine.Reported
			out, err := x.Execute(context.Background(), engine.StepContext{Run: run, Index: 0, Step: s, Attempt: 2,
				ProgressReport: func(r engine.Reported) { progress = append(progress, r) }})
			require.NoError(t, err)
			assert.Equal(t, tc.want, out)
			assert.Equal(t, []engine.Reported{report.StoppedLeftovers{Commands: left}}, progress)
		})
	}
}
