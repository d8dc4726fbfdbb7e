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
