package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

// Each engine event moves what it should and nothing else: runs by outcome, decisions
// by action, step durations by kind and result; the events in between move nothing.
func TestObserveCountsRunsDecisionsAndSteps(t *testing.T) {
	m := New()
	scale := engine.StepRun{Step: plan.Step{ID: "scale-origin-celery", Kind: plan.KindScale}}
	dump := engine.StepRun{Step: plan.Step{ID: "dump-origin", Kind: plan.KindDump}}
	run := func(state engine.RunState, steps ...engine.StepRun) *engine.Run {
		return &engine.Run{State: state, Steps: steps}
	}
	decided := func(a engine.Action) engine.Event {
		return engine.Event{Kind: engine.EventDecided, Run: run(engine.Active, scale), Decision: &engine.Decision{Action: a}}
	}
	withState := func(s engine.StepRun, st engine.StepState) engine.StepRun { s.State = st; return s }

	for _, ev := range []engine.Event{
		{Kind: engine.EventStarted, Run: run(engine.Active, scale)},
		{Kind: engine.EventAwaiting, Run: run(engine.Active, scale)},
		{Kind: engine.EventReminder, Run: run(engine.Active, scale)},
		decided(engine.Approve), decided(engine.Approve), decided(engine.Reject),
		{Kind: engine.EventDecided, Run: run(engine.Active, scale)}, // no decision: nothing to count
		{Kind: engine.EventSucceeded, Run: run(engine.Active, withState(scale, engine.Succeeded)), Step: 0},
		{Kind: engine.EventFailed, Run: run(engine.Active, withState(scale, engine.Failed)), Step: 0},
		// An interrupted dump, and a dump that succeeded with no result it can read:
		// their durations count, their bytes do not.
		{Kind: engine.EventInterrupted, Run: run(engine.Active, withState(dump, engine.Interrupted)), Step: 0},
		{Kind: engine.EventSucceeded, Run: run(engine.Active, withState(dump, engine.Succeeded)), Step: 0},
		{Kind: engine.EventEnded, Run: run(engine.Completed)},
		{Kind: engine.EventEnded, Run: run(engine.Completed)},
		{Kind: engine.EventEnded, Run: run(engine.RolledBack)},
		{Kind: engine.EventEnded, Run: run(engine.Aborted)},
	} {
		m.Observe(ev)
	}

	for _, tc := range []struct {
		what string
		got  float64
		want float64
	}{
		{"completed runs", testutil.ToFloat64(m.Runs.WithLabelValues("completed")), 2},
		{"rolled back runs", testutil.ToFloat64(m.Runs.WithLabelValues("rolled_back")), 1},
		{"aborted runs", testutil.ToFloat64(m.Runs.WithLabelValues("aborted")), 1},
		{"approvals", testutil.ToFloat64(m.Decisions.WithLabelValues("approve")), 2},
		{"rejections", testutil.ToFloat64(m.Decisions.WithLabelValues("reject")), 1},
		{"bytes dumped", testutil.ToFloat64(m.Bytes.WithLabelValues("dumped")), 0},
	} {
		assert.Equal(t, tc.want, tc.got, tc.what)
	}
	assert.Equal(t, 2, testutil.CollectAndCount(m.Decisions), "two actions, no others")
	assert.Equal(t, 3, testutil.CollectAndCount(m.Runs), "three outcomes, no others")
	assert.Equal(t, 4, testutil.CollectAndCount(m.StepDuration), "scale succeeded, scale failed, dump interrupted, dump succeeded")
	for _, labels := range [][2]string{{"scale", "succeeded"}, {"scale", "failed"}, {"dump", "interrupted"}, {"dump", "succeeded"}} {
		assert.Equal(t, uint64(1), histogramCount(t, m, labels[0], labels[1]), "%s %s", labels[0], labels[1])
	}
}

func histogramCount(t *testing.T, m *Metrics, kind, result string) uint64 {
	t.Helper()
	var out dto.Metric
	h, err := m.StepDuration.GetMetricWithLabelValues(kind, result)
	require.NoError(t, err)
	require.NoError(t, h.(prometheus.Histogram).Write(&out))
	return out.GetHistogram().GetSampleCount()
}

// The registry holds every collector the bot reports, under the names the operations
// guide and dashboards use.
func TestRegistryNamesEveryMetric(t *testing.T) {
	m := New()
	m.Runs.WithLabelValues("completed").Inc()
	m.StepDuration.WithLabelValues("scale", "succeeded").Observe(1)
	m.Decisions.WithLabelValues("approve").Inc()
	m.Refusals.WithLabelValues("stale").Inc()
	m.APIErrors.WithLabelValues("slack", "chat.update").Inc()
	m.RateLimitWait.WithLabelValues("slack").Add(1)
	m.Bytes.WithLabelValues("dumped").Add(1)
	families, err := m.Registry.Gather()
	require.NoError(t, err)
	var names []string
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "cutoverbot_") {
			names = append(names, f.GetName())
		}
	}
	assert.ElementsMatch(t, []string{"cutoverbot_runs_total", "cutoverbot_step_duration_seconds", "cutoverbot_decisions_total",
		"cutoverbot_refusals_total", "cutoverbot_slack_ack_latency_seconds", "cutoverbot_api_errors_total",
		"cutoverbot_rate_limit_wait_seconds_total", "cutoverbot_database_bytes_total", "cutoverbot_leader",
		"cutoverbot_spool_bytes", "cutoverbot_spool_runs"}, names)
	assert.NotZero(t, testutil.CollectAndCount(m.Registry, "go_goroutines"), "the Go collector is registered")
}
