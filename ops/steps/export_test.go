package steps

import (
	"context"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// SetSweep stands in for the cluster steps' sweep of leftovers, for tests of the executor.
func SetSweep(e *Executor, sweep func(ctx context.Context, x engine.StepContext) ([]string, error)) {
	e.sweep = sweep
}
