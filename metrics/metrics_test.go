package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
)

// The bytes counters read the dump and restore steps' typed results.
func TestBytesDumpedAndRestoredMove(t *testing.T) {
	m := New()
	run := &engine.Run{Steps: []engine.StepRun{
		{Step: plan.Step{ID: "dump-origin", Kind: plan.KindDump}, State: engine.Succeeded,
			Output: engine.Output{}.WithResult(steps.DumpResult{Spool: pg.DumpResult{Size: 1000}})},
		{Step: plan.Step{ID: "restore-destination", Kind: plan.KindRestore}, State: engine.Succeeded,
			Output: engine.Output{}.WithResult(steps.RestoreResult{Restored: pg.DumpResult{Size: 1200}})},
		{Step: plan.Step{ID: "restore-failed", Kind: plan.KindRestore}, State: engine.Failed,
			Output: engine.Output{}.WithResult(steps.RestoreResult{Restored: pg.DumpResult{Size: 5000}})},
	}}
	for i := range run.Steps {
		kind := engine.EventSucceeded
		if run.Steps[i].State == engine.Failed {
			kind = engine.EventFailed
		}
		m.Observe(engine.Event{Kind: kind, Run: run, Step: i})
	}
	assert.Equal(t, 1000.0, testutil.ToFloat64(m.Bytes.WithLabelValues("dumped")))
	assert.Equal(t, 1200.0, testutil.ToFloat64(m.Bytes.WithLabelValues("restored")), "a failed restore moved nothing that counts")
	assert.Equal(t, 3, testutil.CollectAndCount(m.StepDuration))
}
