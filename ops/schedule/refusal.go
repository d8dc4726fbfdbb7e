package schedule

import (
	"fmt"
	"time"
)

// How far ahead a run may be planned, and how far apart two planned runs must be.
const (
	MaxAhead = 90 * 24 * time.Hour
	MinApart = 2 * time.Hour
)

// RefusalKind says why a schedule was not taken or not found.
type RefusalKind string

const (
	// NotATime: Text is not a time ParseWhen reads (in Zone).
	NotATime RefusalKind = "not_a_time"
	// NotInFuture: At is not at least a minute ahead.
	NotInFuture RefusalKind = "not_in_future"
	// TooFarAhead: At is more than MaxAhead away.
	TooFarAhead RefusalKind = "too_far_ahead"
	// TooClose: At is within MinApart of the planned run Other.
	TooClose RefusalKind = "too_close"
	// UnknownID: ID names no schedule.
	UnknownID RefusalKind = "unknown_id"
)

// RefusalKinds lists every kind, for the transport's tests.
func RefusalKinds() []RefusalKind {
	return []RefusalKind{NotATime, NotInFuture, TooFarAhead, TooClose, UnknownID}
}

// Refusal is a schedule request refused, nothing changed: the kind and its facts,
// which the transport words for people.
type Refusal struct {
	Kind  RefusalKind
	Text  string         // NotATime
	Zone  *time.Location // NotATime
	At    time.Time      // NotInFuture, TooFarAhead, TooClose
	Other *Schedule      // TooClose
	ID    string         // UnknownID
}

// Error is for logs.
func (r *Refusal) Error() string {
	switch r.Kind {
	case NotATime:
		return fmt.Sprintf("schedule refused (%s): %q in %s", r.Kind, r.Text, r.Zone)
	case TooClose:
		return fmt.Sprintf("schedule refused (%s): %s near schedule %s", r.Kind, r.At.Format(time.RFC3339), r.Other.ID)
	case UnknownID:
		return fmt.Sprintf("schedule refused (%s): %q", r.Kind, r.ID)
	}
	return fmt.Sprintf("schedule refused (%s): %s", r.Kind, r.At.Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrUnknown) hold for an unknown ID.
func (r *Refusal) Is(target error) bool { return target == ErrUnknown && r.Kind == UnknownID }
