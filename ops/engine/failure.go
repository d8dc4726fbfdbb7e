package engine

import (
	"encoding/json"
	"errors"
)

// Failing is an error that says what failed as data (ops/report's *Failed): its facts,
// which the transport words, and the underlying cause, whose own text follows them.
type Failing interface {
	error
	FailureFacts() interface{ ReportKind() string }
	FailureCause() error
}

// Failure is why a step failed, as data: Kind and Facts (a failure kind of ops/report),
// then what caused it: another failure of ours (Then), or an error whose text is not
// ours (Cause: an API error, pg_restore's stderr). StepRun.Error keeps the error's
// text for logs and for runs stored by earlier versions.
type Failure struct {
	Kind  string          `json:"kind"`
	Facts json.RawMessage `json:"facts,omitempty"`
	Then  *Failure        `json:"then,omitempty"`
	Cause string          `json:"cause,omitempty"`
}

// FailureOf is the failure err carries, or nil when it carries none (its text is then
// all there is to show).
func FailureOf(err error) *Failure {
	var f Failing
	if !errors.As(err, &f) {
		return nil
	}
	return failureOf(f)
}

// failureOf is f as data. A cause that is itself a failure is kept as data (Then);
// any other cause as its text, which keeps the words of a wrapper around a failure
// deeper down (the transport words that failure in the text: handlers' ErrText).
func failureOf(f Failing) *Failure {
	r := ReportOf(f.FailureFacts())
	out := &Failure{Kind: r.Kind, Facts: r.Facts}
	switch c := f.FailureCause().(type) {
	case nil:
	case Failing:
		out.Then = failureOf(c)
	default:
		out.Cause = c.Error()
	}
	return out
}
