package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"

	"github.com/nycmeshnet/cutoverbot/handlers"
)

// checksExec runs preflight as named checks, some failing, honouring accepted
// overrides as ops/steps does; every other step succeeds.
type checksExec struct {
	okExec
	mu      sync.Mutex
	failing map[string]bool
}

var checkNames = map[string]string{"clusters-reachable": "clusters reachable", "no-meshdb-deploy-in-progress": "no MeshDB deploy in progress",
	"dns-points-at-the-origin": "DNS points at the origin"}

func (e *checksExec) Execute(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	if x.Step.Kind != plan.KindPreflight {
		return e.okExec.Execute(ctx, x)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	res := engine.Checks{Attempt: x.Attempt}
	var failed []string
	for _, id := range []string{"clusters-reachable", "no-meshdb-deploy-in-progress", "dns-points-at-the-origin"} {
		l := engine.CheckLine{ID: id, Name: checkNames[id], Outcome: engine.CheckPassed, Message: "fine"}
		if id == "clusters-reachable" { // what the check found, as data
			l.Message, l.Report = "", engine.ReportOf(report.CheckReachable{Clusters: []string{x.Run.Origin, x.Run.Destination}})
		}
		if e.failing[id] {
			l.Outcome, l.Message = engine.CheckFailed, checkNames[id]+" is not so"
			if l = x.Run.Steps[x.Index].Settle(l); l.Outcome == engine.CheckFailed {
				failed = append(failed, id)
			}
		}
		res.Checks = append(res.Checks, l)
	}
	out := engine.Output{Summary: "checked"}.WithResult(res)
	if len(failed) > 0 {
		return out, fmt.Errorf("preflight failed: %s", strings.Join(failed, ", "))
	}
	return out, nil
}

// failureMessage is the newest failure message, as edited since.
func (f *fixture) failureMessage(t *testing.T) message.Message {
	t.Helper()
	m, _, ok := f.poster.newestWithButton("Retry")
	require.True(t, ok, "no failure message")
	f.poster.mu.Lock()
	defer f.poster.mu.Unlock()
	return f.poster.msgs[m.TS].Msg
}

func text(m message.Message) string {
	return m.Text + "\n" + strings.Join(m.Sections, "\n") + "\n" + strings.Join(m.Context, "\n")
}

// Each failed check has an Override button whose modal asks for the reason; the
// initiator is told at once that it is not theirs; `/cutover override` is the typed
// form; once no failed check blocks, preflight runs again and the run goes on.
func TestOverrideEachFailedCheckFromItsButtonOrTyped(t *testing.T) {
	exec := &checksExec{failing: map[string]bool{"dns-points-at-the-origin": true, "no-meshdb-deploy-in-progress": true}}
	f := newFixtureWith(t, fixtureOptions{
		config: func(c *config.Config) { c.Slack.ApprovalsRequired = 2 },
		exec:   func(a handlers.Announcer) engine.Executor { exec.okExec.announce = a; return exec },
	})
	f.cmd("U01ALICE", "start prod2 prod1")
	require.Equal(t, engine.Failed, f.eng.Active().Steps[0].State)
	m := f.failureMessage(t)
	var labels []string
	for _, b := range m.Buttons {
		labels = append(labels, b.Label)
	}
	assert.Equal(t, []string{"Retry", "Skip", "Abort", "Override: no MeshDB deploy in progress", "Override: DNS points at the origin"}, labels)
	assert.Contains(t, text(m), "✅ *clusters reachable*: prod2 answers; prod1 answers", "a check's finding as data is worded")

	// The initiator: told at once, no modal.
	trigger := f.clickWithTrigger(t, "U01ALICE", "Override: DNS points at the origin")
	assert.Contains(t, f.poster.lastPrivate(t, "url-U01ALICE"), "another maintainer must override a check")
	assert.NotContains(t, f.poster.modals, trigger)

	modal := f.poster.modal(t, f.clickWithTrigger(t, "U02BOB", "Override: DNS points at the origin"))
	assert.Equal(t, "Override a check", modal.Title)
	var meta handlers.DecisionMeta
	require.NoError(t, json.Unmarshal([]byte(modal.Metadata), &meta))
	assert.Equal(t, "dns-points-at-the-origin", meta.Check)
	assert.Equal(t, engine.Override, meta.Action)
	f.submit("U02BOB", modal, "9.9.9.9 caches <!channel>")
	assert.Contains(t, f.poster.lastPrivate(t, "url-U02BOB"), "1 more maintainer(s)")
	assert.Contains(t, text(f.failureMessage(t)), "override proposed by <@U02BOB>: “9.9.9.9 caches &lt;!channel&gt;”", "the failure shows the proposal, its buttons stay")

	// Typed: refused without a check or a reason, then taken.
	f.cmd("U03CAROL", "override")
	assert.Contains(t, f.poster.lastPrivate(t, "U03CAROL"), "with CHECK one of `no-meshdb-deploy-in-progress`, `dns-points-at-the-origin`")
	f.cmd("U03CAROL", "override dns-points-at-the-origin")
	assert.Contains(t, f.poster.lastPrivate(t, "U03CAROL"), "overriding needs a reason")
	f.cmd("U03CAROL", "override DNS-points-at-the-origin the other resolvers answer the origin")
	assert.Contains(t, f.poster.lastPrivate(t, "U03CAROL"), "step 1 still fails on `no-meshdb-deploy-in-progress`")
	m = f.failureMessage(t)
	assert.Contains(t, text(m), "↪️ *DNS points at the origin* `dns-points-at-the-origin` _(overridden, no longer blocks)_")
	var overrides []string
	for _, b := range m.Buttons {
		if strings.HasPrefix(b.ActionID, handlers.ActOverride) {
			overrides = append(overrides, b.Label)
		}
	}
	assert.Equal(t, []string{"Override: no MeshDB deploy in progress"}, overrides, "an overridden check has no button any more")

	// The last one: preflight runs again at once, the overrides shown, and the run goes on.
	f.submit("U02BOB", f.poster.modal(t, f.clickWithTrigger(t, "U02BOB", "Override: no MeshDB deploy in progress")), "the deploy is of dev3")
	f.submit("U03CAROL", f.poster.modal(t, f.clickWithTrigger(t, "U03CAROL", "Override: no MeshDB deploy in progress")), "checked it")
	r := f.eng.Active()
	require.Equal(t, engine.Succeeded, r.Steps[0].State)
	assert.Equal(t, 2, r.Steps[0].Attempt)
	assert.Equal(t, engine.Awaiting, r.Steps[1].State)
	f.poster.mu.Lock()
	var closed, result string
	for _, x := range f.poster.msgs {
		if strings.Contains(x.Msg.Text, "every failed check overridden") {
			closed = x.Msg.Text
		}
		if strings.HasPrefix(x.Msg.Text, "✅ Step 1") {
			result = text(x.Msg)
		}
	}
	f.poster.mu.Unlock()
	assert.Contains(t, closed, "the last (`no-meshdb-deploy-in-progress`) by <@U03CAROL>: checked it", "the failure message loses its buttons")
	assert.Contains(t, result, "↪️ *DNS points at the origin* _(overridden, does not block)_")
	assert.Contains(t, result, "overridden by <@U02BOB>: “the deploy is of dev3”; <@U03CAROL>: “checked it”")

	f.cmd("U03CAROL", "override dns-points-at-the-origin late")
	assert.Contains(t, f.poster.lastPrivate(t, "U03CAROL"), "no failed check waits for an override: the run is at step 2")
}

func TestOverrideButtonValues(t *testing.T) {
	v := handlers.OverrideValue("20261124-2000-ab12", 0, 2, "dns-points-at-the-origin")
	id, step, attempt, check, err := handlers.ParseOverrideValue(v)
	require.NoError(t, err)
	assert.Equal(t, []any{"20261124-2000-ab12", 0, 2, "dns-points-at-the-origin"}, []any{id, step, attempt, check})
	for _, bad := range []string{"", "r|0|2", "r|0|2|", "r|0|2|DNS points", "r|x|2|dns", "|0|2|dns"} {
		_, _, _, _, err := handlers.ParseOverrideValue(bad)
		assert.Error(t, err, bad)
	}
}
