package handlers

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"text/template"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Why a step failed is worded here, from templates/failures.tmpl: the engine stores
// the failure as data (engine.StepRun.Failure), and error texts stored in a run or a
// report's field may hold failures in ops/report's Failed.Error form, worded the same.

func init() { templates.Funcs(template.FuncMap{"err": ErrText}) }

// causeMark stands where a failure's template puts its cause ({{cause}}); a template
// that does not name it has the cause after its words, as "words: cause".
const causeMark = "\x00cause\x00"

// FailureText words why a step failed: our words for each failure in the chain, then
// the underlying cause's own text.
func FailureText(f *engine.Failure) string {
	if f == nil {
		return ""
	}
	cause := ErrText(f.Cause)
	if f.Then != nil {
		cause = FailureText(f.Then)
	}
	return failureWords(f.Kind, f.Facts, cause)
}

// failureWords words one failure, its cause (already worded) where its template puts it.
func failureWords(kind string, raw json.RawMessage, cause string) string {
	facts, err := report.Decode(kind, raw)
	if err != nil {
		return fmt.Sprintf("(the bot could not read its %s failure: %v)", kind, err)
	}
	text := say("failure/"+kind, facts)
	switch {
	case strings.Contains(text, causeMark):
		return strings.ReplaceAll(text, causeMark, cause)
	case cause == "":
		return text
	}
	return text + ": " + cause
}

// AnswerText words one resolver's answer ("10.0.0.53:53: CNAME sn10.example").
func AnswerText(a report.Answer) string { return say("dns-answer", a) }

// failedForm finds a failure in an error's text where Failed.Error wrote it
// ("failed_kind {facts} cause \"...\""): at the start, or after ": ", "(", "; " (a
// check's failures in both clusters) or a new line (errors.Join: a copy given up, then
// its removal from the pod failed too).
var failedForm = regexp.MustCompile(`(?:^|: |\(|; |\n)(failed_[a-z_]+) \{`)

// ErrText words an error's text as stored in a run or a report's field: each failure of
// ours in it (Failed.Error's form) in words, with its cause; any other text, and the
// text of runs stored by earlier versions, as it is.
func ErrText(s string) string {
	loc := failedForm.FindStringSubmatchIndex(s)
	if loc == nil {
		return s
	}
	kind := s[loc[2]:loc[3]]
	start := loc[3] + 1 // the facts' "{"
	dec := json.NewDecoder(strings.NewReader(s[start:]))
	var raw json.RawMessage
	if dec.Decode(&raw) != nil {
		return s
	}
	if _, err := report.Decode(kind, raw); err != nil {
		return s
	}
	rest, cause := s[start+int(dec.InputOffset()):], ""
	if c, ok := strings.CutPrefix(rest, " cause "); ok {
		cdec := json.NewDecoder(strings.NewReader(c))
		if cdec.Decode(&cause) == nil {
			rest, cause = c[cdec.InputOffset():], ErrText(cause)
		}
	}
	return s[:loc[2]] + failureWords(kind, raw, cause) + ErrText(rest)
}
