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
	r := ReportOf(f.FailureFacts())
	out := &Failure{Kind: r.Kind, Facts: r.Facts}
	if c := f.FailureCause(); c != nil {
		if out.Then = FailureOf(c); out.Then == nil {
			out.Cause = c.Error()
		}
	}
	return out
}
