package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Check is one read-only preflight check: it returns a line for people, or an error
// when the run must not go on, or a Warning when what it found is advice.
type Check func(ctx context.Context, run *engine.Run) (string, error)

// ReportingCheck is a read-only preflight check that returns what it found as data
// (a kind of ops/report, which the transport words), or an error, or a Warning.
type ReportingCheck func(ctx context.Context, run *engine.Run) (report.Facts, error)

// warning is a check's finding that people should read but that does not block: in
// words (msg), or as data (facts).
type warning struct {
	msg   string
	facts report.Facts
}

func (w *warning) Error() string { return w.msg }

// Warning makes a check's advice: preflight shows it and goes on.
func Warning(format string, args ...any) error {
	return &warning{msg: fmt.Sprintf(format, args...)}
}

// WarningOf makes a check's advice as data.
func WarningOf(f report.Facts) error {
	b, _ := json.Marshal(f)
	return &warning{msg: f.ReportKind() + " " + string(b), facts: f}
}

type namedCheck struct {
	id, name string
	fn       Check          // or:
	facts    ReportingCheck // what it found as data
}

// AddCheck adds a preflight check. Its ID (a slug of its name) names it in the
// result, in an override and in `/cutover override`.
func (e *Executor) AddCheck(name string, fn Check) {
	e.checks = append(e.checks, namedCheck{id: CheckID(name), name: name, fn: fn})
}

// AddReportingCheck adds a preflight check that returns what it found as data.
func (e *Executor) AddReportingCheck(name string, fn ReportingCheck) {
	e.checks = append(e.checks, namedCheck{id: CheckID(name), name: name, facts: fn})
}

// CheckID is a check's name as one lowercase word with dashes: "DNS points at the
// origin" is dns-points-at-the-origin.
func CheckID(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		case r == '\'':
			// "merges'" is one word
		default:
			dash = true
		}
	}
	return b.String()
}

// preflight runs every check, even after one fails, so people see all problems at once.
// A failed check that enough maintainers overrode (engine.Override) is shown as such
// and does not block; every other failure does. Warnings never block.
func (e *Executor) preflight(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	self := engine.StepRun{}
	if x.Index >= 0 && x.Index < len(x.Run.Steps) {
		self = x.Run.Steps[x.Index]
	}
	res := engine.Checks{Attempt: x.Attempt}
	var failed, warned, overridden int
	var failedIDs []string
	for _, c := range e.checks {
		x.ProgressReport(report.Checking{Check: c.name})
		var msg string
		var found report.Facts
		var err error
		if c.facts != nil {
			found, err = c.facts(ctx, x.Run)
		} else {
			msg, err = c.fn(ctx, x.Run)
		}
		l := engine.CheckLine{ID: c.id, Name: c.name, Outcome: engine.CheckPassed, Message: msg}
		var w *warning
		switch {
		case err == nil:
			if found != nil {
				l.Report = engine.ReportOf(found)
			}
		case errors.As(err, &w):
			l.Outcome, l.Message = engine.CheckWarned, w.msg
			if w.facts != nil {
				l.Message, l.Report = "", engine.ReportOf(w.facts)
			}
			warned++
		default:
			l.Outcome, l.Message = engine.CheckFailed, err.Error()
			if l = self.Settle(l); l.Outcome == engine.CheckOverridden {
				overridden++
				break
			}
			failed++
			failedIDs = append(failedIDs, c.id)
		}
		res.Checks = append(res.Checks, l)
	}
	// The check lines are the result, worded by the transport (in Slack and in the
	// step's details); this step writes no sentence.
	out := engine.Output{}.WithResult(res).WithReport(report.Checks{
		Total: len(e.checks), Passed: len(e.checks) - failed - warned - overridden, Warned: warned, Overridden: overridden})
	if failed > 0 {
		return out, report.Fail(report.PreflightFailed{Checks: failedIDs}, nil)
	}
	return out, nil
}
