package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// refusal checks that err is a refusal of that kind, with the facts given as
// key, value pairs among its fields.
func refusal(t *testing.T, err error, kind engine.RefusalKind, facts ...any) {
	t.Helper()
	require.Error(t, err)
	r, ok := engine.IsRefusal(err)
	require.True(t, ok, "want a refusal, got %v", err)
	assert.Equal(t, kind, r.Kind, "%v", err)
	for i := 0; i+1 < len(facts); i += 2 {
		assert.Equal(t, facts[i+1], r.Fields[facts[i].(string)], "%s of %v", facts[i], err)
	}
}

func TestPreflightRunsAtStartThenEveryStepWaits(t *testing.T) {
	h := newHarness(t, 1)
	h.start()
	assert.Equal(t, 1, h.exec.count("preflight"), "preflight is read-only and runs at start")
	r := h.active()
	assert.Equal(t, engine.Succeeded, r.Steps[0].State)
	assert.Equal(t, 1, r.Current)
	assert.Equal(t, engine.Awaiting, r.Steps[1].State)
	assert.Len(t, h.exec.Calls(), 1, "nothing but preflight ran without approval")
	var progress []*engine.Report
	for _, ev := range h.snapshotEvents() {
		if ev.Kind == engine.EventProgress {
			progress = append(progress, ev.Progress)
		}
	}
	assert.Equal(t, []*engine.Report{{Kind: "working", Facts: []byte(`{"step":"preflight"}`)}}, progress, "the step's progress reaches the transport as data")
}

func TestApprovalPolicy(t *testing.T) {
	cases := []struct {
		name     string
		required int
		clicks   []string // approvers in order
		refused  map[int]engine.RefusalKind
		runsAt   int // index of the click after which the step runs; -1 never
	}{
		{"initiator cannot approve", 1, []string{alice}, map[int]engine.RefusalKind{0: engine.RefusedApproveOwnRun}, -1},
		{"non-maintainer cannot approve", 1, []string{eve}, map[int]engine.RefusalKind{0: engine.RefusedNotMaintainer}, -1},
		{"one approval is enough", 1, []string{bob}, nil, 0},
		{"two distinct approvals needed", 2, []string{bob, carol}, nil, 1},
		{"same person twice does not count twice", 2, []string{bob, bob, carol}, map[int]engine.RefusalKind{1: engine.RefusedApproveTwice}, 2},
		{"initiator does not count toward two", 2, []string{bob, alice, carol}, map[int]engine.RefusalKind{1: engine.RefusedApproveOwnRun}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.required)
			h.start()
			step := h.active().Steps[1].Step.ID
			for i, u := range tc.clicks {
				_, err := h.decide(u, engine.Approve, "")
				if want, ok := tc.refused[i]; ok {
					refusal(t, err, want)
				} else {
					require.NoError(t, err)
				}
				ran := h.exec.count(step)
				if tc.runsAt >= 0 && i >= tc.runsAt {
					assert.Equal(t, 1, ran, "after click %d", i)
				} else {
					assert.Equal(t, 0, ran, "step must not run after click %d", i)
				}
			}
			r := h.active()
			if tc.runsAt < 0 {
				assert.Equal(t, engine.Awaiting, r.Steps[1].State)
				return
			}
			assert.Equal(t, engine.Succeeded, r.Steps[1].State)
			var approvals []string
			for _, d := range r.Decisions {
				if d.Action == engine.Approve && d.Step == 1 {
					approvals = append(approvals, d.User)
				}
			}
			assert.Len(t, approvals, tc.required, "decisions record each distinct approver")
		})
	}
}

func TestDecidedAttemptAndStaleButtonsAreRefused(t *testing.T) {
	h := newHarness(t, 1)
	h.start()
	r := h.active()
	old := engine.Request{RunID: r.ID, Step: 1, Attempt: 1, User: bob, Action: engine.Approve}
	h.mustDecide(bob, engine.Approve, "")
	// The same button again: step 1 is done, the run is at step 2.
	_, err := h.eng.Decide(context.Background(), old)
	refusal(t, err, engine.RefusedStaleStep, "Step", 2, "Current", 3, "Title", h.active().Steps[2].Step, "State", engine.Awaiting)
	assert.Equal(t, 1, h.exec.count(h.active().Steps[1].Step.ID))

	// A button from an older attempt of the current step.
	h.exec.fail[h.active().Steps[2].Step.ID] = 1
	h.mustDecide(bob, engine.Approve, "")
	h.mustDecide(alice, engine.Retry, "") // the initiator's retry waits for approval
	cur := h.active()
	require.Equal(t, 2, cur.Current)
	_, err = h.eng.Decide(context.Background(), engine.Request{RunID: r.ID, Step: 2, Attempt: 1, User: carol, Action: engine.Approve})
	refusal(t, err, engine.RefusedStaleAttempt, "Step", 3, "Attempt", 1, "Current", 2)

	// Another run's button.
	_, err = h.eng.Decide(context.Background(), engine.Request{RunID: "20260101-0000-beef", Step: 2, Attempt: 1, User: bob, Action: engine.Approve})
	refusal(t, err, engine.RefusedOtherRun, "Run", "20260101-0000-beef", "Active", r.ID)

	// A finished run's button.
	h.mustDecide(alice, engine.Abort, "testing")
	for h.eng.Active() != nil {
		h.mustDecide(bob, engine.Approve, "")
	}
	_, err = h.eng.Decide(context.Background(), engine.Request{RunID: r.ID, Step: 3, Attempt: 1, User: bob, Action: engine.Approve})
	refusal(t, err, engine.RefusedRunEnded, "Run", r.ID, "State", engine.RolledBack)
}

func TestTwoRunsAtOnceAreRefusedWithTheHolderNamed(t *testing.T) {
	h := newHarness(t, 1)
	first := h.start()
	_, err := h.eng.Start(context.Background(), "prod1", "prod2", bob)
	refusal(t, err, engine.RefusedBusy, "Run", first.ID, "Initiator", alice, "Since", first.Created)
	// The lock is in the store: a second engine on the same file refuses too.
	h.reopen()
	_, err = h.eng.Start(context.Background(), "prod1", "prod2", carol)
	refusal(t, err, engine.RefusedBusy, "Run", first.ID, "Initiator", alice)
}

func TestStartRefusesBadInputAndChangesNothing(t *testing.T) {
	h := newHarness(t, 1)
	for _, tc := range []struct {
		origin, dest, user string
		kind               engine.RefusalKind
		says               string
	}{
		{"prod2", "prod3", alice, engine.RefusedPlan, `failed_unknown_cluster {"cluster":"prod3"`},
		{"prod1", "prod1", alice, engine.RefusedPlan, `failed_same_cluster {"cluster":"prod1"}`},
		{"prod2", "prod1", eve, engine.RefusedNotMaintainer, ""},
	} {
		_, err := h.eng.Start(context.Background(), tc.origin, tc.dest, tc.user)
		refusal(t, err, tc.kind)
		if r, ok := engine.IsRefusal(err); ok && tc.says != "" {
			assert.Contains(t, r.Fields["Error"], tc.says)
		}
	}
	runs, err := h.store.List(context.Background(), 0)
	require.NoError(t, err)
	assert.Empty(t, runs)
	assert.Empty(t, h.exec.Calls())
}

func TestRejectStopsTheRun(t *testing.T) {
	t.Run("before anything changed", func(t *testing.T) {
		h := newHarness(t, 1)
		r := h.start()
		h.mustDecide(carol, engine.Reject, "not tonight")
		assert.Nil(t, h.eng.Active())
		s := h.stored(r.ID)
		assert.Equal(t, engine.Stopped, s.State)
		assert.Equal(t, engine.Rejected, s.Steps[1].State)
		assert.Equal(t, "not tonight", s.Steps[1].Reason)
		assert.Len(t, h.exec.Calls(), 1, "only preflight ran")
	})
	t.Run("after changes offers the rollback", func(t *testing.T) {
		h := newHarness(t, 1)
		h.start()
		h.mustDecide(bob, engine.Approve, "") // scale destination celery to 0
		h.mustDecide(bob, engine.Approve, "") // maintenance on, destination
		h.mustDecide(bob, engine.Reject, "")  // announce
		r := h.active()
		cur := r.Steps[r.Current]
		assert.True(t, cur.Rollback)
		assert.Equal(t, engine.Awaiting, cur.State, "the rollback waits for approval like any step")
		assert.Equal(t, "undo-maintenance-on-destination", cur.Step.ID)
	})
}

func TestFailureOffersRetrySkipAbort(t *testing.T) {
	h := newHarness(t, 1)
	h.start()
	step := h.active().Steps[1].Step.ID
	h.exec.fail[step] = 2
	h.mustDecide(bob, engine.Approve, "")
	r := h.active()
	assert.Equal(t, engine.Failed, r.Steps[1].State)
	assert.Contains(t, r.Steps[1].Error, "failed on purpose")
	_, err := h.decide(bob, engine.Approve, "")
	refusal(t, err, engine.RefusedApproveStuck, "Step", 2, "State", engine.Failed)

	// The initiator's Retry asks again; it does not approve.
	h.mustDecide(alice, engine.Retry, "")
	r = h.active()
	assert.Equal(t, engine.Awaiting, r.Steps[1].State)
	assert.Equal(t, 2, r.Steps[1].Attempt)
	assert.Equal(t, 1, h.exec.count(step))
	h.mustDecide(bob, engine.Approve, "")
	assert.Equal(t, 2, h.exec.count(step))
	assert.Equal(t, engine.Failed, h.active().Steps[1].State)

	// Skip needs a reason and someone other than the initiator.
	_, err = h.decide(bob, engine.Skip, "")
	refusal(t, err, engine.RefusedSkipReason, "Step", 2)
	_, err = h.decide(alice, engine.Skip, "ok")
	refusal(t, err, engine.RefusedSkipOwnRun)
	h.mustDecide(bob, engine.Skip, "celery already at 0 by hand")
	r = h.active()
	assert.Equal(t, engine.Skipped, r.Steps[1].State)
	assert.Equal(t, "celery already at 0 by hand", r.Steps[1].Reason)
	assert.Equal(t, 2, r.Current)

	// A maintainer's Retry is an approval of the new attempt.
	h.exec.fail[r.Steps[2].Step.ID] = 1
	h.mustDecide(bob, engine.Approve, "")
	h.mustDecide(carol, engine.Retry, "")
	assert.Equal(t, engine.Succeeded, h.active().Steps[2].State)
	assert.Equal(t, 2, h.exec.count(r.Steps[2].Step.ID))
}

func TestAbortBuildsAGatedRollback(t *testing.T) {
	h := newHarness(t, 1)
	r := h.start()
	for i := 0; i < 6; i++ { // through maintenance on, origin
		h.mustDecide(bob, engine.Approve, "")
	}
	require.Equal(t, "dump-origin", h.active().Steps[h.active().Current].Step.ID)
	before := len(h.exec.Calls())
	_, err := h.decide(eve, engine.Abort, "")
	refusal(t, err, engine.RefusedNotMaintainer, "Action", "abort")
	h.mustDecide(alice, engine.Abort, "found a problem") // the initiator may abort
	assert.Len(t, h.exec.Calls(), before, "abort runs nothing by itself")
	cur := h.active()
	var ids []string
	for _, s := range cur.Steps {
		if s.Rollback {
			ids = append(ids, s.Step.ID)
		}
	}
	assert.Equal(t, []string{"undo-maintenance-on-origin", "undo-scale-origin-celery", "undo-maintenance-on-destination", "undo-scale-destination-celery", "undo-announce-done"}, ids)
	_, err = h.decide(alice, engine.Approve, "")
	refusal(t, err, engine.RefusedApproveOwnRun)
	for h.eng.Active() != nil {
		h.mustDecide(carol, engine.Approve, "")
	}
	final := h.stored(r.ID)
	assert.Equal(t, engine.RolledBack, final.State)
	assert.Equal(t, engine.Skipped, final.Steps[7].State, "the step waiting at abort is marked skipped")
	assert.Equal(t, engine.Pending, final.Steps[8].State)
	for _, id := range ids {
		assert.Equal(t, 1, h.exec.count(id), id)
	}
	audit, err := h.store.Audit(context.Background(), r.ID)
	require.NoError(t, err)
	var planned []engine.AuditEntry
	for _, a := range audit {
		if a.Event == "run.rollback_planned" {
			planned = append(planned, a)
		}
	}
	require.Len(t, planned, 1)
	assert.Equal(t, engine.NoteRollbackPlanned, planned[0].Note, "the log says why, as a code")
	assert.Equal(t, len(ids), planned[0].Steps)
	assert.Empty(t, planned[0].Reason, "no words of the engine's in the log")
	require.NotEmpty(t, audit)
	started := audit[0]
	assert.Equal(t, "run.started", started.Event)
	assert.Equal(t, engine.NoteRunStarted, started.Note, "the start is logged as a code with its clusters")
	assert.Equal(t, [2]string{r.Origin, r.Destination}, [2]string{started.Origin, started.Destination})
	assert.NotEmpty(t, started.Origin)
	assert.Empty(t, started.Reason)
}

func TestAbortWhileAStepRunsIsRefused(t *testing.T) {
	h := newHarness(t, 1)
	h.start()
	release := make(chan struct{})
	h.exec.hold[h.active().Steps[1].Step.ID] = release
	r := h.active()
	_, err := h.eng.Decide(context.Background(), engine.Request{RunID: r.ID, Step: 1, Attempt: 1, User: bob, Action: engine.Approve})
	require.NoError(t, err)
	_, err = h.eng.Decide(context.Background(), engine.Request{RunID: r.ID, Step: 1, Attempt: 1, User: bob, Action: engine.Abort})
	refusal(t, err, engine.RefusedAbortRunning, "Step", 2, "Title", r.Steps[1].Step)
	close(release)
	h.eng.Wait()
	h.mustDecide(bob, engine.Abort, "")
}

func TestApprovalsExpireAndRemindersAreSent(t *testing.T) {
	h := newHarness(t, 1)
	h.start()
	ctx := context.Background()
	h.clock.Add(14 * time.Minute)
	require.NoError(t, h.eng.Tick(ctx))
	h.clock.Add(2 * time.Minute)
	require.NoError(t, h.eng.Tick(ctx))
	require.NoError(t, h.eng.Tick(ctx))
	reminders := 0
	for _, k := range h.eventKinds() {
		if k == engine.EventReminder {
			reminders++
		}
	}
	assert.Equal(t, 1, reminders, "one reminder after 15 minutes, not one per tick")

	h.clock.Add(2 * time.Hour)
	require.NoError(t, h.eng.Tick(ctx))
	r := h.active()
	assert.Equal(t, engine.Expired, r.Steps[1].State)
	assert.Equal(t, &engine.Cause{Kind: engine.CauseExpired, Timeout: 2 * time.Hour}, r.Steps[1].Cause, "the step was not run")
	_, err := h.decide(bob, engine.Approve, "")
	refusal(t, err, engine.RefusedApproveStuck, "Step", 2, "State", engine.Expired)
	assert.Equal(t, 0, h.exec.count(r.Steps[1].Step.ID), "an expired step is not run")
	h.mustDecide(bob, engine.Retry, "")
	assert.Equal(t, 1, h.exec.count(r.Steps[1].Step.ID))
}

func TestWholeDefaultPlanCompletes(t *testing.T) {
	h := newHarness(t, 1)
	r := h.start()
	for h.eng.Active() != nil {
		h.mustDecide(bob, engine.Approve, "")
	}
	final := h.stored(r.ID)
	assert.Equal(t, engine.Completed, final.State)
	require.Len(t, final.Steps, 18)
	for _, s := range final.Steps {
		assert.Equal(t, engine.Succeeded, s.State, s.Step.ID)
		assert.Equal(t, 1, s.Executions, s.Step.ID)
	}
	audit, err := h.store.Audit(context.Background(), r.ID)
	require.NoError(t, err)
	approvals := 0
	for _, a := range audit {
		if a.Event == "decision.approve" {
			approvals++
			assert.Equal(t, bob, a.User)
		}
	}
	assert.Equal(t, 17, approvals, "every step but preflight was approved, and the log says so")
	require.Greater(t, len(audit), 2)
	assert.Equal(t, "step.running", audit[1].Event)
	assert.Equal(t, engine.NoteAutoRun, audit[1].Note, "preflight ran without approval, and the log says why as a code")
	assert.Equal(t, "run.completed", audit[len(audit)-1].Event)
	// The lock is released: a new run can start.
	_, err = h.eng.Start(context.Background(), "prod1", "prod2", bob)
	require.NoError(t, err)
}

func TestRestartTurnsARunningStepIntoInterrupted(t *testing.T) {
	h := newHarness(t, 1)
	h.start()
	release := make(chan struct{})
	step := h.active().Steps[1].Step.ID
	h.exec.hold[step] = release
	r := h.active()
	_, err := h.eng.Decide(context.Background(), engine.Request{RunID: r.ID, Step: 1, Attempt: 1, User: bob, Action: engine.Approve})
	require.NoError(t, err)
	// Simulate a crash: open a second engine on a copy of the file as it is now.
	stored := h.stored(r.ID)
	require.Equal(t, engine.Running, stored.Steps[1].State)
	close(release)
	h.eng.Wait()

	h2 := newHarness(t, 1)
	require.NoError(t, h2.store.Create(context.Background(), stored, nil))
	require.NoError(t, h2.eng.Recover(context.Background()))
	r2 := h2.active()
	assert.Equal(t, engine.Interrupted, r2.Steps[1].State)
	assert.Equal(t, &engine.Cause{Kind: engine.CauseRestarted, Was: engine.Running}, r2.Steps[1].Cause, "it may have partly run")
	_, err = h2.decide(bob, engine.Approve, "")
	refusal(t, err, engine.RefusedApproveStuck, "Step", 2, "State", engine.Interrupted)
	assert.Equal(t, 0, h2.exec.count(step), "nothing re-ran by itself")
	h2.mustDecide(carol, engine.Retry, "")
	assert.Equal(t, 1, h2.exec.count(step))
	assert.Equal(t, engine.Succeeded, h2.active().Steps[1].State)
}

// A restore that failed (or was interrupted) may have half-restored the destination:
// aborting then keeps it failed and the rollback plan restores the backup.
func TestAbortAfterAFailedRestoreUndoesIt(t *testing.T) {
	h := newHarness(t, 1)
	h.start()
	h.exec.fail["restore-destination"] = 1
	for h.active().Steps[h.active().Current].Step.ID != "restore-destination" {
		h.mustDecide(bob, engine.Approve, "")
	}
	h.mustDecide(bob, engine.Approve, "")
	r := h.active()
	i := r.Current
	require.Equal(t, engine.Failed, r.Steps[i].State)
	h.mustDecide(carol, engine.Abort, "the restore failed")
	r = h.active()
	assert.Equal(t, engine.Failed, r.Steps[i].State, "it stays failed: it may have partly run")
	var undo []string
	for _, s := range r.Steps {
		if s.Rollback {
			undo = append(undo, s.Step.ID)
		}
	}
	require.NotEmpty(t, undo)
	assert.Equal(t, "undo-restore-destination", undo[0], "the undo of the restore comes first: %v", undo)
}

// OnEnd runs once for every run, however it ends, before EventEnded, which carries
// what it reported.
func TestOnEndRunsHoweverARunEnds(t *testing.T) {
	for name, end := range map[string]func(h *harness){
		"rejected":                 func(h *harness) { h.mustDecide(carol, engine.Reject, "not tonight") },
		"aborted, nothing to undo": func(h *harness) { h.mustDecide(carol, engine.Abort, "wrong night") },
		"rolled back after a step": func(h *harness) {
			h.mustDecide(bob, engine.Approve, "")
			h.mustDecide(carol, engine.Abort, "")
			rollAll(h)
		},
		"rollback stopped midway": func(h *harness) {
			h.mustDecide(bob, engine.Approve, "")
			h.mustDecide(carol, engine.Abort, "")
			h.mustDecide(carol, engine.Abort, "")
		},
		"completed": func(h *harness) { rollAll(h) },
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, 1)
			var mu sync.Mutex
			var ended []string
			h.eng.Close(context.Background())
			h.opts.OnEnd = func(_ context.Context, r *engine.Run) *engine.Report {
				mu.Lock()
				defer mu.Unlock()
				ended = append(ended, r.ID)
				return &engine.Report{Kind: "cleaned", Facts: []byte(`"` + r.ID + `"`)}
			}
			h.eng = engine.New(h.opts)
			require.NoError(t, h.eng.Recover(context.Background()))
			r := h.start()
			end(h)
			h.eng.Wait()
			h.eng.WaitEvents()
			mu.Lock()
			assert.Equal(t, []string{r.ID}, ended)
			mu.Unlock()
			var said *engine.Report
			for _, ev := range h.snapshotEvents() {
				if ev.Kind == engine.EventEnded {
					said = ev.Report
				}
			}
			require.NotNil(t, said)
			assert.Equal(t, engine.Report{Kind: "cleaned", Facts: []byte(`"` + r.ID + `"`)}, *said)
		})
	}
}

// rollAll approves every step until the run ends.
func rollAll(h *harness) {
	h.t.Helper()
	for i := 0; i < 60 && h.eng.Active() != nil; i++ {
		h.mustDecide(bob, engine.Approve, "")
	}
	require.Nil(h.t, h.eng.Active(), "the run ended")
}

// An Abort acts only on the step and attempt it was drawn for: an old Abort button
// neither aborts the run further on nor abandons a rollback in progress.
func TestAbortIsBoundToItsStepAndAttempt(t *testing.T) {
	h := newHarness(t, 1)
	r := h.start()
	old := engine.Request{RunID: r.ID, Step: r.Current, Attempt: r.Steps[r.Current].Attempt, User: carol, Action: engine.Abort, Reason: "old button"}
	h.mustDecide(bob, engine.Approve, "")
	h.mustDecide(bob, engine.Approve, "")
	_, err := h.eng.Decide(context.Background(), old)
	refusal(t, err, engine.RefusedStaleStep, "Step", 1, "Current", 4)
	assert.Equal(t, engine.Active, h.active().State)
	assert.False(t, h.active().InRollback())

	// A retried step: the Abort of its first attempt is refused.
	cur := h.active()
	h.exec.fail[cur.Steps[cur.Current].Step.ID] = 1
	h.mustDecide(bob, engine.Approve, "")
	cur = h.active()
	failed := engine.Request{RunID: cur.ID, Step: cur.Current, Attempt: cur.Steps[cur.Current].Attempt, User: carol, Action: engine.Abort, Reason: "attempt 1"}
	h.mustDecide(alice, engine.Retry, "") // the initiator's Retry waits for approval
	_, err = h.eng.Decide(context.Background(), failed)
	refusal(t, err, engine.RefusedStaleAttempt, "Attempt", 1, "Current", 2)

	// In a rollback, an Abort drawn for a forward step does not abandon it.
	h.mustDecide(carol, engine.Abort, "now")
	require.True(t, h.active().InRollback())
	_, err = h.eng.Decide(context.Background(), old)
	refusal(t, err, engine.RefusedStaleStep, "Step", 1, "Current", h.active().Current+1)
	assert.True(t, h.active().InRollback(), "the rollback goes on")
}

// Skipping a step that changes state or checks data needs as many distinct
// maintainers other than the initiator as running it; an announcement needs one.
func TestSkipNeedsAsManyMaintainersAsApproving(t *testing.T) {
	h := newHarness(t, 2)
	h.start()
	cur := h.active()
	h.exec.fail[cur.Steps[cur.Current].Step.ID] = 1
	h.mustDecide(bob, engine.Approve, "")
	h.mustDecide(carol, engine.Approve, "")
	r := h.active()
	i := r.Current
	require.Equal(t, engine.Failed, r.Steps[i].State)
	require.NotEqual(t, "announce", string(r.Steps[i].Step.Kind))

	msg, err := h.decide(bob, engine.Skip, "scaled by hand")
	require.NoError(t, err)
	assert.Equal(t, engine.Outcome{Kind: engine.DidProposeSkip, Fields: engine.F{"More": 1}}, msg)
	r = h.active()
	assert.Equal(t, engine.Failed, r.Steps[i].State, "one skip is a proposal")
	assert.Equal(t, []string{bob}, r.Steps[i].SkipVotes)
	_, err = h.decide(bob, engine.Skip, "again")
	refusal(t, err, engine.RefusedSkipTwice, "More", 1)
	_, err = h.decide(alice, engine.Skip, "I started it")
	refusal(t, err, engine.RefusedSkipOwnRun)
	h.mustDecide(carol, engine.Skip, "checked: celery is at 0")
	r = h.active()
	assert.Equal(t, engine.Skipped, r.Steps[i].State)
	assert.Equal(t, "scaled by hand; checked: celery is at 0", r.Steps[i].Reason)
	assert.NotEqual(t, i, r.Current, "the run moved on")

	// An announcement: one maintainer is enough.
	for h.active().Steps[h.active().Current].Step.Kind != "announce" {
		h.mustDecide(bob, engine.Approve, "")
		h.mustDecide(carol, engine.Approve, "")
	}
	j := h.active().Current
	h.mustDecide(bob, engine.Skip, "posted it by hand")
	assert.Equal(t, engine.Skipped, h.active().Steps[j].State)
}

// A step that only waits can be ended: Cancel fails it (Retry, Skip, Abort follow) and
// Abort ends it and stops the run; a step that is changing something cannot.
func TestWaitsCanBeCancelledOrAborted(t *testing.T) {
	for _, tc := range []struct {
		action engine.Action
		want   engine.StepState
	}{{engine.Cancel, engine.Failed}, {engine.Abort, engine.Failed}} {
		t.Run(string(tc.action), func(t *testing.T) {
			h := newHarness(t, 1)
			h.start()
			r := h.active()
			id := r.Steps[r.Current].Step.ID
			h.exec.hold[id] = make(chan struct{})
			h.exec.waits[id] = true
			_, err := h.eng.Decide(context.Background(), engine.Request{RunID: r.ID, Step: r.Current, Attempt: 1, User: bob, Action: engine.Approve})
			require.NoError(t, err)
			require.Eventually(t, func() bool { return h.eng.Active().Steps[r.Current].Waiting }, 10*time.Second, 5*time.Millisecond)
			msg, err := h.eng.Decide(context.Background(), engine.Request{RunID: r.ID, Step: r.Current, Attempt: 1, User: carol, Action: tc.action, Reason: "DNS will not change tonight"})
			require.NoError(t, err)
			want := map[engine.Action]engine.OutcomeKind{engine.Cancel: engine.DidEndWait, engine.Abort: engine.DidEndWaitAbort}[tc.action]
			assert.Equal(t, want, msg.Kind)
			h.eng.Wait()
			got := h.stored(r.ID)
			s := got.Steps[r.Current]
			assert.Equal(t, tc.want, s.State)
			assert.Equal(t, &engine.Cause{Kind: engine.CauseWaitEnded, User: carol, Reason: "DNS will not change tonight"}, s.Cause)
			assert.Empty(t, s.Error, "the executor's error is not what ended it")
			assert.False(t, s.Waiting)
			if tc.action == engine.Cancel {
				assert.Equal(t, r.Current, got.Current, "the run stays at the step, which offers Retry, Skip and Abort")
				h.exec.mu.Lock()
				delete(h.exec.hold, id)
				h.exec.mu.Unlock()
				h.mustDecide(bob, engine.Retry, "")
				assert.Equal(t, engine.Succeeded, h.stored(r.ID).Steps[r.Current].State, "the retry waits again and ends")
				assert.Nil(t, h.stored(r.ID).Steps[r.Current].Cause, "a new attempt has no cause of the old one's")
			} else {
				assert.True(t, got.State != engine.Active || got.InRollback(), "the abort stopped the run")
			}
		})
	}

	t.Run("a step changing something", func(t *testing.T) {
		h := newHarness(t, 1)
		h.start()
		r := h.active()
		id := r.Steps[r.Current].Step.ID
		release := make(chan struct{})
		h.exec.hold[id] = release
		_, err := h.eng.Decide(context.Background(), engine.Request{RunID: r.ID, Step: r.Current, Attempt: 1, User: bob, Action: engine.Approve})
		require.NoError(t, err)
		for _, a := range []engine.Action{engine.Cancel, engine.Abort} {
			_, err = h.eng.Decide(context.Background(), engine.Request{RunID: r.ID, Step: r.Current, Attempt: 1, User: carol, Action: a, Reason: "x"})
			want := map[engine.Action]engine.RefusalKind{engine.Cancel: engine.RefusedCancelChanging, engine.Abort: engine.RefusedAbortRunning}[a]
			refusal(t, err, want, "Step", r.Current+1, "Title", r.Steps[r.Current].Step)
			var ref *engine.Refusal
			require.ErrorAs(t, err, &ref)
			assert.Equal(t, "running", ref.Code, "%s: %v", a, ref)
		}
		close(release)
		h.eng.Wait()
		assert.Equal(t, engine.Succeeded, h.stored(r.ID).Steps[r.Current].State)
	})
}

// A step's account goes into the audit log as the step succeeds: the sentence of a step
// that reports in words, or the kind and facts of one that reports data.
func TestTheAuditLogKeepsWhatEachStepReported(t *testing.T) {
	h := newHarness(t, 1)
	r := h.start()
	h.mustDecide(bob, engine.Approve, "") // scale destination celery to 0
	h.mustDecide(bob, engine.Approve, "") // maintenance on, destination
	audit, err := h.store.Audit(context.Background(), r.ID)
	require.NoError(t, err)
	said := map[string]string{}
	for _, a := range audit {
		if a.Event == "step.succeeded" {
			said[a.StepID] = a.Reason
		}
	}
	assert.Equal(t, map[string]string{
		"preflight":                  "preflight done",
		"scale-destination-celery":   `scaled {"from":1,"to":0}`,
		"maintenance-on-destination": "maintenance-on-destination done",
	}, said)
	out := h.stored(r.ID).Steps[1].Output
	require.NotNil(t, out.Report)
	assert.Equal(t, engine.Report{Kind: "scaled", Facts: []byte(`{"from":1,"to":0}`)}, *out.Report, "the run keeps the report as data")
}
