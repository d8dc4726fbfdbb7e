package handlers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// Action IDs of the buttons; the value of each is ButtonValue(run, step, attempt).
const (
	ActApprove = "approve"
	ActReject  = "reject"
	ActRetry   = "retry"
	ActSkip    = "skip"
	ActAbort   = "abort"
	ActCancel  = "cancel"
)

// ButtonValue ties a button to one attempt of one step of one run.
func ButtonValue(runID string, step, attempt int) string {
	return fmt.Sprintf("%s|%d|%d", runID, step, attempt)
}

// ParseButtonValue reads a ButtonValue back.
func ParseButtonValue(v string) (runID string, step, attempt int, err error) {
	parts := strings.Split(v, "|")
	if len(parts) != 3 {
		return "", 0, 0, fmt.Errorf("malformed button value %q", v)
	}
	step, err1 := strconv.Atoi(parts[1])
	attempt, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || parts[0] == "" || step < 0 || attempt < 1 {
		return "", 0, 0, fmt.Errorf("malformed button value %q", v)
	}
	return parts[0], step, attempt, nil
}

func icon(s engine.StepState) string {
	switch s {
	case engine.Succeeded:
		return "✅"
	case engine.Awaiting:
		return "⏳"
	case engine.Approved, engine.Running:
		return "🔄"
	case engine.Failed:
		return "❌"
	case engine.Interrupted:
		return "⚠️"
	case engine.Expired:
		return "⌛"
	case engine.Skipped:
		return "⏭️"
	case engine.Rejected:
		return "🚫"
	}
	return "▫️"
}

func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func runTitle(r *engine.Run) string {
	return fmt.Sprintf("MeshDB cutover %s → %s", r.Origin, r.Destination)
}

// Header is the run's top-level message: title, initiator and the checklist.
func Header(r *engine.Run, now time.Time) message.Message {
	var lines []string
	rollbackShown := false
	for i, s := range r.Steps {
		if s.Rollback && !rollbackShown {
			lines = append(lines, "*Rollback*")
			rollbackShown = true
		}
		line := fmt.Sprintf("%s %d. %s", icon(s.State), i+1, StepTitle(s.Step))
		switch {
		case s.State == engine.Succeeded || s.State == engine.Failed:
			line += " — " + dur(s.Duration())
		case s.State == engine.Awaiting:
			line += " — _waiting for approval_"
		case s.State == engine.Running:
			line += " — _running_"
		case s.State == engine.Skipped || s.State == engine.Rejected || s.State == engine.Expired || s.State == engine.Interrupted:
			line += " — _" + Human(s.State) + "_"
		}
		lines = append(lines, line)
	}
	state := "in progress"
	if r.State != engine.Active {
		state = Human(r.State)
	}
	return message.Message{
		Text:     fmt.Sprintf("%s (%s), started by <@%s>", runTitle(r), state, r.Initiator),
		Header:   runTitle(r),
		Sections: []string{fmt.Sprintf("Started by <@%s> · %s · *%s* · %s", r.Initiator, slackTime(r.Created), state, dur(r.Elapsed(now))), strings.Join(lines, "\n")},
		Context:  []string{"run " + r.ID + " · every step waits for a maintainer other than the initiator · `/cutover status`"},
	}
}

// Result reports a step that succeeded.
func Result(r *engine.Run, i int) message.Message {
	s := r.Steps[i]
	text := fmt.Sprintf("✅ Step %d: %s succeeded in %s", i+1, StepTitle(s.Step), dur(s.Duration()))
	m := message.Message{Text: text, Sections: []string{"*" + text + "*"}}
	if sum := OutputMrkdwn(s.Output); sum != "" {
		m.Sections = append(m.Sections, sum)
	}
	if res, ok := checksOf(s); ok {
		// One line per check, with who overrode which (the details say it in plain text).
		m.Sections = append(m.Sections, checkSections(s, res, 0)...)
	}
	return m
}

// Progress is the one progress message of a running step, edited in place.
func Progress(r *engine.Run, i int, msg string) message.Message {
	s := r.Steps[i]
	text := fmt.Sprintf("🔄 Step %d: %s — %s", i+1, StepTitle(s.Step), message.Escape(msg))
	m := message.Message{Text: text, Sections: []string{text}}
	if s.Waiting && s.State == engine.Running {
		// Only waiting: it can be ended without leaving anything half done.
		m.Buttons = []message.Button{{Label: "Cancel", ActionID: ActCancel, Value: ButtonValue(r.ID, i, s.Attempt)}}
		m.Context = []string{"Cancel ends the wait: the step fails and offers Retry, Skip and Abort. Abort ends it and stops the run."}
	}
	return m
}

// Ended closes the thread. end is what the end of the run reported (engine.Event's
// Report of EventEnded, a report.End): what the bot could not remove from the pods and
// how long the backups are kept; nil when nothing.
func Ended(r *engine.Run, now time.Time, end *engine.Report) message.Message {
	ok, skipped := 0, 0
	for _, s := range r.Steps {
		switch s.State {
		case engine.Succeeded:
			ok++
		case engine.Skipped:
			skipped++
		}
	}
	text := fmt.Sprintf("Run %s %s after %s: %d step(s) succeeded, %d skipped.", r.ID, Human(r.State), dur(r.Elapsed(now)), ok, skipped)
	m := message.Message{Text: text, Sections: []string{"*" + text + "*"}}
	if cleanup := strings.TrimSpace(ReportText(end)); cleanup != "" {
		m.Sections = append(m.Sections, "```"+strings.ReplaceAll(cleanup, "```", "` ` `")+"```")
	}
	return m
}

// Status answers /cutover status.
func Status(r *engine.Run, required int, now time.Time) message.Message {
	if r == nil {
		return message.Message{Text: "No cutover is running. Start one with `/cutover start ORIGIN DEST`.", Sections: []string{"No cutover is running. Start one with `/cutover start ORIGIN DEST`."}}
	}
	s := r.Steps[r.Current]
	waits := waitsFor(s, required)
	text := fmt.Sprintf("%s: step %d of %d, %s (%s)", runTitle(r), r.Current+1, len(r.Steps), StepTitle(s.Step), Human(s.State))
	return message.Message{
		Text:     text,
		Sections: []string{"*" + text + "*"},
		Fields: []message.Field{
			{Label: "Run", Value: r.ID},
			{Label: "Started by", Value: "<@" + r.Initiator + "> " + slackTime(r.Created)},
			{Label: "Elapsed", Value: dur(r.Elapsed(now))},
			{Label: "Waiting for", Value: waits},
		},
	}
}

// Refusal is the one private "no", saying what to do instead.
func Refusal(msg string) message.Message {
	return message.Message{Text: "Nothing was changed: " + msg, Sections: []string{"🙅 " + msg}}
}

// Info is a private one-liner.
func Info(msg string) message.Message { return message.Message{Text: msg, Sections: []string{msg}} }

func clipLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) <= n {
		return strings.Join(lines, "\n")
	}
	return strings.Join(lines[:n], "\n") + fmt.Sprintf("\n… (%d more lines in the file above)", len(lines)-n)
}

// waitsFor says who or what the current step waits for.
func waitsFor(s engine.StepRun, required int) string {
	switch {
	case s.State == engine.Awaiting:
		return approvalNeeds(s, required)
	case s.State.Stuck():
		return "a maintainer to choose Retry, Skip or Abort"
	case s.State == engine.Running || s.State == engine.Approved:
		return "the step to finish"
	}
	return "—"
}
