package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/plan"
)

// Executor runs one step. It is told the run as it stood when the step started, and
// reports progress as it goes. Output is kept even with an error (a diff that blocks).
type Executor interface {
	Execute(ctx context.Context, x StepContext) (Output, error)
}

// StepContext is what an executor knows about the step it runs.
type StepContext struct {
	Run     *Run
	Index   int
	Step    plan.Step
	Attempt int
	// ProgressReport is what the step is doing now, as data (a type of ops/report),
	// which the transport words as it words a report.
	ProgressReport func(Reported)
	// Record stores v as this attempt's result so far, in the run, before the step goes
	// on: what a retry or an undo must find even if the bot dies before the step returns
	// (the backup taken before a restore). An error means nothing was stored, and the
	// step must not go on.
	Record func(v any) error
	// OnlyWaiting tells the engine that from now on the step only waits (its change is
	// made, or it makes none): Abort and Cancel may then end it.
	OnlyWaiting func()
}

// Policy says who is a maintainer.
type Policy interface {
	IsMaintainer(ctx context.Context, user string) (bool, error)
}

// Options wire an engine.
type Options struct {
	Store    Store
	Executor Executor
	Policy   Policy
	// Build resolves the plan for a pair of clusters (plan.Build bound to the config).
	Build             func(origin, dest string) (plan.Plan, error)
	ApprovalsRequired int
	ApprovalTimeout   time.Duration
	ReminderEvery     time.Duration
	Clock             func() time.Time
	Logger            *slog.Logger
	// Observer hears every change after it is stored, in order, off the caller's
	// goroutine, in the engine's context (see Recover).
	Observer func(ctx context.Context, ev Event)
	// OnEnd runs when a run has ended, however it ended, before EventEnded is emitted
	// (off the engine's lock; Close waits for it): it removes what the run left in the
	// pods, and what it reports (nil: nothing) goes with EventEnded as its Report.
	OnEnd func(ctx context.Context, r *Run) *Report
	// StoreRetry bounds how long a write of a run is retried (with backoff) before the
	// engine gives up (default 30s). OnStoreFailure then hears it once: the bot must
	// stop acting (exit, so that Recover settles the run on the restart), since the
	// stored run no longer says what happens.
	StoreRetry     time.Duration
	OnStoreFailure func(error)
}

// Engine drives the one active run.
type Engine struct {
	opts    Options
	mu      sync.Mutex
	run     *Run // the active run, as stored; nil when none
	running map[string]context.CancelFunc
	// cancelling holds the Cancel or Abort that ended a waiting step, until the step
	// has returned.
	cancelling map[string]Request
	closing    bool
	// storeBroken: a write could not land in time; nothing more is written or run.
	storeBroken bool
	wg          sync.WaitGroup
	remind      map[string]time.Time
	events      *queue
	// baseCtx is the context of the engine's own work: the steps, OnEnd, the Observer.
	// Recover sets it; Close, not its cancellation, ends that work.
	baseCtx context.Context
}

// New makes an engine; call Recover before serving.
func New(opts Options) *Engine {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ApprovalsRequired < 1 {
		opts.ApprovalsRequired = 1
	}
	if opts.StoreRetry == 0 {
		opts.StoreRetry = 30 * time.Second
	}
	e := &Engine{opts: opts, running: map[string]context.CancelFunc{}, cancelling: map[string]Request{}, remind: map[string]time.Time{}, baseCtx: context.Background()}
	e.events = newQueue(opts.Observer)
	return e
}

// Recover loads the active run after a start. A step found running (or approved but
// not yet started) may have partly run, so it becomes interrupted and needs a new
// approval through Retry: nothing is executed again on its own.
//
// ctx (the server's, while it leads) becomes the context of the engine's own work,
// without its cancellation: shutdown ends that work through Close, which first lets
// the step in flight finish and store its result.
func (e *Engine) Recover(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.baseCtx = context.WithoutCancel(ctx)
	r, err := e.opts.Store.Active(ctx)
	if err != nil {
		return fmt.Errorf("load the active run: %w", err)
	}
	if r == nil {
		e.run = nil
		return nil
	}
	e.run = r
	if s := r.CurrentStep(); s != nil && (s.State == Running || s.State == Approved) {
		c := r.Clone()
		var audit []AuditEntry
		e.setCaused(c, c.Current, Interrupted, &audit, "", Cause{Kind: CauseRestarted, Was: s.State})
		c.Steps[c.Current].Ended = e.now()
		if err := e.commit(ctx, c, audit); err != nil {
			return err
		}
		e.emit(EventInterrupted, c, c.Current, nil)
		return nil
	}
	e.emit(EventRecovered, r, r.Current, nil)
	return nil
}

// Start begins a run of the plan for origin -> dest on behalf of initiator.
func (e *Engine) Start(ctx context.Context, origin, dest, initiator string) (*Run, error) {
	if err := e.mustBeMaintainer(ctx, initiator, "start"); err != nil {
		return nil, err
	}
	p, err := e.opts.Build(origin, dest)
	if err != nil {
		return nil, refuse(RefusedPlan, F{"Error": err.Error()})
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return nil, refuse(RefusedShuttingDown, nil)
	}
	if e.run != nil {
		return nil, refuse(RefusedBusy, F{"Run": e.run.ID, "Initiator": e.run.Initiator, "Since": e.run.Created})
	}
	now := e.now()
	r := &Run{ID: newRunID(now), Origin: origin, Destination: dest, Initiator: initiator, Created: now, State: Active, Plan: p, Notes: map[string]string{}}
	for _, s := range p.Steps {
		r.Steps = append(r.Steps, StepRun{Step: s, State: Pending})
	}
	audit := []AuditEntry{{At: now, RunID: r.ID, User: initiator, Event: "run.started", Note: NoteRunStarted, Origin: origin, Destination: dest}}
	e.advance(r, 0, &audit)
	r.Version = 1
	if err := e.opts.Store.Create(ctx, r, e.stamp(r, audit)); err != nil {
		var busy *BusyError
		if errors.As(err, &busy) {
			return nil, refuse(RefusedBusy, F{"Run": busy.RunID, "Initiator": busy.Holder, "Since": busy.Since})
		}
		return nil, fmt.Errorf("store the new run: %w", err)
	}
	e.run = r
	e.emit(EventStarted, r, -1, nil)
	e.afterCommit(ctx, r)
	return r.Clone(), nil
}

// Request is a decision to apply: a button click or a command. It acts only on the
// run, step and attempt it names (what the person saw); Abort too.
type Request struct {
	RunID   string
	Step    int // 0-based
	Attempt int
	User    string
	Action  Action
	Reason  string
	// Check names the check an Override is for.
	Check string
}

// Decide applies a maintainer's decision and says what it did. A *Refusal error says
// why nothing happened (stale button, own run, not a maintainer, ...).
func (e *Engine) Decide(ctx context.Context, q Request) (Outcome, error) {
	if err := e.mustBeMaintainer(ctx, q.User, string(q.Action)); err != nil {
		return Outcome{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.run
	if r == nil || r.ID != q.RunID {
		return Outcome{}, e.staleRun(ctx, q.RunID)
	}
	if q.Step != r.Current {
		cur := r.Steps[r.Current]
		return Outcome{}, refuse(RefusedStaleStep, F{"Step": q.Step + 1, "Current": r.Current + 1, "Title": cur.Step, "State": cur.State})
	}
	s := r.Steps[q.Step]
	if q.Attempt != s.Attempt {
		return Outcome{}, refuse(RefusedStaleAttempt, F{"Step": q.Step + 1, "Attempt": q.Attempt, "Current": s.Attempt})
	}
	switch q.Action {
	case Abort:
		return e.abort(ctx, r, q)
	case Cancel:
		return e.cancelWait(ctx, r, q)
	case Approve:
		return e.approve(ctx, r, q)
	case Reject:
		return e.reject(ctx, r, q)
	case Retry:
		return e.retry(ctx, r, q)
	case Skip:
		return e.skip(ctx, r, q)
	case Override:
		return e.override(ctx, r, q)
	}
	return Outcome{}, refuse(RefusedUnknownAction, F{"Action": q.Action})
}

// Active returns a copy of the active run, or nil.
func (e *Engine) Active() *Run {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.run == nil {
		return nil
	}
	return e.run.Clone()
}

// SetNote stores a transport note (a message timestamp) on the active run.
func (e *Engine) SetNote(ctx context.Context, runID, key, value string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.run == nil || e.run.ID != runID {
		return fmt.Errorf("run %s is not active", runID)
	}
	if e.run.Notes[key] == value {
		return nil
	}
	c := e.run.Clone()
	if c.Notes == nil {
		c.Notes = map[string]string{}
	}
	c.Notes[key] = value
	return e.commit(ctx, c, nil)
}

// Tick expires approvals older than the timeout and emits reminders that are due.
// The transport calls it on a schedule; time comes from the injected clock.
func (e *Engine) Tick(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.run
	if r == nil {
		return nil
	}
	s := r.CurrentStep()
	if s == nil || s.State != Awaiting {
		return nil
	}
	now := e.now()
	if e.opts.ApprovalTimeout > 0 && now.Sub(s.AwaitingSince) >= e.opts.ApprovalTimeout {
		c := r.Clone()
		var audit []AuditEntry
		e.setCaused(c, c.Current, Expired, &audit, "", Cause{Kind: CauseExpired, Timeout: e.opts.ApprovalTimeout})
		if err := e.commit(ctx, c, audit); err != nil {
			return err
		}
		e.emit(EventExpired, c, c.Current, nil)
		return nil
	}
	key := fmt.Sprintf("%s/%d/%d", r.ID, r.Current, s.Attempt)
	last := e.remind[key]
	if last.IsZero() {
		last = s.AwaitingSince
	}
	if e.opts.ReminderEvery > 0 && now.Sub(last) >= e.opts.ReminderEvery {
		e.remind[key] = now
		e.events.push(e.baseCtx, Event{Kind: EventReminder, Run: r.Clone(), Step: r.Current, Waited: now.Sub(s.AwaitingSince).Round(time.Minute)})
	}
	return nil
}

// Close stops taking decisions and waits for the step in flight; if ctx ends first,
// the step is cancelled and recorded as interrupted.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	e.closing = true
	e.mu.Unlock()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		e.mu.Lock()
		for _, cancel := range e.running {
			cancel()
		}
		e.mu.Unlock()
		<-done
	}
	e.events.close()
	return nil
}

// Wait blocks until no step is running; tests and the demo use it.
func (e *Engine) Wait() { e.wg.Wait() }

// WaitEvents blocks until every event so far was delivered to the observer.
func (e *Engine) WaitEvents() { e.events.drain() }

func (e *Engine) now() time.Time { return e.opts.Clock().UTC() }

// mustBeMaintainer refuses user unless a maintainer; action is what they asked
// (an Action, or "start").
func (e *Engine) mustBeMaintainer(ctx context.Context, user, action string) error {
	if e.opts.Policy == nil {
		return nil
	}
	ok, err := e.opts.Policy.IsMaintainer(ctx, user)
	if err != nil {
		return fmt.Errorf("check whether %s is a maintainer: %w", user, err)
	}
	if !ok {
		return refuse(RefusedNotMaintainer, F{"Action": action})
	}
	return nil
}

func (e *Engine) staleRun(ctx context.Context, id string) error {
	if r, err := e.opts.Store.Get(ctx, id); err == nil {
		if r.State != Active {
			return refuse(RefusedRunEnded, F{"Run": id, "State": r.State})
		}
	}
	if e.run != nil {
		return refuse(RefusedOtherRun, F{"Run": id, "Active": e.run.ID})
	}
	return refuse(RefusedNoRun, F{"Run": id})
}

func newRunID(now time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return now.Format("20060102-1504") + "-" + hex.EncodeToString(b[:])
}
