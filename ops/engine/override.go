package engine

import (
	"context"
	"slices"
	"strings"
	"time"
)

// A step made of checks (preflight) reports one line per check as its result
// (Checks). A failed check can be overridden on its own: as many distinct maintainers
// other than the initiator as approving a step needs each choose Override for it with a
// reason. Votes are kept across attempts. Once every failed check of the attempt is
// overridden, the step runs again (it is read-only): the overridden checks no longer
// block, and every other check is enforced afresh. A check that passes again needs
// nothing; one that fails anew without an override blocks as before.

// Override lets one failed check of a step pass.
const Override Action = "override"

// CheckOutcome is how one check came out.
type CheckOutcome string

const (
	CheckPassed CheckOutcome = "passed"
	// CheckWarned is advice: the step goes on.
	CheckWarned CheckOutcome = "warning"
	CheckFailed CheckOutcome = "failed"
	// CheckOverridden failed, but enough maintainers chose to go on without it.
	CheckOverridden CheckOutcome = "overridden"
)

// Checks is the result of a step made of checks, one line per check in the order run.
type Checks struct {
	// Attempt is the attempt that ran the checks: an attempt that failed before it
	// recorded any keeps an earlier attempt's result, which is no ground for an override.
	Attempt int         `json:"attempt"`
	Checks  []CheckLine `json:"checks"`
}

// ChecksOf returns the check lines of step s's current attempt, if it recorded any.
func ChecksOf(s StepRun) (Checks, bool) {
	res, err := Decode[Checks](s.Output)
	return res, err == nil && len(res.Checks) > 0 && res.Attempt == s.Attempt
}

// CheckLine is one check of one attempt.
type CheckLine struct {
	// ID names the check in buttons, commands and overrides (a slug of its name).
	ID      string       `json:"id"`
	Name    string       `json:"name"`
	Outcome CheckOutcome `json:"outcome"`
	Message string       `json:"message"`
	// Report is what the check found, as data (a kind of ops/report) that the
	// transport words; Message holds the words of a check that returns them (and of
	// checks stored by earlier versions).
	Report *Report `json:"report,omitempty"`
	// Override is the accepted override, when Outcome is CheckOverridden.
	Override *CheckOverride `json:"override,omitempty"`
}

// Line returns the line of the check with that ID.
func (c Checks) Line(id string) (CheckLine, bool) {
	for _, l := range c.Checks {
		if l.ID == id {
			return l, true
		}
	}
	return CheckLine{}, false
}

// Failed lists the checks that failed.
func (c Checks) Failed() []CheckLine {
	var out []CheckLine
	for _, l := range c.Checks {
		if l.Outcome == CheckFailed {
			out = append(out, l)
		}
	}
	return out
}

// CheckOverride is the votes to let one check pass, kept across the step's attempts.
type CheckOverride struct {
	Check string         `json:"check"`
	Votes []OverrideVote `json:"votes"`
	// Accepted is set once enough distinct maintainers voted.
	Accepted bool `json:"accepted,omitempty"`
}

// OverrideVote is one maintainer's Override of a check.
type OverrideVote struct {
	User    string    `json:"user"`
	Reason  string    `json:"reason"`
	Attempt int       `json:"attempt"` // the failed attempt it was chosen on
	At      time.Time `json:"at"`
}

// Users lists who voted, in order.
func (o CheckOverride) Users() []string {
	out := make([]string, len(o.Votes))
	for i, v := range o.Votes {
		out[i] = v.User
	}
	return out
}

// OverrideOf returns the votes for check id of step s, if any.
func (s StepRun) OverrideOf(id string) (CheckOverride, bool) {
	for _, o := range s.Overrides {
		if o.Check == id {
			return o, true
		}
	}
	return CheckOverride{}, false
}

// Accepted returns the accepted override of check id of step s, if there is one.
func (s StepRun) Accepted(id string) (CheckOverride, bool) {
	o, ok := s.OverrideOf(id)
	return o, ok && o.Accepted
}

// Settle is a check's line as this step decides it: a failed check whose override was
// accepted is overridden (it does not block), any other line stays as it is.
func (s StepRun) Settle(l CheckLine) CheckLine {
	if l.Outcome != CheckFailed {
		return l
	}
	if o, ok := s.Accepted(l.ID); ok {
		l.Outcome, l.Override = CheckOverridden, &o
	}
	return l
}

// OverridesNeeded is how many distinct maintainers other than the initiator must
// override a check: as many as approving a step needs.
func (e *Engine) OverridesNeeded() int { return e.opts.ApprovalsRequired }

// override records q.User's Override of check q.Check of the failed step q.Step; it
// runs the step again when that makes every failed check of the attempt overridden.
func (e *Engine) override(ctx context.Context, r *Run, q Request) (Outcome, error) {
	s := r.Steps[q.Step]
	if s.State != Failed {
		return Outcome{}, refuse(RefusedOverrideState, F{"Step": q.Step + 1, "State": s.State})
	}
	res, ok := ChecksOf(s)
	if !ok {
		return Outcome{}, refuse(RefusedOverrideNoChecks, F{"Step": q.Step + 1, "Title": s.Step, "Attempt": s.Attempt})
	}
	line, ok := res.Line(q.Check)
	switch {
	case !ok:
		return Outcome{}, refuse(RefusedOverrideUnknown, F{"Step": q.Step + 1, "Check": q.Check, "Failed": checkIDs(res.Failed())})
	case line.Outcome != CheckFailed:
		return Outcome{}, refuse(RefusedOverrideNotFailed, F{"Step": q.Step + 1, "Check": q.Check, "Attempt": s.Attempt, "Outcome": line.Outcome})
	case q.User == r.Initiator:
		return Outcome{}, refuse(RefusedOverrideOwnRun, nil)
	case strings.TrimSpace(q.Reason) == "":
		return Outcome{}, refuse(RefusedOverrideReason, F{"Check": q.Check})
	}
	o, _ := s.OverrideOf(q.Check)
	need := e.OverridesNeeded()
	switch {
	case o.Accepted:
		return Outcome{}, refuse(RefusedOverrideDone, F{"Check": q.Check, "By": o.Users(), "Blocking": checkIDs(blocking(s, res))})
	case slices.Contains(o.Users(), q.User):
		return Outcome{}, refuse(RefusedOverrideTwice, F{"Check": q.Check, "More": need - len(o.Votes)})
	}

	c := r.Clone()
	d := e.decision(c, q)
	d.Check = q.Check
	c.Decisions[len(c.Decisions)-1] = d
	a := decisionAudit(c, d)
	a.Check = q.Check
	audit := []AuditEntry{a}
	cs := &c.Steps[q.Step]
	co := cs.override(q.Check)
	co.Votes = append(co.Votes, OverrideVote{User: q.User, Reason: q.Reason, Attempt: s.Attempt, At: d.At})
	msg := did(DidVoteOverride, F{"Check": q.Check, "More": need - len(co.Votes)})
	if len(co.Votes) >= need {
		co.Accepted = true
		audit = append(audit, AuditEntry{At: d.At, RunID: c.ID, Step: q.Step + 1, StepID: cs.Step.ID, Attempt: cs.Attempt, User: q.User,
			Event: "check.overridden", Check: q.Check, Reason: overrideReasons(*co)})
		if left := blocking(*cs, res); len(left) > 0 {
			msg = did(DidOverrideBlocked, F{"Check": q.Check, "Step": q.Step + 1, "Blocking": checkIDs(left)})
		} else {
			msg = did(e.again(c, q.Step, &audit), F{"Check": q.Check, "Step": q.Step + 1})
		}
	}
	if err := e.commit(ctx, c, audit); err != nil {
		return Outcome{}, err
	}
	e.emit(EventDecided, c, q.Step, &d)
	e.afterCommit(ctx, c)
	return msg, nil
}

// again starts a new attempt of step i once none of its failed checks blocks: at once
// when the step is read-only, or else waiting for approval as after a Retry.
func (e *Engine) again(c *Run, i int, audit *[]AuditEntry) OutcomeKind {
	cs := &c.Steps[i]
	cs.Attempt++
	cs.Approvals, cs.Error, cs.Reason, cs.Cause, cs.Failure = nil, "", "", nil, nil
	cs.SkipVotes, cs.SkipReasons = nil, nil
	cs.AwaitingSince = e.now()
	if cs.Step.AutoRun {
		e.setNoted(c, i, Running, audit, NoteOverriddenRerun)
		cs.Started = e.now()
		cs.Executions++
		return DidOverrideRerun
	}
	e.setNoted(c, i, Awaiting, audit, NoteOverriddenAwait)
	return DidOverrideAwait
}

// override returns the votes for check id of s, adding an empty record first.
func (s *StepRun) override(id string) *CheckOverride {
	for i := range s.Overrides {
		if s.Overrides[i].Check == id {
			return &s.Overrides[i]
		}
	}
	s.Overrides = append(s.Overrides, CheckOverride{Check: id})
	return &s.Overrides[len(s.Overrides)-1]
}

// blocking lists the failed checks of res that s has no accepted override for.
func blocking(s StepRun, res Checks) []CheckLine {
	var out []CheckLine
	for _, l := range res.Failed() {
		if _, ok := s.Accepted(l.ID); !ok {
			out = append(out, l)
		}
	}
	return out
}

func checkIDs(lines []CheckLine) []string {
	ids := make([]string, len(lines))
	for i, l := range lines {
		ids[i] = l.ID
	}
	return ids
}

// overrideReasons is "U1: why; U2: why".
func overrideReasons(o CheckOverride) string {
	parts := make([]string, len(o.Votes))
	for i, v := range o.Votes {
		parts[i] = v.User + ": " + v.Reason
	}
	return strings.Join(parts, "; ")
}
