package steps

import (
	"context"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// SetSweep stands in for the cluster steps' sweep of leftovers, for tests of the executor.
func SetSweep(e *Executor, sweep func(ctx context.Context, x engine.StepContext) ([]report.Stopped, error)) {
	e.sweep = sweep
}
