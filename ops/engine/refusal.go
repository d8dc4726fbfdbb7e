package engine

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The engine says what happened as data, never in words: a refusal or the outcome of
// a decision is a kind and its facts, which the transport words for people (handlers,
// from its templates). Each kind lists the Fields it carries; step numbers are 1-based,
// as people and the audit log count them.

// RefusalKind names why the engine said no.
type RefusalKind string

const (
	// RefusedPlan: the pair of clusters makes no plan. Error (string).
	RefusedPlan RefusalKind = "plan"
	// RefusedShuttingDown: the bot is stopping.
	RefusedShuttingDown RefusalKind = "shutting_down"
	// RefusedBusy: another run holds the lock. Run, Initiator (string), Since (time.Time).
	RefusedBusy RefusalKind = "busy"
	// RefusedNotMaintainer: Action (Action, or "start" for a new run).
	RefusedNotMaintainer RefusalKind = "not_maintainer"
	// RefusedUnknownAction: Action.
	RefusedUnknownAction RefusalKind = "unknown_action"

	// RefusedRunEnded: the button's run has ended. Run, State (RunState).
	RefusedRunEnded RefusalKind = "run_ended"
	// RefusedOtherRun: the button is another run's. Run, Active (string).
	RefusedOtherRun RefusalKind = "other_run"
	// RefusedNoRun: the button's run is not active and no other is. Run.
	RefusedNoRun RefusalKind = "no_run"
	// RefusedStaleStep: the button's step no longer waits. Step (int), Current (int),
	// Title (plan.Step: the current step, worded by its title), State (StepState, the current step's).
	RefusedStaleStep RefusalKind = "stale_step"
	// RefusedStaleAttempt: the button is of an older attempt. Step, Attempt, Current (int,
	// the current attempt).
	RefusedStaleAttempt RefusalKind = "stale_attempt"

	// RefusedCancelNotWaiting: Cancel of a step that does not run. Step, State.
	RefusedCancelNotWaiting RefusalKind = "cancel_not_waiting"
	// RefusedCancelChanging: Cancel of a step that changes something. Step, Title (plan.Step, worded by its title).
	RefusedCancelChanging RefusalKind = "cancel_changing"
	// RefusedCancelling: the step's wait is already being ended. Step.
	RefusedCancelling RefusalKind = "cancelling"
	// RefusedAbortRunning: Abort while a step runs. Step, Title (plan.Step, worded by its title).
	RefusedAbortRunning RefusalKind = "abort_running"

	// RefusedApproveDecided: the attempt was decided. Step, Attempt, State.
	RefusedApproveDecided RefusalKind = "approve_decided"
	// RefusedApproveStuck: the step failed, was interrupted or expired. Step, State.
	RefusedApproveStuck RefusalKind = "approve_stuck"
	// RefusedApproveState: the step does not await approval. Step, State.
	RefusedApproveState RefusalKind = "approve_state"
	// RefusedApproveOwnRun: the initiator cannot approve.
	RefusedApproveOwnRun RefusalKind = "approve_own_run"
	// RefusedApproveTwice: Step, More (int: approvals still needed).
	RefusedApproveTwice RefusalKind = "approve_twice"

	// RefusedRetryState: only a stuck step is retried. Step, State.
	RefusedRetryState RefusalKind = "retry_state"
	// RefusedRejectState: Step, State.
	RefusedRejectState RefusalKind = "reject_state"

	// RefusedSkipState: Step, State.
	RefusedSkipState RefusalKind = "skip_state"
	// RefusedSkipOwnRun: the initiator cannot skip.
	RefusedSkipOwnRun RefusalKind = "skip_own_run"
	// RefusedSkipReason: a skip needs a reason. Step.
	RefusedSkipReason RefusalKind = "skip_reason"
	// RefusedSkipTwice: Step, More (int: skips still needed).
	RefusedSkipTwice RefusalKind = "skip_twice"

	// RefusedOverrideState: the step has not failed. Step, State.
	RefusedOverrideState RefusalKind = "override_state"
	// RefusedOverrideNoChecks: the attempt recorded no checks. Step, Title (plan.Step, worded by its title), Attempt.
	RefusedOverrideNoChecks RefusalKind = "override_no_checks"
	// RefusedOverrideUnknown: no such check. Step, Check, Failed ([]string: the IDs of
	// the checks that failed).
	RefusedOverrideUnknown RefusalKind = "override_unknown"
	// RefusedOverrideNotFailed: the check did not fail. Step, Check, Attempt, Outcome
	// (CheckOutcome).
	RefusedOverrideNotFailed RefusalKind = "override_not_failed"
	// RefusedOverrideOwnRun: the initiator cannot override.
	RefusedOverrideOwnRun RefusalKind = "override_own_run"
	// RefusedOverrideReason: an override needs a reason. Check.
	RefusedOverrideReason RefusalKind = "override_reason"
	// RefusedOverrideDone: the check is already overridden. Check, By ([]string: users),
	// Blocking ([]string: the IDs of the checks still blocking).
	RefusedOverrideDone RefusalKind = "override_done"
	// RefusedOverrideTwice: Check, More (int: votes still needed).
	RefusedOverrideTwice RefusalKind = "override_twice"
)

// refusalCodes classify the kinds for metrics (cutoverbot_refusals_total's reason):
// a small, stable set.
var refusalCodes = map[RefusalKind]string{
	RefusedPlan: "bad_input", RefusedShuttingDown: "shutting_down", RefusedBusy: "busy",
	RefusedNotMaintainer: "not_maintainer", RefusedUnknownAction: "bad_input",
	RefusedRunEnded: "stale", RefusedOtherRun: "stale", RefusedNoRun: "stale", RefusedStaleStep: "stale", RefusedStaleAttempt: "stale",
	RefusedCancelNotWaiting: "state", RefusedCancelChanging: "running", RefusedCancelling: "decided", RefusedAbortRunning: "running",
	RefusedApproveDecided: "decided", RefusedApproveStuck: "state", RefusedApproveState: "state", RefusedApproveOwnRun: "own_run", RefusedApproveTwice: "duplicate",
	RefusedRetryState: "state", RefusedRejectState: "state",
	RefusedSkipState: "state", RefusedSkipOwnRun: "own_run", RefusedSkipReason: "reason_required", RefusedSkipTwice: "duplicate",
	RefusedOverrideState: "state", RefusedOverrideNoChecks: "state", RefusedOverrideUnknown: "bad_input", RefusedOverrideNotFailed: "state",
	RefusedOverrideOwnRun: "own_run", RefusedOverrideReason: "reason_required", RefusedOverrideDone: "decided", RefusedOverrideTwice: "duplicate",
}

// RefusalKinds lists every kind, for the transport's tests (each must have words).
func RefusalKinds() []RefusalKind {
	return slices.Sorted(maps.Keys(refusalCodes))
}

// Refusal is a user-facing "no": nothing changed. Kind says why and Fields hold the
// facts the transport words it with; Code classifies it for metrics (not_maintainer,
// busy, stale, own_run, ...).
type Refusal struct {
	Kind   RefusalKind
	Code   string
	Fields map[string]any
}

// Error is for logs; people read the transport's wording of Kind.
func (r *Refusal) Error() string {
	keys := slices.Sorted(maps.Keys(r.Fields))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, r.Fields[k])
	}
	return fmt.Sprintf("refused (%s) %s", r.Kind, strings.Join(parts, " "))
}

// F is a refusal's or an outcome's facts.
type F = map[string]any

func refuse(kind RefusalKind, fields F) error {
	code, ok := refusalCodes[kind]
	if !ok {
		panic("engine: refusal kind without a code: " + string(kind)) // a bug: every kind is in refusalCodes
	}
	return &Refusal{Kind: kind, Code: code, Fields: fields}
}

// IsRefusal reports whether err is a user-facing refusal.
func IsRefusal(err error) (*Refusal, bool) {
	var r *Refusal
	ok := errors.As(err, &r)
	return r, ok
}

// OutcomeKind names what a decision did.
type OutcomeKind string

const (
	// DidApprove: an approval was recorded. Have, Need (int).
	DidApprove OutcomeKind = "approval_recorded"
	// DidRun: the step is approved and runs.
	DidRun OutcomeKind = "approved"
	// DidRetryAwaiting: the new attempt waits for another maintainer's approval.
	DidRetryAwaiting OutcomeKind = "retry_requested"
	// DidRetry: the new attempt runs.
	DidRetry OutcomeKind = "retrying"
	// DidProposeSkip: a skip was proposed. More (int: skips still needed).
	DidProposeSkip OutcomeKind = "skip_proposed"
	// DidSkip: the step was skipped.
	DidSkip OutcomeKind = "skipped"
	// DidEndWait: the waiting step is being ended and will offer Retry, Skip and Abort.
	DidEndWait OutcomeKind = "wait_ending"
	// DidEndWaitAbort: the waiting step is being ended and the rollback follows.
	DidEndWaitAbort OutcomeKind = "wait_ending_abort"
	// DidStopRollback: a rollback was stopped; the run has ended.
	DidStopRollback OutcomeKind = "rollback_stopped"
	// DidEndUnchanged: the run has ended; nothing had changed.
	DidEndUnchanged OutcomeKind = "ended_unchanged"
	// DidPlanRollback: the run stopped and a rollback plan follows. Steps (int).
	DidPlanRollback OutcomeKind = "rollback_planned"
	// DidVoteOverride: an override vote was recorded. Check, More (int).
	DidVoteOverride OutcomeKind = "override_recorded"
	// DidOverrideBlocked: the check is overridden; others still block. Check, Step,
	// Blocking ([]string).
	DidOverrideBlocked OutcomeKind = "override_blocked"
	// DidOverrideRerun: every failed check is overridden; the read-only step runs
	// again. Check, Step.
	DidOverrideRerun OutcomeKind = "override_rerun"
	// DidOverrideAwait: every failed check is overridden; the step waits for approval
	// to run again. Check, Step.
	DidOverrideAwait OutcomeKind = "override_await"
)

// OutcomeKinds lists every kind, for the transport's tests.
func OutcomeKinds() []OutcomeKind {
	return []OutcomeKind{DidApprove, DidRun, DidRetryAwaiting, DidRetry, DidProposeSkip, DidSkip, DidEndWait, DidEndWaitAbort,
		DidStopRollback, DidEndUnchanged, DidPlanRollback, DidVoteOverride, DidOverrideBlocked, DidOverrideRerun, DidOverrideAwait}
}

// Outcome is what an accepted decision did, for the person who made it.
type Outcome struct {
	Kind   OutcomeKind
	Fields map[string]any
}

func did(kind OutcomeKind, fields F) Outcome { return Outcome{Kind: kind, Fields: fields} }
