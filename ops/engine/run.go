// Package engine runs a cutover: it holds each run's state, asks for approvals, runs a
// step only once enough distinct maintainers other than the initiator approved that
// attempt, and writes every transition to the store before acting on it. It knows
// nothing of Slack or Kubernetes: transports and executors plug in through interfaces.
package engine

import (
	"encoding/json"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// StepState is where a step stands.
type StepState string

const (
	Pending     StepState = "pending"
	Awaiting    StepState = "awaiting_approval"
	Approved    StepState = "approved"
	Running     StepState = "running"
	Succeeded   StepState = "succeeded"
	Failed      StepState = "failed"
	Skipped     StepState = "skipped"
	Interrupted StepState = "interrupted"
	Rejected    StepState = "rejected"
	Expired     StepState = "expired"
)

// StepStates lists every step state, for the transport's tests (each has words).
func StepStates() []StepState {
	return []StepState{Pending, Awaiting, Approved, Running, Succeeded, Failed, Skipped, Interrupted, Rejected, Expired}
}

// Stuck reports whether the step waits for Retry, Skip or Abort.
func (s StepState) Stuck() bool { return s == Failed || s == Interrupted || s == Expired }

// Final reports whether the step will not change again.
func (s StepState) Final() bool { return s == Succeeded || s == Skipped || s == Rejected }

// RunState is where a run stands.
type RunState string

const (
	Active     RunState = "active"
	Completed  RunState = "completed"
	RolledBack RunState = "rolled_back"
	Aborted    RunState = "aborted"
	Stopped    RunState = "rejected"
)

// RunStates lists every run state, for the transport's tests (each has words).
func RunStates() []RunState { return []RunState{Active, Completed, RolledBack, Aborted, Stopped} }

// Action is what a maintainer decides.
type Action string

const (
	Approve Action = "approve"
	Reject  Action = "reject"
	Retry   Action = "retry"
	Skip    Action = "skip"
	Abort   Action = "abort"
	// Cancel ends a step that only waits (for DNS, TLS, a merge); it then fails, with
	// Retry, Skip and Abort.
	Cancel Action = "cancel"
)

// Decision is one recorded click or command: who, when, on which step and attempt.
type Decision struct {
	Step    int       `json:"step"`
	StepID  string    `json:"step_id"`
	Attempt int       `json:"attempt"`
	User    string    `json:"user"`
	Action  Action    `json:"action"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`

	// Check is the check an Override names.
	Check string `json:"check,omitempty"`
}

// Output is what a step reports: its account as data (Report, which the transport
// words), its result (what later steps, rollback and metrics read: a recorded replica
// count, a dump's sha256), and longer details for a file.
type Output struct {
	Report *Report `json:"report,omitempty"`
	// Summary is a one-line account in words: runs stored by earlier versions have it,
	// and the steps not yet reporting data (dump, restore, a failed snapshot diff).
	Summary string `json:"summary,omitempty"`
	// Left lists what earlier attempts had left running, which the executor stopped
	// before a step without a report ran; a report carries its own (Report.Left). Runs
	// stored by earlier versions have it in Summary's words.
	Left []report.Stopped `json:"left,omitempty"`
	// Own is what the executor stopped of this attempt after its context ended.
	Own    *report.StoppedOwn `json:"own,omitempty"`
	Result json.RawMessage    `json:"result,omitempty"`
	// Values is the untyped result of runs stored by earlier versions; read it
	// through ResultOf.
	Values  map[string]string `json:"values,omitempty"`
	Details string            `json:"details,omitempty"`
}

// StepRun is one step of one run.
type StepRun struct {
	Step      plan.Step `json:"step"`
	Rollback  bool      `json:"rollback,omitempty"`
	State     StepState `json:"state"`
	Attempt   int       `json:"attempt"`
	Approvals []string  `json:"approvals,omitempty"` // of the current attempt
	// SkipVotes are the maintainers who chose Skip for the current attempt, the
	// proposer first; SkipReasons their reasons, in the same order.
	SkipVotes     []string  `json:"skip_votes,omitempty"`
	SkipReasons   []string  `json:"skip_reasons,omitempty"`
	AwaitingSince time.Time `json:"awaiting_since,omitzero"`
	Started       time.Time `json:"started,omitzero"`
	Ended         time.Time `json:"ended,omitzero"`
	Output        Output    `json:"output,omitzero"`
	Error         string    `json:"error,omitempty"`
	// Failure is why the attempt failed, as data (the transport words it); nil when the
	// executor's error carried none, or in runs stored by earlier versions (Error then).
	Failure *Failure `json:"failure,omitempty"`
	Reason  string   `json:"reason,omitempty"` // why it was skipped or rejected (expired, interrupted: runs of earlier versions)
	// Cause is why the engine failed, interrupted or expired the current attempt.
	Cause      *Cause `json:"cause,omitempty"`
	Executions int    `json:"executions"` // how many times the executor was started
	// Waiting says the running attempt only waits (DNS, TLS, a merge by a person): Abort
	// and Cancel may end it.
	Waiting bool `json:"waiting,omitempty"`

	// Overrides are the votes to let failed checks of this step pass (override.go),
	// kept across attempts.
	Overrides []CheckOverride `json:"overrides,omitempty"`
}

// Duration is how long the step ran.
func (s StepRun) Duration() time.Duration {
	if s.Started.IsZero() || s.Ended.IsZero() {
		return 0
	}
	return s.Ended.Sub(s.Started)
}

// Run is one cutover: origin, destination, initiator, plan, and per step its state.
type Run struct {
	ID          string    `json:"id"`
	Origin      string    `json:"origin"`
	Destination string    `json:"destination"`
	Initiator   string    `json:"initiator"`
	Created     time.Time `json:"created"`
	Ended       time.Time `json:"ended,omitzero"`
	State       RunState  `json:"state"`
	Plan        plan.Plan `json:"plan"`
	// Steps holds the forward steps, then any rollback steps appended by an abort.
	Steps     []StepRun  `json:"steps"`
	Current   int        `json:"current"`
	Decisions []Decision `json:"decisions"`
	// Notes belong to the transport (message timestamps); the engine keeps them.
	Notes map[string]string `json:"notes,omitempty"`
	// Version counts the writes of this run; a store refuses to go backwards.
	Version int64 `json:"version"`
}

// Clone returns a deep copy, so a change can be prepared and thrown away if the
// store refuses it.
func (r *Run) Clone() *Run {
	b, err := json.Marshal(r)
	if err != nil {
		panic("engine: run does not marshal: " + err.Error()) // a bug: every field is plain data
	}
	var c Run
	if err := json.Unmarshal(b, &c); err != nil {
		panic("engine: run does not unmarshal: " + err.Error())
	}
	return &c
}

// CurrentStep returns the step the run stands at, or nil when it has ended.
func (r *Run) CurrentStep() *StepRun {
	if r.State != Active || r.Current < 0 || r.Current >= len(r.Steps) {
		return nil
	}
	return &r.Steps[r.Current]
}

// Output returns the newest output of the step with that ID and whether that step
// succeeded. A failed step's output is returned too: a scale that failed while waiting
// still recorded the count it changed from, which its undo needs.
func (r *Run) Output(stepID string) (Output, bool) {
	for i := len(r.Steps) - 1; i >= 0; i-- {
		s := r.Steps[i]
		if s.Step.ID == stepID && (s.State == Succeeded || s.Output.HasResult()) {
			return s.Output, s.State == Succeeded
		}
	}
	return Output{}, false
}

// InRollback reports whether the run is undoing what it did.
func (r *Run) InRollback() bool {
	s := r.CurrentStep()
	return s != nil && s.Rollback
}

// Elapsed is the run's age at now, or its length once ended.
func (r *Run) Elapsed(now time.Time) time.Duration {
	if !r.Ended.IsZero() {
		return r.Ended.Sub(r.Created)
	}
	return now.Sub(r.Created)
}

// Note returns a transport note.
func (r *Run) Note(key string) string { return r.Notes[key] }
