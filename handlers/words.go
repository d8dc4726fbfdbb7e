package handlers

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/ops/schedule"
)

// What people read of the engine, the steps and the scheduler is worded here, from the
// templates in templates/: ops/ returns a kind and its facts (a refusal, a decision's
// outcome, a step's summary, what the end of a run left), and each kind has one
// template named after it, so a message is reviewed and changed in one place.

//go:embed templates/*.tmpl
var templateFiles embed.FS

// wordFuncs are what the templates may call.
var wordFuncs = template.FuncMap{
	// human is a step's or a run's state in words (bound in init: its words are
	// templates too).
	"human": fmt.Sprint,
	// clock is a time of day in UTC.
	"clock": func(t time.Time) string { return t.UTC().Format("15:04 MST") },
	// codes shows IDs as code, or says none.
	"codes": func(ids []string) string {
		if len(ids) == 0 {
			return "none"
		}
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = "`" + id + "`"
		}
		return strings.Join(out, ", ")
	},
	"join": strings.Join,
	// stopped is what the "stopped" template words (stoppedData).
	"stopped": func(left []report.Stopped, words []string) stoppedData { return stoppedData{left, words} },
	// rfc3339 is a time as RFC 3339, in its own zone.
	"rfc3339": func(t time.Time) string { return t.Format(time.RFC3339) },
	// timeIn shows a time in each reader's zone, with loc's as the fallback.
	"timeIn": slackTimeIn,
	// before is a reminder's lead time ("24 h").
	"before": humanBefore,
	// bytes is a size in KiB, MiB, GiB.
	"bytes": report.HumanBytes,
	// short is the start of a checksum.
	"short": func(sum string) string { return sum[:min(12, len(sum))] },
	// commit is a git commit as GitHub shows it: a full sha's first 7 hex digits, any
	// other ref as it is.
	"commit": func(ref string) string {
		if len(ref) == 40 && strings.Trim(ref, "0123456789abcdef") == "" {
			return ref[:7]
		}
		return ref
	},
	// shell is a command as a shell would run it.
	"shell": plan.ShellQuote,
	// date is a day; utc a time of day with its date, in UTC.
	"date": func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"utc":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") },
	// gib is a size in GiB, for printf.
	"gib": func(n int64) float64 { return float64(n) / (1 << 30) },
	// kb is a PostgreSQL memory setting in kB as SHOW writes it.
	"kb": report.KB,
	// spaced is GitHub's state with spaces for underscores ("in progress").
	"spaced": func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	// pair is a cluster and an error, for a template that words both.
	"pair": func(cluster, err string) map[string]string { return map[string]string{"Cluster": cluster, "Err": err} },
	// cause is where a failure's cause goes in its words (failures.go).
	"cause": func() string { return causeMark },
	// err words an error's text stored in a report (ErrText, set in init: it uses the
	// templates).
	"err": func(s string) string { return s },
	// capital is a word with its first letter in capitals.
	"capital": func(s any) string {
		w := fmt.Sprint(s)
		if w == "" {
			return w
		}
		return strings.ToUpper(w[:1]) + w[1:]
	},
	// title is a step's title (StepTitle, bound in init: its words are templates too).
	"title": func(s plan.Step) string { return s.Title },
	// onOff is a flag's state.
	"onOff": func(on bool) string {
		if on {
			return "on"
		}
		return "off"
	},
}

// templates hold every message; a field a template names that the data lacks is an
// error, not "<no value>".
var templates = template.Must(template.New("words").Funcs(wordFuncs).Option("missingkey=error").ParseFS(templateFiles, "templates/*.tmpl"))

func init() {
	templates.Funcs(template.FuncMap{"human": func(v any) string { return Human(fmt.Sprint(v)) }, "title": StepTitle})
}

// say executes the template name on data. A template that fails is a bug the tests
// catch (each kind is rendered); people then read which message failed rather than
// nothing.
func say(name string, data any) string {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return fmt.Sprintf("(the bot could not word its message %s: %v)", name, err)
	}
	return b.String()
}

// hasWords says whether a template of that name exists.
func hasWords(name string) bool { return templates.Lookup(name) != nil }

// ReportText words what a step, or the end of a run, reported ("" for nil).
func ReportText(r *engine.Report) string {
	if r == nil {
		return ""
	}
	facts, err := report.Decode(r.Kind, r.Facts)
	if err != nil {
		return fmt.Sprintf("(the bot could not read its %s report: %v)", r.Kind, err)
	}
	text := say("report/"+r.Kind, facts)
	if len(r.Left) > 0 || len(r.Stopped) > 0 {
		text = say("stopped", stoppedData{r.Left, r.Stopped}) + "; " + text
	}
	return text
}

// stoppedData is what the "stopped" template words: the commands stopped, or the
// words of runs stored by earlier versions.
type stoppedData struct {
	Left  []report.Stopped
	Words []string
}

// OutputText is a step's account: its report in words, or the sentence of a step
// (or a run stored by an earlier version) that reports in words, after what the
// executor stopped before it ran.
func OutputText(o engine.Output) string {
	if o.Report != nil {
		return ReportText(o.Report)
	}
	return withStopped(o.Left, o.Summary)
}

// withStopped puts what the executor stopped before a step ran (in words) before
// the step's own account.
func withStopped(left []report.Stopped, text string) string {
	if len(left) == 0 {
		return text
	}
	return strings.TrimSuffix(say("stopped", stoppedData{Left: left})+"; "+text, "; ")
}

// DetailsText is a step's longer details: what it stored (runs of earlier versions,
// and text that is not ours: a command's output, pg_restore's messages), else its
// report's details in words ("" when its kind has none).
func DetailsText(o engine.Output) string {
	text := detailsOf(o)
	if o.Own != nil {
		text = strings.TrimSpace(text + "\n" + say("details/stopped_own", o.Own))
	}
	return text
}

// detailsOf is a step's own details, without what the executor stopped of it.
func detailsOf(o engine.Output) string {
	if o.Details == "" && o.Report != nil && o.Report.Kind == (report.Checks{}).ReportKind() {
		return checkLinesText(o)
	}
	if o.Details != "" || o.Report == nil || !hasWords("details/"+o.Report.Kind) {
		return o.Details
	}
	facts, err := report.Decode(o.Report.Kind, o.Report.Facts)
	if err != nil {
		return fmt.Sprintf("(the bot could not read its %s report: %v)", o.Report.Kind, err)
	}
	return say("details/"+o.Report.Kind, facts)
}

// checkLinesText is the preflight step's details: a line per check, with its outcome's
// mark, what it found and who overrode it.
func checkLinesText(o engine.Output) string {
	res, err := engine.Decode[engine.Checks](o)
	if err != nil {
		return fmt.Sprintf("(the bot could not read its checks: %v)", err)
	}
	lines := make([]string, len(res.Checks))
	for i, l := range res.Checks {
		lines[i] = say("details/check_line", struct {
			L     engine.CheckLine
			Found string
		}{l, CheckMessage(l)})
	}
	return strings.Join(lines, "\n")
}

// CheckMessage is what a check found: its report in words, or the words of a check
// that returns them (and of a check stored by an earlier version).
func CheckMessage(l engine.CheckLine) string {
	if l.Report != nil {
		return ReportText(l.Report)
	}
	return ErrText(l.Message)
}

// CauseText words why the engine failed, interrupted or expired a step.
func CauseText(c engine.Cause) string { return say("cause/"+string(c.Kind), c) }

// whyStopped is why step s stopped: what the executor returned (its failure in words,
// or the error's text of a failure that carries no data, or of a run stored by an
// earlier version), else the engine's cause, else the reason stored by an earlier version.
func whyStopped(s engine.StepRun) string {
	switch {
	case s.Failure != nil || s.Error != "":
		return StepErrorText(s)
	case s.Cause != nil:
		return CauseText(*s.Cause)
	}
	return s.Reason
}

// StepErrorText words what the executor returned for step s: its failure, else its
// error's text ("" when it returned none).
func StepErrorText(s engine.StepRun) string {
	if s.Failure != nil {
		return FailureText(s.Failure)
	}
	return ErrText(s.Error)
}

// ScheduleRefusalText words a refusal of the scheduler.
func ScheduleRefusalText(r *schedule.Refusal) string {
	return say("schedule/refusal/"+string(r.Kind), r)
}

// RefusalText words a refusal of the engine.
func RefusalText(r *engine.Refusal) string { return say("refusal/"+string(r.Kind), r.Fields) }

// OutcomeText words what an accepted decision did.
func OutcomeText(o engine.Outcome) string { return say("outcome/"+string(o.Kind), o.Fields) }
