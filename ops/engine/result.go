package engine

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// A step's result is a value of its kind's own type (a dump's file and checksum, a
// scale's recorded count), stored as JSON in Output.Result and read back with
// ResultOf. Runs stored before results were typed carry Output.Values, a map of
// strings; a result type reads those through FromValues.

// ErrNoResult says a step recorded no result.
var ErrNoResult = errors.New("no result recorded")

// LegacyValues is implemented by result types that can read the string values of runs
// stored by earlier versions.
type LegacyValues interface {
	FromValues(map[string]string) error
}

// WithResult returns o carrying v as its result.
func (o Output) WithResult(v any) Output {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("engine: result %T does not marshal: %v", v, err)) // a bug: results are plain data
	}
	o.Result = b
	return o
}

// HasResult says whether the output carries a result (typed or legacy).
func (o Output) HasResult() bool { return len(o.Result) > 0 || o.Values != nil }

// Decode reads o's result as a T.
func Decode[T any](o Output) (T, error) {
	var v T
	switch {
	case len(o.Result) > 0:
		if err := json.Unmarshal(o.Result, &v); err != nil {
			return v, report.Fail(report.StoredResult{Type: fmt.Sprintf("%T", v)}, err)
		}
		return v, nil
	case o.Values != nil:
		l, ok := any(&v).(LegacyValues)
		if !ok {
			return v, report.Fail(report.StoredResult{Type: fmt.Sprintf("%T", v), Legacy: true}, nil)
		}
		if err := l.FromValues(o.Values); err != nil {
			return v, report.Fail(report.StoredResult{Type: fmt.Sprintf("%T", v)}, err)
		}
		return v, nil
	}
	return v, ErrNoResult
}

// ResultOf returns the newest result of the step stepID of r, and whether that
// attempt succeeded (a failed or interrupted attempt's result is returned too: a scale
// that failed while waiting still recorded the count it changed from). ErrNoResult
// when the step recorded none.
func ResultOf[T any](r *Run, stepID string) (T, bool, error) {
	o, ok := r.Output(stepID)
	v, err := Decode[T](o)
	return v, ok, err
}
