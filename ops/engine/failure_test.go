package engine_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// podGone is a failure kind of a test's own: what failed, as data, and its cause.
type podGone struct {
	Pod string `json:"pod"`
}

func (podGone) ReportKind() string { return "pod_gone" }

type failing struct {
	facts podGone
	cause error
}

func (f *failing) Error() string                                  { return "pod_gone " + f.facts.Pod }
func (f *failing) FailureFacts() interface{ ReportKind() string } { return f.facts }
func (f *failing) FailureCause() error                            { return f.cause }
func (f *failing) Unwrap() error                                  { return f.cause }

// A step's error that carries its failure as data is stored in the run with it (and
// with the error's text, for logs); a retry clears both, and a plain error stores
// its text only.
func TestTheFailureIsStoredAsData(t *testing.T) {
	h := newHarness(t, 1)
	calls := 0
	h.exec.checks = func(x engine.StepContext) (engine.Output, error) {
		calls++
		if calls == 1 {
			inner := &failing{facts: podGone{Pod: "pg-1"}, cause: errors.New("connection refused")}
			return engine.Output{}, fmt.Errorf("attempt %d: %w", x.Attempt, &failing{facts: podGone{Pod: "pg-0"}, cause: inner})
		}
		return engine.Output{}, errors.New("plain")
	}
	h.start()
	s := h.stored(h.active().ID).Steps[0]
	require.Equal(t, engine.Failed, s.State)
	assert.Equal(t, "attempt 1: pod_gone pg-0", s.Error)
	require.NotNil(t, s.Failure)
	assert.Equal(t, "pod_gone", s.Failure.Kind)
	assert.JSONEq(t, `{"pod":"pg-0"}`, string(s.Failure.Facts))
	require.NotNil(t, s.Failure.Then, "a failure caused by a failure of ours keeps both as data")
	assert.JSONEq(t, `{"pod":"pg-1"}`, string(s.Failure.Then.Facts))
	assert.Equal(t, "connection refused", s.Failure.Then.Cause)
	assert.Empty(t, s.Failure.Cause)
	b, err := json.Marshal(s)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"failure":{"kind":"pod_gone"`)

	h.mustDecide(bob, engine.Retry, "")
	h.eng.Wait()
	s = h.stored(h.active().ID).Steps[0]
	assert.Equal(t, 2, s.Attempt)
	assert.Equal(t, engine.Failed, s.State)
	assert.Equal(t, "plain", s.Error)
	assert.Nil(t, s.Failure, "the new attempt's error carries none")
}

// A step that panics fails as a failure of its own kind, with the step and what it
// panicked with as data; the run goes on to wait for a decision.
func TestACrashIsAFailure(t *testing.T) {
	h := newHarness(t, 1)
	h.exec.checks = func(x engine.StepContext) (engine.Output, error) {
		var m map[string]int
		m["x"] = 1 // a bug
		return engine.Output{}, nil
	}
	h.start()
	s := h.stored(h.active().ID).Steps[0]
	require.Equal(t, engine.Failed, s.State)
	require.NotNil(t, s.Failure)
	assert.Equal(t, report.Crashed{}.ReportKind(), s.Failure.Kind)
	var c report.Crashed
	require.NoError(t, json.Unmarshal(s.Failure.Facts, &c))
	assert.Equal(t, report.Crashed{Step: h.active().Plan.Steps[0].ID, Panic: "assignment to entry in nil map"}, c)
}
