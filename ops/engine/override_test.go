package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// checkWorld is a preflight of named checks, some failing, that honours accepted
// overrides as ops/steps does.
type checkWorld struct {
	mu      sync.Mutex
	order   []string
	failing map[string]bool
	// broken fails the step before any check ran.
	broken bool
}

func newCheckWorld(failing ...string) *checkWorld {
	w := &checkWorld{order: []string{"clusters-reachable", "dns-points-at-the-origin", "no-meshdb-deploy-in-progress", "pods-ready"}}
	w.fail(failing...)
	return w
}

func (w *checkWorld) fail(ids ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failing = map[string]bool{}
	for _, id := range ids {
		w.failing[id] = true
	}
}

func (w *checkWorld) run(x engine.StepContext) (engine.Output, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.broken {
		return engine.Output{}, fmt.Errorf("no connection to cluster %q is configured", "prod9")
	}
	self := x.Run.Steps[x.Index]
	res := engine.Checks{Attempt: x.Attempt}
	var failed []string
	for _, id := range w.order {
		l := engine.CheckLine{ID: id, Name: id, Outcome: engine.CheckPassed, Message: "fine"}
		if w.failing[id] {
			l.Outcome, l.Message = engine.CheckFailed, id+" is wrong"
			if l = self.Settle(l); l.Outcome == engine.CheckFailed {
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

func (h *harness) override(user, check, reason string) (engine.Outcome, error) {
	r := h.active()
	msg, err := h.eng.Decide(context.Background(), engine.Request{RunID: r.ID, Step: r.Current, Attempt: r.Steps[r.Current].Attempt,
		User: user, Action: engine.Override, Check: check, Reason: reason})
	h.eng.Wait()
	return msg, err
}

func (h *harness) mustOverride(user, check, reason string) engine.Outcome {
	h.t.Helper()
	msg, err := h.override(user, check, reason)
	require.NoError(h.t, err)
	return msg
}

func outcomes(t *testing.T, s engine.StepRun) map[string]engine.CheckOutcome {
	t.Helper()
	res, err := engine.Decode[engine.Checks](s.Output)
	require.NoError(t, err)
	out := map[string]engine.CheckOutcome{}
	for _, l := range res.Checks {
		out[l.ID] = l.Outcome
	}
	return out
}

const (
	dnsCheck    = "dns-points-at-the-origin"
	deployCheck = "no-meshdb-deploy-in-progress"
	podsCheck   = "pods-ready"
)

// A failed check is overridden on its own by as many distinct maintainers other than
// the initiator as approving needs; votes are kept across attempts and restarts; once
// every failed check is overridden, preflight runs again with the rest enforced.
func TestOverrideLetsOneFailedCheckPass(t *testing.T) {
	h := newHarness(t, 2)
	w := newCheckWorld(dnsCheck, deployCheck)
	h.exec.checks = w.run
	h.start()
	pre := h.active().Steps[0]
	require.Equal(t, engine.Failed, pre.State)
	require.Equal(t, 1, pre.Attempt)

	for _, tc := range []struct {
		user, check, reason string
		refused             engine.RefusalKind
		facts               []any
	}{
		{alice, dnsCheck, "I know", engine.RefusedOverrideOwnRun, nil},
		{eve, dnsCheck, "I know", engine.RefusedNotMaintainer, []any{"Action", "override"}},
		{bob, dnsCheck, "  ", engine.RefusedOverrideReason, []any{"Check", dnsCheck}},
		{bob, "clusters-reachable", "fine anyway", engine.RefusedOverrideNotFailed, []any{"Check", "clusters-reachable", "Attempt", 1, "Step", 1, "Outcome", engine.CheckPassed}},
		{bob, "no-such-check", "typo", engine.RefusedOverrideUnknown, []any{"Step", 1, "Check", "no-such-check", "Failed", []string{dnsCheck, deployCheck}}},
	} {
		_, err := h.override(tc.user, tc.check, tc.reason)
		refusal(t, err, tc.refused, tc.facts...)
	}
	assert.Empty(t, h.active().Steps[0].Overrides, "a refused override records nothing")

	msg := h.mustOverride(bob, dnsCheck, "9.9.9.9 still caches the old answer")
	assert.Equal(t, engine.Outcome{Kind: engine.DidVoteOverride, Fields: engine.F{"Check": dnsCheck, "More": 1}}, msg)
	_, err := h.override(bob, dnsCheck, "again")
	refusal(t, err, engine.RefusedOverrideTwice, "Check", dnsCheck, "More", 1)
	pre = h.active().Steps[0]
	assert.Equal(t, engine.Failed, pre.State, "one vote of two is not an override")
	o, ok := pre.OverrideOf(dnsCheck)
	require.True(t, ok)
	assert.False(t, o.Accepted)
	assert.Equal(t, []string{bob}, o.Users())
	assert.Equal(t, 1, h.exec.count("preflight"))

	// A restart and a new attempt keep the vote.
	h.reopen()
	h.exec.checks = w.run
	h.mustDecide(carol, engine.Retry, "")
	h.mustDecide(bob, engine.Approve, "")
	pre = h.active().Steps[0]
	require.Equal(t, 2, pre.Attempt)
	require.Equal(t, engine.Failed, pre.State)
	o, _ = pre.OverrideOf(dnsCheck)
	require.Len(t, o.Votes, 1, "votes are kept across attempts")
	assert.Equal(t, 1, o.Votes[0].Attempt)

	msg = h.mustOverride(carol, dnsCheck, "the TTL is 300 s and the record is right")
	assert.Equal(t, engine.Outcome{Kind: engine.DidOverrideBlocked, Fields: engine.F{"Check": dnsCheck, "Step": 1, "Blocking": []string{deployCheck}}}, msg)
	assert.Equal(t, engine.Failed, h.active().Steps[0].State, "another failed check still blocks")
	assert.Equal(t, 2, h.exec.count("preflight"), "nothing runs while a failed check blocks")
	_, err = h.override(bob, dnsCheck, "more")
	refusal(t, err, engine.RefusedOverrideDone, "Check", dnsCheck, "By", []string{bob, carol}, "Blocking", []string{deployCheck})

	// Meanwhile the pods go unready: the next attempt enforces that afresh.
	w.fail(dnsCheck, deployCheck, podsCheck)
	h.mustOverride(bob, deployCheck, "the running deploy is of a docs branch")
	msg = h.mustOverride(carol, deployCheck, "the run is for dev3 only")
	assert.Equal(t, engine.Outcome{Kind: engine.DidOverrideRerun, Fields: engine.F{"Check": deployCheck, "Step": 1}}, msg)
	assert.Equal(t, 3, h.exec.count("preflight"), "read-only: it runs again at once")
	pre = h.active().Steps[0]
	assert.Equal(t, 3, pre.Attempt)
	assert.Equal(t, engine.Failed, pre.State)
	assert.Equal(t, map[string]engine.CheckOutcome{"clusters-reachable": engine.CheckPassed, dnsCheck: engine.CheckOverridden,
		deployCheck: engine.CheckOverridden, podsCheck: engine.CheckFailed}, outcomes(t, pre))

	w.fail(dnsCheck, deployCheck)
	h.mustDecide(carol, engine.Retry, "")
	h.mustDecide(bob, engine.Approve, "")
	r := h.active()
	assert.Equal(t, engine.Succeeded, r.Steps[0].State)
	assert.Equal(t, 1, r.Current, "the run moved on")

	var votes, accepted []string
	audit, err := h.store.Audit(context.Background(), r.ID)
	require.NoError(t, err)
	for _, a := range audit {
		switch a.Event {
		case "decision.override":
			votes = append(votes, a.User+" "+a.Check+": "+a.Reason)
		case "check.overridden":
			accepted = append(accepted, fmt.Sprintf("%s attempt %d", a.Check, a.Attempt))
		}
	}
	assert.Equal(t, []string{
		bob + " " + dnsCheck + ": 9.9.9.9 still caches the old answer",
		carol + " " + dnsCheck + ": the TTL is 300 s and the record is right",
		bob + " " + deployCheck + ": the running deploy is of a docs branch",
		carol + " " + deployCheck + ": the run is for dev3 only",
	}, votes, "the audit log has each vote: who, which check, why")
	assert.Equal(t, []string{dnsCheck + " attempt 2", deployCheck + " attempt 2"}, accepted)
	var checks []string
	for _, d := range r.Decisions {
		if d.Action == engine.Override {
			checks = append(checks, d.Check)
		}
	}
	assert.Equal(t, []string{dnsCheck, dnsCheck, deployCheck, deployCheck}, checks)
}

// With one approval required, one vote overrides; a check that passes again needs no
// override, and a step without checks has none to override.
func TestOverrideWithOneApprovalAndStepsWithoutChecks(t *testing.T) {
	h := newHarness(t, 1)
	w := newCheckWorld(dnsCheck)
	h.exec.checks = w.run
	h.start()
	old := h.active()
	msg := h.mustOverride(bob, dnsCheck, "resolver lag")
	assert.Equal(t, engine.DidOverrideRerun, msg.Kind)
	r := h.active()
	assert.Equal(t, engine.Succeeded, r.Steps[0].State)
	assert.Equal(t, engine.CheckOverridden, outcomes(t, r.Steps[0])[dnsCheck])

	// A button of the failed attempt is stale now.
	_, err := h.eng.Decide(context.Background(), engine.Request{RunID: old.ID, Step: 0, Attempt: 1, User: carol, Action: engine.Override, Check: dnsCheck, Reason: "late"})
	refusal(t, err, engine.RefusedStaleStep, "Step", 1, "Current", 2)

	h.exec.fail[r.Steps[1].Step.ID] = 1
	h.mustDecide(bob, engine.Approve, "")
	require.Equal(t, engine.Failed, h.active().Steps[1].State)
	_, err = h.override(bob, dnsCheck, "wrong step")
	refusal(t, err, engine.RefusedOverrideNoChecks, "Step", 2, "Attempt", 1, "Title", h.active().Steps[1].Step)
	_, err = h.override(bob, "", "wrong step")
	refusal(t, err, engine.RefusedOverrideNoChecks, "Step", 2, "Attempt", 1)
}

// An attempt that failed before running its checks keeps the earlier attempt's lines,
// which are no ground for an override.
func TestOverrideNeedsTheChecksOfTheCurrentAttempt(t *testing.T) {
	h := newHarness(t, 1)
	w := newCheckWorld(dnsCheck, deployCheck)
	h.exec.checks = w.run
	h.start()
	w.mu.Lock()
	w.broken = true
	w.mu.Unlock()
	h.mustDecide(bob, engine.Retry, "")
	pre := h.active().Steps[0]
	require.Equal(t, 2, pre.Attempt)
	require.Equal(t, engine.Failed, pre.State)
	_, stale := engine.ChecksOf(pre)
	assert.False(t, stale, "the lines in the output are attempt 1's")
	_, err := h.override(bob, dnsCheck, "resolver lag")
	refusal(t, err, engine.RefusedOverrideNoChecks, "Step", 1, "Attempt", 2)
	assert.Empty(t, h.active().Steps[0].Overrides)
}
