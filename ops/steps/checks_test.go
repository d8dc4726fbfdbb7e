package steps_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
)

// checksRun runs a preflight made of the given checks, with overrides on the step.
func checksRun(t *testing.T, checks map[string]error, order []string, overrides ...engine.CheckOverride) (engine.Checks, engine.Output, error) {
	t.Helper()
	x := steps.New(&config.Config{})
	for _, name := range order {
		err := checks[name]
		x.AddCheck(name, func(context.Context, *engine.Run) (string, error) {
			if err != nil {
				return "", err
			}
			return "fine", nil
		})
	}
	s := plan.Step{ID: "preflight", Kind: plan.KindPreflight, Title: "Preflight checks", AutoRun: true}
	run := &engine.Run{ID: "r1", Origin: "prod2", Destination: "prod1",
		Steps: []engine.StepRun{{Step: s, State: engine.Running, Attempt: 2, Overrides: overrides}}}
	out, err := x.Execute(context.Background(), engine.StepContext{Run: run, Index: 0, Step: s, Attempt: 2, ProgressReport: func(engine.Reported) {}})
	res, derr := engine.Decode[engine.Checks](out)
	require.NoError(t, derr, "preflight records one line per check")
	return res, out, err
}

func TestPreflightReportsEachCheck(t *testing.T) {
	dnsWrong := errors.New("1.1.1.1 answers kubernetes-lb-prod-sn10.nycmesh.net, not the origin")
	deploying := errors.New("a publish-and-deploy.yaml run is in progress")
	order := []string{"clusters reachable", "meshweb image digests equal", "DNS points at the origin", "no MeshDB deploy in progress"}
	accepted := engine.CheckOverride{Check: "dns-points-at-the-origin", Accepted: true,
		Votes: []engine.OverrideVote{{User: "U02BOB", Reason: "9.9.9.9 caches the old answer", Attempt: 1}}}
	for _, tc := range []struct {
		name      string
		checks    map[string]error
		overrides []engine.CheckOverride
		outcomes  []engine.CheckOutcome
		blocks    []string
	}{
		{name: "all pass", checks: map[string]error{},
			outcomes: []engine.CheckOutcome{engine.CheckPassed, engine.CheckPassed, engine.CheckPassed, engine.CheckPassed}},
		{name: "a warning does not block", checks: map[string]error{"meshweb image digests equal": steps.Warning("prod2 runs a, prod1 runs b")},
			outcomes: []engine.CheckOutcome{engine.CheckPassed, engine.CheckWarned, engine.CheckPassed, engine.CheckPassed}},
		{name: "each failure blocks", checks: map[string]error{"DNS points at the origin": dnsWrong, "no MeshDB deploy in progress": deploying},
			outcomes: []engine.CheckOutcome{engine.CheckPassed, engine.CheckPassed, engine.CheckFailed, engine.CheckFailed},
			blocks:   []string{"dns-points-at-the-origin", "no-meshdb-deploy-in-progress"}},
		{name: "an overridden check shows and the others are enforced", checks: map[string]error{"DNS points at the origin": dnsWrong, "no MeshDB deploy in progress": deploying},
			overrides: []engine.CheckOverride{accepted},
			outcomes:  []engine.CheckOutcome{engine.CheckPassed, engine.CheckPassed, engine.CheckOverridden, engine.CheckFailed},
			blocks:    []string{"no-meshdb-deploy-in-progress"}},
		{name: "an override alone does not block or pass", checks: map[string]error{"DNS points at the origin": dnsWrong},
			overrides: []engine.CheckOverride{accepted},
			outcomes:  []engine.CheckOutcome{engine.CheckPassed, engine.CheckPassed, engine.CheckOverridden, engine.CheckPassed}},
		{name: "votes short of the count do not override", checks: map[string]error{"DNS points at the origin": dnsWrong},
			overrides: []engine.CheckOverride{{Check: "dns-points-at-the-origin", Votes: accepted.Votes}},
			outcomes:  []engine.CheckOutcome{engine.CheckPassed, engine.CheckPassed, engine.CheckFailed, engine.CheckPassed},
			blocks:    []string{"dns-points-at-the-origin"}},
		{name: "an overridden check that passes again is a pass", checks: map[string]error{},
			overrides: []engine.CheckOverride{accepted},
			outcomes:  []engine.CheckOutcome{engine.CheckPassed, engine.CheckPassed, engine.CheckPassed, engine.CheckPassed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, out, err := checksRun(t, tc.checks, order, tc.overrides...)
			require.Len(t, res.Checks, len(order))
			var got []engine.CheckOutcome
			for i, l := range res.Checks {
				got = append(got, l.Outcome)
				assert.Equal(t, order[i], l.Name)
				assert.Equal(t, steps.CheckID(order[i]), l.ID)
				assert.Equal(t, l.Outcome == engine.CheckOverridden, l.Override != nil, "only an overridden line names its override")
			}
			assert.Equal(t, tc.outcomes, got)
			var blocked []string
			for _, l := range res.Failed() {
				blocked = append(blocked, l.ID)
			}
			assert.Equal(t, tc.blocks, blocked)
			if len(tc.blocks) == 0 {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				var f *report.Failed
				require.ErrorAs(t, err, &f)
				assert.Equal(t, report.PreflightFailed{Checks: tc.blocks}, f.Facts, "the failure names the checks that block")
				words := handlers.ErrText(err.Error())
				assert.Contains(t, words, "override each failed check with a reason")
				assert.NotContains(t, words, "/cutover", "the transport names its commands (handlers' failure message)")
			}
			for _, l := range res.Checks {
				assert.Contains(t, handlers.DetailsText(out), l.Name+": ", "the details have a line per check")
			}
		})
	}

	res, out, err := checksRun(t, map[string]error{"DNS points at the origin": dnsWrong}, order, accepted)
	require.NoError(t, err)
	line, ok := res.Line("dns-points-at-the-origin")
	require.True(t, ok)
	assert.Equal(t, dnsWrong.Error(), line.Message, "an overridden check still says what it found")
	assert.Contains(t, handlers.DetailsText(out), "↷ DNS points at the origin: "+dnsWrong.Error()+" (overridden by U02BOB: 9.9.9.9 caches the old answer)")
	assert.Equal(t, report.Checks{Total: 4, Passed: 3, Overridden: 1}, reported[report.Checks](t, out))
}

func TestCheckIDs(t *testing.T) {
	for name, id := range map[string]string{
		"DNS points at the origin":           "dns-points-at-the-origin",
		"the merges' workflows":              "the-merges-workflows",
		"celery StatefulSet present":         "celery-statefulset-present",
		"destination runs the newest MeshDB": "destination-runs-the-newest-meshdb",
		"  odd -- spacing!":                  "odd-spacing",
	} {
		assert.Equal(t, id, steps.CheckID(name), name)
	}
}
