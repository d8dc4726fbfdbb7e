package engine

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Store keeps runs, the one-active-run lock and the audit log. Every method is one
// atomic write or read: a run record, its audit entries and the lock change together.
// Each takes the context of whoever asks (a request, a step, the server's run), so
// that shutdown or a caller's deadline ends a call that waits on a remote store; a
// write cut short that way may or may not have landed.
type Store interface {
	// Create writes a new run and takes the lock; *BusyError when a run holds it.
	Create(ctx context.Context, run *Run, audit []AuditEntry) error
	// Save writes a run (its Version must be one more than the stored one), appends
	// its audit entries, and releases the lock when the run is no longer active.
	Save(ctx context.Context, run *Run, audit []AuditEntry) error
	// Active returns the run holding the lock, or nil.
	Active(ctx context.Context) (*Run, error)
	Get(ctx context.Context, id string) (*Run, error)
	// List returns the newest runs first.
	List(ctx context.Context, limit int) ([]*Run, error)
	// Audit returns the audit log, oldest first; runID "" means every run.
	Audit(ctx context.Context, runID string) ([]AuditEntry, error)
	// Close releases what the store holds open; it waits on nothing remote.
	Close() error
}

// AuditEntry is one line of the append-only log: a transition or a decision.
type AuditEntry struct {
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	RunID   string    `json:"run"`
	Step    int       `json:"step"` // 1-based; 0 for the run itself
	StepID  string    `json:"step_id,omitempty"`
	Attempt int       `json:"attempt,omitempty"`
	User    string    `json:"user,omitempty"`
	Event   string    `json:"event"` // run.started, step.awaiting_approval, decision.approve, ...
	From    string    `json:"from,omitempty"`
	To      string    `json:"to,omitempty"`
	// Reason is a person's reason, or what a step returned; Note is why the engine
	// itself made the change, as a code (with Steps, a count; Origin and Destination,
	// a run's clusters), which the transport words. Entries written by earlier
	// versions hold the engine's words in Reason.
	Reason      string    `json:"reason,omitempty"`
	Note        AuditNote `json:"note,omitempty"`
	Steps       int       `json:"steps,omitempty"`
	Origin      string    `json:"origin,omitempty"`
	Destination string    `json:"destination,omitempty"`
	Check       string    `json:"check,omitempty"` // the check an override vote is for
}

// AuditNote says why the engine itself made a change.
type AuditNote string

const (
	// NoteAutoRun: a read-only step runs without approval.
	NoteAutoRun AuditNote = "auto_run"
	// NoteOverriddenRerun: every failed check is overridden; the read-only step runs again.
	NoteOverriddenRerun AuditNote = "overridden_rerun"
	// NoteOverriddenAwait: every failed check is overridden; the step waits for approval.
	NoteOverriddenAwait AuditNote = "overridden_await"
	// NoteByRetry: an approval counted because its maintainer chose Retry.
	NoteByRetry AuditNote = "by_retry"
	// NoteRollbackStopped: the rollback was stopped, for the person's Reason.
	NoteRollbackStopped AuditNote = "rollback_stopped"
	// NoteRollbackPlanned: a rollback of Steps steps was planned.
	NoteRollbackPlanned AuditNote = "rollback_planned"
	// NoteRunStarted: a run from Origin to Destination was started.
	NoteRunStarted AuditNote = "run_started"
)

// AuditNotes lists every note, for the transport's tests (each has words).
func AuditNotes() []AuditNote {
	return []AuditNote{NoteAutoRun, NoteOverriddenRerun, NoteOverriddenAwait, NoteByRetry, NoteRollbackStopped, NoteRollbackPlanned, NoteRunStarted}
}

// BusyError says which run holds the lock, who started it and since when.
type BusyError struct {
	RunID  string
	Holder string
	Since  time.Time
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("run %s started by %s at %s is still active", e.RunID, e.Holder, e.Since.UTC().Format("2006-01-02 15:04 MST"))
}

// ErrNotFound is returned for an unknown run ID.
var ErrNotFound = errors.New("no such run")

// ErrStaleWrite is returned when a save would overwrite a newer version of a run.
var ErrStaleWrite = errors.New("run was changed by someone else")
