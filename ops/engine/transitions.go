package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// The methods below run with e.mu held. Each prepares a change on a clone, stores
// it, and only then makes it the engine's state and acts on it.

// setState moves step i of r to a state and records the transition.
func (e *Engine) setState(r *Run, i int, to StepState, audit *[]AuditEntry, user, reason string) {
	s := &r.Steps[i]
	*audit = append(*audit, AuditEntry{At: e.now(), RunID: r.ID, Step: i + 1, StepID: s.Step.ID, Attempt: s.Attempt,
		User: user, Event: "step." + string(to), From: string(s.State), To: string(to), Reason: reason})
	s.State = to
	if reason != "" && (to == Skipped || to == Rejected) {
		s.Reason = reason
	}
}

// setNoted moves step i of r to a state for a reason of the engine's own, which the
// audit log keeps as a code.
func (e *Engine) setNoted(r *Run, i int, to StepState, audit *[]AuditEntry, note AuditNote) {
	e.setState(r, i, to, audit, "", "")
	(*audit)[len(*audit)-1].Note = note
}

// setCaused moves step i of r to a state for a cause of the engine's own.
func (e *Engine) setCaused(r *Run, i int, to StepState, audit *[]AuditEntry, user string, c Cause) {
	e.setState(r, i, to, audit, user, c.audit())
	r.Steps[i].Cause = &c
}

// advance makes step i current: awaiting approval, or running at once when it is a
// read-only AutoRun step. Past the last step the run ends.
func (e *Engine) advance(r *Run, i int, audit *[]AuditEntry) {
	if i >= len(r.Steps) {
		end := Completed
		if r.Steps[len(r.Steps)-1].Rollback {
			end = RolledBack
		}
		e.endRun(r, end, audit, "", "")
		return
	}
	r.Current = i
	s := &r.Steps[i]
	s.Attempt++
	s.Approvals, s.SkipVotes, s.SkipReasons = nil, nil, nil
	s.AwaitingSince = e.now()
	if s.Step.AutoRun {
		e.setNoted(r, i, Running, audit, NoteAutoRun)
		s.Started = e.now()
		s.Executions++
		return
	}
	e.setState(r, i, Awaiting, audit, "", "")
}

func (e *Engine) endRun(r *Run, state RunState, audit *[]AuditEntry, user, reason string) {
	*audit = append(*audit, AuditEntry{At: e.now(), RunID: r.ID, User: user, Event: "run." + string(state), From: string(r.State), To: string(state), Reason: reason})
	r.State = state
	r.Ended = e.now()
}

func (e *Engine) stamp(r *Run, audit []AuditEntry) []AuditEntry {
	for i := range audit {
		audit[i].RunID = r.ID
	}
	return audit
}

// commit stores r as the next version and makes it the engine's state.
func (e *Engine) commit(ctx context.Context, r *Run, audit []AuditEntry) error {
	if e.storeBroken {
		return fmt.Errorf("store run %s: the store failed earlier; the bot is stopping", r.ID)
	}
	if err := ctx.Err(); err != nil {
		// The caller gave up (shutdown, a request's deadline) before anything was written.
		return fmt.Errorf("store run %s: %w", r.ID, err)
	}
	r.Version++
	audit = e.stamp(r, audit)
	// A write that fails is retried with backoff (a store write is idempotent: the same
	// version written twice is one write); a conflict is not retried. One that cannot
	// land in time stops the bot, rather than leave a step approved or running that no
	// one may decide on any more.
	var last error
	// StoreRetry bounds the retrying, not one write: that has the caller's context and
	// the store's own bound on a call.
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, e.opts.StoreRetry, true, func(context.Context) (bool, error) {
		last = e.opts.Store.Save(ctx, r, audit)
		if errors.Is(last, ErrStaleWrite) {
			return false, last
		}
		return last == nil, nil
	})
	if err != nil {
		if last == nil {
			last = err
		}
		e.storeBroken = true
		if ctx.Err() != nil {
			// Cut short by the caller: the write may have landed, so the engine's copy of
			// the run may be behind the store's, and every later write would be refused.
			e.opts.Logger.Error("a write of the run was cut short and may have landed; stopping", "run", r.ID, "version", r.Version, "err", last)
		} else {
			e.opts.Logger.Error("the store refuses the run's writes; stopping", "run", r.ID, "version", r.Version, "err", last)
		}
		if e.opts.OnStoreFailure != nil {
			go e.opts.OnStoreFailure(last)
		}
		return fmt.Errorf("store run %s: %w", r.ID, last)
	}
	if r.State == Active {
		e.run = r
	} else {
		e.run = nil
	}
	return nil
}

// afterCommit starts the current step when the stored state says it is running or
// approved. Only stored states are acted on.
func (e *Engine) afterCommit(ctx context.Context, r *Run) {
	s := r.CurrentStep()
	if s == nil {
		e.ended(r)
		return
	}
	switch s.State {
	case Awaiting:
		e.emit(EventAwaiting, r, r.Current, nil)
	case Approved:
		c := r.Clone()
		var audit []AuditEntry
		e.setState(c, c.Current, Running, &audit, "", "")
		c.Steps[c.Current].Started = e.now()
		c.Steps[c.Current].Executions++
		if err := e.commit(ctx, c, audit); err != nil {
			e.opts.Logger.Error("could not record the step as running; it was not started", "run", r.ID, "step", s.Step.ID, "err", err)
			return
		}
		e.launch(c)
	case Running:
		e.launch(r)
	}
}

// ended emits EventEnded for r, after OnEnd.
func (e *Engine) ended(r *Run) {
	if e.opts.OnEnd == nil {
		e.emit(EventEnded, r, -1, nil)
		return
	}
	snapshot := r.Clone()
	base := e.baseCtx
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ctx, cancel := context.WithTimeout(base, endTimeout)
		defer cancel()
		rep := e.opts.OnEnd(ctx, snapshot)
		e.events.push(base, Event{Kind: EventEnded, Run: snapshot.Clone(), Step: -1, Report: rep})
	}()
}

// endTimeout bounds OnEnd.
const endTimeout = 2 * time.Minute

// launch runs the current step of r (stored as running) off the caller's goroutine.
func (e *Engine) launch(r *Run) {
	i, s := r.Current, r.Steps[r.Current]
	base := e.baseCtx
	ctx, cancel := context.WithCancel(base)
	key := fmt.Sprintf("%s/%d/%d", r.ID, i, s.Attempt)
	e.running[key] = cancel
	e.emit(EventRunning, r, i, nil)
	snapshot := r.Clone()
	var waiting atomic.Bool
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer cancel()
		x := StepContext{Run: snapshot, Index: i, Step: s.Step, Attempt: s.Attempt,
			ProgressReport: func(v Reported) {
				ev := snapshot
				if waiting.Load() {
					ev = snapshot.Clone()
					ev.Steps[i].Waiting = true
				}
				e.events.push(base, Event{Kind: EventProgress, Run: ev.Clone(), Step: i, Progress: ReportOf(v)})
			},
			Record: func(v any) error { return e.record(ctx, r.ID, i, s.Attempt, v) },
			OnlyWaiting: func() {
				if !waiting.Swap(true) {
					e.markWaiting(ctx, r.ID, i, s.Attempt)
				}
			}}
		out, err := e.execute(ctx, x)
		// The result is stored even when the step was cancelled (shutdown, a Cancel):
		// that is when it must say the step was interrupted.
		e.finish(context.WithoutCancel(ctx), r.ID, i, s.Attempt, out, err, ctx.Err() != nil)
		e.mu.Lock()
		delete(e.running, key)
		e.mu.Unlock()
	}()
}

// markWaiting stores that a running attempt only waits now.
func (e *Engine) markWaiting(ctx context.Context, runID string, i, attempt int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.run
	if r == nil || r.ID != runID || r.Current != i || r.Steps[i].Attempt != attempt || r.Steps[i].State != Running {
		return
	}
	c := r.Clone()
	c.Steps[i].Waiting = true
	if err := e.commit(ctx, c, nil); err != nil {
		e.opts.Logger.Error("could not record that the step only waits; Abort stays refused until it ends", "run", runID, "step", i+1, "err", err)
	}
}

// cancelWait ends the wait of the running step (Cancel, or Abort of a waiting step):
// the decision is stored, the step's context cancelled; when the step has returned,
// finish fails it, and for an Abort goes on to stop the run.
func (e *Engine) cancelWait(ctx context.Context, r *Run, q Request) (Outcome, error) {
	s := r.Steps[q.Step]
	key := fmt.Sprintf("%s/%d/%d", r.ID, q.Step, s.Attempt)
	cancel, running := e.running[key]
	switch {
	case s.State != Running || !running:
		return Outcome{}, refuse(RefusedCancelNotWaiting, F{"Step": q.Step + 1, "State": s.State})
	case !s.Waiting:
		return Outcome{}, refuse(RefusedCancelChanging, F{"Step": q.Step + 1, "Title": s.Step})
	}
	if _, ok := e.cancelling[key]; ok {
		return Outcome{}, refuse(RefusedCancelling, F{"Step": q.Step + 1})
	}
	c := r.Clone()
	d := e.decision(c, q)
	if err := e.commit(ctx, c, []AuditEntry{decisionAudit(c, d)}); err != nil {
		return Outcome{}, err
	}
	e.cancelling[key] = q
	cancel()
	e.emit(EventDecided, c, q.Step, &d)
	if q.Action == Abort {
		return did(DidEndWaitAbort, nil), nil
	}
	return did(DidEndWait, nil), nil
}

// record stores v as the result so far of a running attempt.
func (e *Engine) record(ctx context.Context, runID string, i, attempt int, v any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.run
	if r == nil || r.ID != runID || r.Current != i || r.Steps[i].Attempt != attempt || r.Steps[i].State != Running {
		return fmt.Errorf("step %d attempt %d is no longer running; nothing recorded", i+1, attempt)
	}
	c := r.Clone()
	c.Steps[i].Output = Output{}.WithResult(v)
	return e.commit(ctx, c, nil)
}

func (e *Engine) execute(ctx context.Context, x StepContext) (out Output, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = report.Fail(report.Crashed{Step: x.Step.ID, Panic: fmt.Sprint(p)}, nil)
		}
	}()
	return e.opts.Executor.Execute(ctx, x)
}

// finish records a step's result and moves the run on.
func (e *Engine) finish(ctx context.Context, runID string, i, attempt int, out Output, err error, cancelled bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.run
	if r == nil || r.ID != runID || r.Current != i || r.Steps[i].Attempt != attempt || r.Steps[i].State != Running {
		e.opts.Logger.Error("a step finished that the engine no longer runs; result dropped", "run", runID, "step", i+1, "attempt", attempt)
		return
	}
	c := r.Clone()
	var audit []AuditEntry
	s := &c.Steps[i]
	s.Ended = e.now()
	key := fmt.Sprintf("%s/%d/%d", runID, i, attempt)
	ended, endedByDecision := e.cancelling[key]
	delete(e.cancelling, key)
	if !out.HasResult() {
		// A result once recorded (by an earlier attempt, or by Record during this one) is
		// only replaced by a new one: a retry that fails early must not lose the backup
		// or the replica count an earlier attempt recorded.
		out.Result, out.Values = s.Output.Result, s.Output.Values
	}
	s.Output = out
	s.Waiting = false
	switch {
	case endedByDecision && err == nil && ended.Action == Abort:
		// The wait ended by itself as the Abort came: the run stops all the same.
		s.Error, s.Failure = "", nil
		e.setState(c, i, Succeeded, &audit, "", auditSummary(out))
		e.stop(c, ended.User, abortReason(ended), Aborted, &audit)
	case endedByDecision && err != nil && !e.closing:
		s.Error, s.Failure = "", nil
		e.setCaused(c, i, Failed, &audit, ended.User, Cause{Kind: CauseWaitEnded, User: ended.User, Reason: ended.Reason})
		if ended.Action == Abort {
			e.stop(c, ended.User, abortReason(ended), Aborted, &audit)
		}
	case err != nil && cancelled && e.closing:
		e.setCaused(c, i, Interrupted, &audit, "", Cause{Kind: CauseShutDown, Err: err.Error()})
		s.Error, s.Failure = err.Error(), FailureOf(err)
	case err != nil:
		e.setState(c, i, Failed, &audit, "", err.Error())
		s.Error, s.Failure = err.Error(), FailureOf(err)
	default:
		s.Error, s.Failure = "", nil
		e.setState(c, i, Succeeded, &audit, "", auditSummary(out))
		e.advance(c, i+1, &audit)
	}
	if cerr := e.commit(ctx, c, audit); cerr != nil {
		e.opts.Logger.Error("could not record a step's result; it will show as interrupted after a restart", "run", runID, "step", i+1, "err", cerr)
		return
	}
	switch c.Steps[i].State {
	case Succeeded:
		e.emit(EventSucceeded, c, i, nil)
	case Failed:
		e.emit(EventFailed, c, i, nil)
	case Interrupted:
		e.emit(EventInterrupted, c, i, nil)
	}
	if !e.closing {
		e.afterCommit(ctx, c)
	}
}

func (e *Engine) decision(r *Run, q Request) Decision {
	d := Decision{Step: q.Step, StepID: r.Steps[q.Step].Step.ID, Attempt: r.Steps[q.Step].Attempt, User: q.User, Action: q.Action, Reason: q.Reason, At: e.now()}
	r.Decisions = append(r.Decisions, d)
	return d
}

func decisionAudit(r *Run, d Decision) AuditEntry {
	return AuditEntry{At: d.At, RunID: r.ID, Step: d.Step + 1, StepID: d.StepID, Attempt: d.Attempt, User: d.User, Event: "decision." + string(d.Action), Reason: d.Reason}
}

func (e *Engine) approve(ctx context.Context, r *Run, q Request) (Outcome, error) {
	s := r.Steps[q.Step]
	switch {
	case s.State == Approved || s.State == Running || s.State.Final():
		return Outcome{}, refuse(RefusedApproveDecided, F{"Step": q.Step + 1, "Attempt": s.Attempt, "State": s.State})
	case s.State.Stuck():
		return Outcome{}, refuse(RefusedApproveStuck, F{"Step": q.Step + 1, "State": s.State})
	case s.State != Awaiting:
		return Outcome{}, refuse(RefusedApproveState, F{"Step": q.Step + 1, "State": s.State})
	case q.User == r.Initiator:
		return Outcome{}, refuse(RefusedApproveOwnRun, nil)
	case slices.Contains(s.Approvals, q.User):
		return Outcome{}, refuse(RefusedApproveTwice, F{"Step": q.Step + 1, "More": e.opts.ApprovalsRequired - len(s.Approvals)})
	}
	c := r.Clone()
	d := e.decision(c, q)
	audit := []AuditEntry{decisionAudit(c, d)}
	cs := &c.Steps[q.Step]
	cs.Approvals = append(cs.Approvals, q.User)
	msg := did(DidApprove, F{"Have": len(cs.Approvals), "Need": e.opts.ApprovalsRequired})
	if len(cs.Approvals) >= e.opts.ApprovalsRequired {
		e.setState(c, q.Step, Approved, &audit, q.User, "")
		msg = did(DidRun, nil)
	}
	if err := e.commit(ctx, c, audit); err != nil {
		return Outcome{}, err
	}
	e.emit(EventDecided, c, q.Step, &d)
	e.afterCommit(ctx, c)
	return msg, nil
}

func (e *Engine) retry(ctx context.Context, r *Run, q Request) (Outcome, error) {
	s := r.Steps[q.Step]
	if !s.State.Stuck() {
		return Outcome{}, refuse(RefusedRetryState, F{"Step": q.Step + 1, "State": s.State})
	}
	c := r.Clone()
	d := e.decision(c, q)
	audit := []AuditEntry{decisionAudit(c, d)}
	cs := &c.Steps[q.Step]
	cs.Attempt++
	cs.Approvals, cs.Error, cs.Reason, cs.Cause, cs.Failure = nil, "", "", nil, nil
	cs.SkipVotes, cs.SkipReasons = nil, nil
	cs.AwaitingSince = e.now()
	e.setState(c, q.Step, Awaiting, &audit, q.User, "")
	msg := did(DidRetryAwaiting, nil)
	// A Retry click by someone other than the initiator is their approval of the new attempt.
	if q.User != c.Initiator {
		cs.Approvals = []string{q.User}
		audit = append(audit, AuditEntry{At: d.At, RunID: c.ID, Step: q.Step + 1, StepID: cs.Step.ID, Attempt: cs.Attempt, User: q.User, Event: "decision.approve", Note: NoteByRetry})
		if len(cs.Approvals) >= e.opts.ApprovalsRequired {
			e.setState(c, q.Step, Approved, &audit, q.User, "")
			msg = did(DidRetry, nil)
		}
	}
	if err := e.commit(ctx, c, audit); err != nil {
		return Outcome{}, err
	}
	e.emit(EventDecided, c, q.Step, &d)
	e.afterCommit(ctx, c)
	return msg, nil
}

// skipsNeeded is how many distinct maintainers other than the initiator must choose
// Skip: as many as running the step needs, but for an announcement, which changes
// nothing and checks nothing.
func (e *Engine) skipsNeeded(s StepRun) int {
	if s.Step.Kind == plan.KindAnnounce {
		return 1
	}
	return e.opts.ApprovalsRequired
}

// skip proposes, or confirms, skipping step q.Step: the step is skipped once as many
// distinct maintainers other than the initiator as running it needs have chosen Skip,
// each with a reason.
func (e *Engine) skip(ctx context.Context, r *Run, q Request) (Outcome, error) {
	s := r.Steps[q.Step]
	switch {
	case s.State != Awaiting && !s.State.Stuck():
		return Outcome{}, refuse(RefusedSkipState, F{"Step": q.Step + 1, "State": s.State})
	case q.User == r.Initiator:
		return Outcome{}, refuse(RefusedSkipOwnRun, nil)
	case q.Reason == "":
		return Outcome{}, refuse(RefusedSkipReason, F{"Step": q.Step + 1})
	case slices.Contains(s.SkipVotes, q.User):
		return Outcome{}, refuse(RefusedSkipTwice, F{"Step": q.Step + 1, "More": e.skipsNeeded(s) - len(s.SkipVotes)})
	}
	c := r.Clone()
	d := e.decision(c, q)
	audit := []AuditEntry{decisionAudit(c, d)}
	cs := &c.Steps[q.Step]
	cs.SkipVotes, cs.SkipReasons = append(cs.SkipVotes, q.User), append(cs.SkipReasons, q.Reason)
	if need := e.skipsNeeded(*cs); len(cs.SkipVotes) < need {
		if err := e.commit(ctx, c, audit); err != nil {
			return Outcome{}, err
		}
		e.emit(EventDecided, c, q.Step, &d)
		return did(DidProposeSkip, F{"More": need - len(cs.SkipVotes)}), nil
	}
	reason := q.Reason
	if len(cs.SkipReasons) > 1 {
		reason = strings.Join(cs.SkipReasons, "; ")
	}
	e.setState(c, q.Step, Skipped, &audit, q.User, reason)
	c.Steps[q.Step].Ended = e.now()
	e.advance(c, q.Step+1, &audit)
	if err := e.commit(ctx, c, audit); err != nil {
		return Outcome{}, err
	}
	e.emit(EventDecided, c, q.Step, &d)
	e.afterCommit(ctx, c)
	return did(DidSkip, nil), nil
}

func (e *Engine) reject(ctx context.Context, r *Run, q Request) (Outcome, error) {
	s := r.Steps[q.Step]
	if s.State != Awaiting && !s.State.Stuck() {
		return Outcome{}, refuse(RefusedRejectState, F{"Step": q.Step + 1, "State": s.State})
	}
	c := r.Clone()
	d := e.decision(c, q)
	audit := []AuditEntry{decisionAudit(c, d)}
	reason := q.Reason
	if reason == "" {
		reason = "rejected by " + q.User
	}
	e.setState(c, q.Step, Rejected, &audit, q.User, reason)
	c.Steps[q.Step].Ended = e.now()
	msg := e.stop(c, q.User, reason, Stopped, &audit)
	if err := e.commit(ctx, c, audit); err != nil {
		return Outcome{}, err
	}
	e.emit(EventDecided, c, q.Step, &d)
	e.afterCommit(ctx, c)
	return msg, nil
}

func abortReason(q Request) string {
	if q.Reason == "" {
		return "aborted by " + q.User
	}
	return q.Reason
}

func (e *Engine) abort(ctx context.Context, r *Run, q Request) (Outcome, error) {
	cur := r.CurrentStep()
	if cur != nil && cur.State == Running && cur.Waiting {
		return e.cancelWait(ctx, r, q)
	}
	if cur != nil && (cur.State == Running || cur.State == Approved) {
		return Outcome{}, refuse(RefusedAbortRunning, F{"Step": r.Current + 1, "Title": cur.Step})
	}
	c := r.Clone()
	q.Step = c.Current
	d := e.decision(c, q)
	audit := []AuditEntry{decisionAudit(c, d)}
	reason := abortReason(q)
	// A step that was not run is skipped; one that failed or was interrupted may have
	// partly run, and stays as it is so that the rollback plan undoes it.
	if cs := &c.Steps[c.Current]; !cs.State.Final() && cs.State != Failed && cs.State != Interrupted {
		e.setState(c, c.Current, Skipped, &audit, q.User, reason)
		cs.Ended = e.now()
	}
	msg := e.stop(c, q.User, reason, Aborted, &audit)
	if err := e.commit(ctx, c, audit); err != nil {
		return Outcome{}, err
	}
	e.emit(EventDecided, c, q.Step, &d)
	e.afterCommit(ctx, c)
	return msg, nil
}

// stop ends the forward phase. When something has changed, the rollback plan built
// from what ran is appended and its first step waits for approval; otherwise the
// run ends with state end. Stopping during a rollback abandons it.
func (e *Engine) stop(c *Run, user, reason string, end RunState, audit *[]AuditEntry) Outcome {
	if c.Steps[c.Current].Rollback {
		e.endRun(c, Aborted, audit, user, reason)
		(*audit)[len(*audit)-1].Note = NoteRollbackStopped
		return did(DidStopRollback, nil)
	}
	ran := map[string]plan.Ran{}
	for _, s := range c.Steps {
		switch s.State {
		case Succeeded:
			ran[s.Step.ID] = plan.Done
		case Failed, Interrupted:
			if s.Step.Mutates() {
				ran[s.Step.ID] = plan.Maybe
			}
		}
	}
	steps := plan.Rollback(c.Plan, ran)
	if len(steps) == 0 {
		e.endRun(c, end, audit, user, reason)
		return did(DidEndUnchanged, nil)
	}
	first := len(c.Steps)
	for _, s := range steps {
		c.Steps = append(c.Steps, StepRun{Step: s, State: Pending, Rollback: true})
	}
	*audit = append(*audit, AuditEntry{At: e.now(), RunID: c.ID, User: user, Event: "run.rollback_planned", Note: NoteRollbackPlanned, Steps: len(steps)})
	e.advance(c, first, audit)
	return did(DidPlanRollback, F{"Steps": len(steps)})
}
