package e2e

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/bot/slackfake"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// preflightOutcomes are the outcomes of the checks of preflight's newest attempt.
func (w *world) preflightOutcomes() map[string]engine.CheckOutcome {
	w.t.Helper()
	r := w.srv.Engine.Active()
	require.NotNil(w.t, r)
	res, err := engine.Decode[engine.Checks](r.Steps[0].Output)
	require.NoError(w.t, err)
	out := map[string]engine.CheckOutcome{}
	for _, l := range res.Checks {
		out[l.ID] = l.Outcome
	}
	return out
}

// Preflight fails on two checks: a MeshDB deploy is in progress, and the destination
// runs a hotfix rather than main's head. Two maintainers other than the initiator
// override the first through its button and modal; the run still stops on the second
// (a Retry fails on it alone) until it is fixed, then goes on with the override shown.
func TestE2EPreflightChecksAreOverriddenOneByOne(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 200, mutate: func(c *config.Config) { c.Slack.ApprovalsRequired = 2 }})
	gh, app := w.traffic.GitHub, w.cfg.GitHub.App
	env := w.cfg.Clusters["prod1"].GitHubEnvironment
	gh.AddWorkflowRun(app.Repo, app.DeployWorkflow, "in_progress")
	hotfix := gh.Commit(app.Repo, "hotfix", map[string]string{"hotfix.txt": "by hand"}, "a hotfix deployed by hand")
	gh.AddDeployment(app.Repo, env, hotfix, "success")

	w.startBot(nil)
	w.command(alice, "start prod2 prod1")
	w.waitStep(1, engine.Failed)
	const deploying, deployed = "no-meshdb-deploy-in-progress", "destination-runs-the-newest-meshdb"
	outcomes := w.preflightOutcomes()
	require.Equal(t, engine.CheckFailed, outcomes[deploying])
	require.Equal(t, engine.CheckFailed, outcomes[deployed])
	for id, o := range outcomes {
		if id != deploying && id != deployed {
			assert.Contains(t, []engine.CheckOutcome{engine.CheckPassed, engine.CheckWarned}, o, id)
		}
	}
	w.waitFor("each failed check's button", func() bool {
		_, _, a := w.button("Override: destination runs the newest MeshDB")
		_, _, b := w.button("Override: no MeshDB deploy in progress")
		return a && b
	})

	// The initiator's click is refused at once; Bob and Carol override the deploy check.
	w.click(alice, "Override: no MeshDB deploy in progress")
	w.waitPrivate(alice, "another maintainer must override a check")
	v := w.openModal(bob, "Override: no MeshDB deploy in progress")
	assert.Equal(t, "Override a check", v.Title)
	w.submit(bob, v, "the running deploy is of dev3")
	w.waitPrivate(bob, "1 more maintainer(s) other than the initiator")
	w.submit(carol, w.openModal(carol, "Override: no MeshDB deploy in progress"), "checked: it deploys dev3, not prod1")
	w.waitPrivate(carol, "step 1 still fails on `destination-runs-the-newest-meshdb`")
	r := w.srv.Engine.Active()
	assert.Equal(t, engine.Failed, r.Steps[0].State, "the other failed check still blocks")
	assert.Equal(t, 1, r.Steps[0].Attempt, "nothing ran again")
	w.waitFor("the failure to show the override", func() bool {
		ts, _, ok := w.button("Retry")
		m, _ := w.slack.Message(channel, ts)
		return ok && strings.Contains(slackfake.TextOf(m), "no longer blocks")
	})
	_, _, ok := w.button("Override: no MeshDB deploy in progress")
	assert.False(t, ok, "an overridden check has no button any more")

	// A Retry before the fix fails on the other check alone; the override holds.
	w.click(carol, "Retry")
	w.click(bob, "Approve")
	w.waitFor("attempt 2 to fail", func() bool {
		r := w.srv.Engine.Active()
		return r.Steps[0].Attempt == 2 && r.Steps[0].State == engine.Failed
	})
	outcomes = w.preflightOutcomes()
	assert.Equal(t, engine.CheckOverridden, outcomes[deploying])
	assert.Equal(t, engine.CheckFailed, outcomes[deployed], "the rest is enforced afresh")

	// Deploying main's head to prod1 fixes it: the next attempt passes and the run goes on.
	gh.AddDeployment(app.Repo, env, gh.Head(app.Repo, app.Branch), "success")
	w.click(carol, "Retry")
	w.click(bob, "Approve")
	w.waitStep(2, engine.Awaiting)
	assert.Equal(t, engine.CheckOverridden, w.preflightOutcomes()[deploying])
	assert.Equal(t, engine.CheckPassed, w.preflightOutcomes()[deployed])
	w.waitFor("the result with the override", func() bool {
		return w.threadHas("↪️ *no MeshDB deploy in progress* _(overridden, does not block)_") == 1
	})
	assert.Equal(t, 1, w.threadHas("overridden by <@"+bob+">: “the running deploy is of dev3”; <@"+carol+">: “checked: it deploys dev3, not prod1”"))

	w.stopBot()
	_, audit := w.finalRun()
	var votes []string
	for _, a := range audit {
		if a.Event == "decision.override" {
			votes = append(votes, a.User+" "+a.Check+": "+a.Reason)
		}
	}
	assert.Equal(t, []string{bob + " " + deploying + ": the running deploy is of dev3", carol + " " + deploying + ": checked: it deploys dev3, not prod1"}, votes)
}
