package engine

import (
	"encoding/json"
	"fmt"
)

// Report is an account of what a step did (or of what the end of a run left), as
// data: Kind names it and Facts holds its fields as JSON (a type of ops/report, which
// the transport words). Runs stored by earlier versions have Output.Summary, a
// sentence, instead.
type Report struct {
	Kind  string          `json:"kind"`
	Facts json.RawMessage `json:"facts,omitempty"`
	// Stopped lists what earlier attempts had left running, which the executor stopped
	// before the step ran (cluster and command).
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
		return o.Summary
	}
	s := o.Report.Kind + " " + string(o.Report.Facts)
	if len(o.Report.Stopped) > 0 {
		b, _ := json.Marshal(o.Report.Stopped)
		s += " stopped " + string(b)
	}
	return s
}
