package handlers

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// A step made of checks (preflight) fails with one line per check, and each failed
// check has its own Override button: its value names the check, and like Skip it asks
// for the reason in a modal. `/cutover override CHECK REASON` is the typed form.

// ActOverride starts the action ID of an Override button; each button's ID is
// ActOverride + ":" + the check, as Slack refuses a message with an action_id twice in
// a block.
const ActOverride = "override"

// maxOverrideButtons keeps the actions block within Slack's 25 elements with Retry,
// Skip and Abort; further checks are overridden by typing.
const maxOverrideButtons = 20

// checkMessageRunes is how much of one check's message the thread shows.
const checkMessageRunes = 600

// OverrideValue ties an Override button to one check of one attempt of one step.
func OverrideValue(runID string, step, attempt int, check string) string {
	return ButtonValue(runID, step, attempt) + "|" + check
}

// ParseOverrideValue reads an OverrideValue back.
func ParseOverrideValue(v string) (runID string, step, attempt int, check string, err error) {
	head, check, ok := cutLast(v, "|")
	if !ok || parseCheck(check) == "" {
		return "", 0, 0, "", fmt.Errorf("malformed override button value %q", v)
	}
	runID, step, attempt, err = ParseButtonValue(head)
	return runID, step, attempt, check, err
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// checksOf returns the check lines of the step's current attempt, when it is made of
// checks.
func checksOf(s engine.StepRun) (engine.Checks, bool) { return engine.ChecksOf(s) }

// blockingChecks are the failed checks of the attempt that no accepted override lets
// pass.
func blockingChecks(s engine.StepRun, res engine.Checks) []engine.CheckLine {
	var out []engine.CheckLine
	for _, l := range res.Failed() {
		if _, ok := s.Accepted(l.ID); !ok {
			out = append(out, l)
		}
	}
	return out
}

// checkSections lays out one line per check, grouped into sections under Slack's limit.
func checkSections(s engine.StepRun, res engine.Checks, required int) []string {
	var lines []string
	for _, l := range res.Checks {
		lines = append(lines, checkLine(s, l, required))
	}
	var out []string
	var b strings.Builder
	for _, l := range lines {
		if b.Len() > 0 && b.Len()+len(l)+1 > sectionBudget {
			out = append(out, b.String())
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l)
	}
	return append(out, b.String())
}

func checkLine(s engine.StepRun, l engine.CheckLine, required int) string {
	msg := message.Escape(clipRunes(CheckMessage(l), checkMessageRunes))
	name := "*" + message.Escape(l.Name) + "*"
	switch l.Outcome {
	case engine.CheckPassed:
		return "✅ " + name + ": " + msg
	case engine.CheckWarned:
		return "⚠️ " + name + " _(advice, does not block)_: " + msg
	case engine.CheckOverridden:
		return "↪️ " + name + " _(overridden, does not block)_: " + msg + "\n      ↳ overridden by " + votes(*l.Override)
	}
	o, ok := s.OverrideOf(l.ID)
	if ok && o.Accepted {
		return "↪️ " + name + " `" + l.ID + "` _(overridden, no longer blocks)_: " + msg + "\n      ↳ overridden by " + votes(o)
	}
	line := "❌ " + name + " `" + l.ID + "`: " + msg
	if ok && len(o.Votes) > 0 {
		line += fmt.Sprintf("\n      ↳ override proposed by %s. %d more maintainer(s) other than the run's initiator must choose Override to accept it.",
			votes(o), required-len(o.Votes))
	}
	return line
}

// votes is "<@U1>: “why”; <@U2>: “why”" (a reason may hold a semicolon).
func votes(o engine.CheckOverride) string {
	parts := make([]string, len(o.Votes))
	for i, v := range o.Votes {
		parts[i] = "<@" + v.User + ">: “" + v.Reason + "”"
	}
	return strings.Join(parts, "; ")
}

// overrideButtons are one Override button per blocking check.
func overrideButtons(r *engine.Run, i int, blocking []engine.CheckLine) []message.Button {
	var out []message.Button
	for _, l := range blocking[:min(len(blocking), maxOverrideButtons)] {
		out = append(out, message.Button{Label: "Override: " + l.Name, ActionID: ActOverride + ":" + l.ID,
			Value: OverrideValue(r.ID, i, r.Steps[i].Attempt, l.ID)})
	}
	return out
}

// checksFailure is Failure for a step made of checks that failed: a line per check
// instead of the error text, and an Override button per check that still blocks.
func checksFailure(r *engine.Run, i int, required int, mention string, res engine.Checks) message.Message {
	s := r.Steps[i]
	blocking := blockingChecks(s, res)
	text := fmt.Sprintf("%s %s failed: %d of %d checks block", icon(s.State), stepTitle(r, i, s.Attempt), len(blocking), len(res.Checks))
	m := message.Message{Text: text, Sections: append([]string{"*" + text + "*"}, checkSections(s, res, required)...)}
	if mention != "" {
		m.Text += " · " + mention
		m.Sections = append(m.Sections, "👉 "+mention+": Override each failed check with a reason, or fix it and Retry; or Abort")
	}
	m.Sections = append(m.Sections, skipProposal(s, required)...)
	v := ButtonValue(r.ID, i, s.Attempt)
	m.Buttons = append([]message.Button{
		{Label: "Retry", ActionID: ActRetry, Value: v, Style: message.Primary},
		{Label: "Skip", ActionID: ActSkip, Value: v},
		{Label: "Abort", ActionID: ActAbort, Value: v, Style: message.Danger},
	}, overrideButtons(r, i, blocking)...)
	ids := make([]string, len(blocking))
	for j, l := range blocking {
		ids[j] = "`" + l.ID + "`"
	}
	m.Context = []string{
		fmt.Sprintf("A failed check stops blocking once %d maintainer(s) other than the run's initiator chose Override for it, each with a reason; when none blocks, step %d runs again with every other check enforced. Or type `/cutover override CHECK REASON` (CHECK: %s).",
			required, i+1, strings.Join(ids, ", ")),
		fmt.Sprintf("A Retry by a maintainer other than the run's initiator approves the new attempt. Skip passes over every check at once and asks for the reason (or type `/cutover skip %d REASON`).", i+1),
	}
	return m
}

// overrideModal is the decision modal of an Override: which check, what it found, and
// what overriding it does.
func overrideModal(r *engine.Run, i, attempt int, m *message.Modal, check string) {
	l := engine.CheckLine{ID: check, Name: check}
	if res, ok := checksOf(r.Steps[i]); ok {
		if found, ok := res.Line(check); ok {
			l = found
		}
	}
	m.Title, m.Submit = "Override a check", "Override"
	m.Sections = []string{
		"*" + stepTitle(r, i, attempt) + "*\n❌ *" + message.Escape(l.Name) + "*: " + message.Escape(clipRunes(CheckMessage(l), checkMessageRunes)),
		fmt.Sprintf("Overriding lets the run go on although this check failed. It takes as many maintainers other than the run's initiator as approving a step, each with a reason; every other check stays enforced, and step %d runs again once no failed check blocks.", i+1),
	}
	m.Inputs[0].Placeholder = "Why is it safe to go on although this check failed?"
}

// overrideClick opens the modal asking for the reason of an Override click.
func (h *Handler) overrideClick(ctx context.Context, k Click) {
	runID, step, attempt, check, err := ParseOverrideValue(k.Value)
	if err != nil || k.ActionID != ActOverride+":"+check {
		h.refuse(ctx, k.to(), "bad_button", "this button is not one of the cutover's")
		return
	}
	if k.ChannelID != h.channel() {
		h.refuse(ctx, k.to(), "wrong_channel", "cutover buttons work only in <#"+h.channel()+">")
		return
	}
	h.askReason(ctx, k, engine.Override, runID, step, attempt, check)
}

// clipRunes shortens s to n runes, marking the cut.
func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// parseCheck reads a check ID (engine.CheckLine.ID: lowercase letters, digits and
// dashes); "" when s is not one.
func parseCheck(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return ""
		}
	}
	return s
}
