package handlers

import (
	"fmt"
	"strings"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// causeMark stands where a failure's template puts its cause ({{cause}}); a template
// that does not name it has the cause after its words, as "words: cause".
const causeMark = "\x00cause\x00"

// FailureText words why a step failed: our words for each failure in the chain, then
// the underlying cause's own text.
func FailureText(f *engine.Failure) string {
	if f == nil {
		return ""
	}
	facts, err := report.Decode(f.Kind, f.Facts)
	if err != nil {
		return fmt.Sprintf("(the bot could not read its %s failure: %v)", f.Kind, err)
	}
	text := say("failure/"+f.Kind, facts)
	cause := f.Cause
	if f.Then != nil {
		cause = FailureText(f.Then)
	}
	if strings.Contains(text, causeMark) {
		return strings.ReplaceAll(text, causeMark, cause)
	}
	if cause == "" {
		return text
	}
	return text + ": " + cause
}
