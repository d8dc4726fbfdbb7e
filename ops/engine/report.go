package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Report is an account of what a step did (or of what the end of a run left), as
// data: Kind names it and Facts holds its fields as JSON (a type of ops/report, which
// the transport words). Runs stored by earlier versions have Output.Summary, a
// sentence, instead.
type Report struct {
	Kind  string          `json:"kind"`
	Facts json.RawMessage `json:"facts,omitempty"`
	// Left lists what earlier attempts had left running, which the executor stopped
	// before the step ran.
	Left []report.Stopped `json:"left,omitempty"`
	// Stopped is Left in words, as runs stored by earlier versions have it.
	Stopped []string `json:"stopped,omitempty"`
}

// Reported is a report's facts: a type that names its kind.
type Reported interface{ ReportKind() string }

// ReportOf makes the report of v.
func ReportOf(v Reported) *Report {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("engine: report %T does not marshal: %v", v, err)) // a bug: reports are plain data
	}
	return &Report{Kind: v.ReportKind(), Facts: b}
}

// WithReport returns o carrying v as its report.
func (o Output) WithReport(v Reported) Output {
	o.Report = ReportOf(v)
	return o
}

// auditSummary is the output's account for the audit log, which keeps data as it is.
func auditSummary(o Output) string {
	if o.Report == nil {
		if len(o.Left) > 0 {
			b, _ := json.Marshal(o.Left)
			return strings.TrimSpace("stopped " + string(b) + " " + o.Summary)
		}
		return o.Summary
	}
	s := o.Report.Kind + " " + string(o.Report.Facts)
	switch {
	case len(o.Report.Left) > 0:
		b, _ := json.Marshal(o.Report.Left)
		s += " stopped " + string(b)
	case len(o.Report.Stopped) > 0:
		b, _ := json.Marshal(o.Report.Stopped)
		s += " stopped " + string(b)
	}
	return s
}

// CauseKind says why the engine itself failed, interrupted or expired a step.
type CauseKind string

const (
	// CauseExpired: no decision came within Timeout; the step was not run.
	CauseExpired CauseKind = "expired"
	// CauseRestarted: the bot stopped while the step was Was; it may have partly run.
	CauseRestarted CauseKind = "restarted"
	// CauseShutDown: the bot shut down while the step ran; Err is what it returned.
	CauseShutDown CauseKind = "shut_down"
	// CauseWaitEnded: User ended the step's wait (Cancel or Abort), for Reason.
	CauseWaitEnded CauseKind = "wait_ended"
)

// Cause is why the engine failed, interrupted or expired a step, as data (the
// transport words it). StepRun.Reason and Error keep what people typed and what the
// executor returned.
type Cause struct {
	Kind    CauseKind     `json:"kind"`
	Timeout time.Duration `json:"timeout,omitempty"`
	Was     StepState     `json:"was,omitempty"`
	User    string        `json:"user,omitempty"`
	Reason  string        `json:"reason,omitempty"`
	Err     string        `json:"err,omitempty"`
}

// audit is the cause for the audit log: its kind and facts.
func (c Cause) audit() string {
	b, _ := json.Marshal(c)
	return string(c.Kind) + " " + string(b)
}
