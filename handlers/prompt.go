package handlers

import (
	"fmt"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// stepTitle is "Step 9: Restore destination", with the attempt after the first.
func stepTitle(r *engine.Run, i, attempt int) string {
	t := fmt.Sprintf("Step %d: %s", i+1, StepTitle(r.Steps[i].Step))
	if attempt > 1 {
		t += fmt.Sprintf(" (attempt %d)", attempt)
	}
	return t
}

// Prompt asks for approval of one attempt of a step: what changes and how it is
// undone first, then who is asked (mention, "" for none), the buttons, and the exact
// commands folded in small print below.
func Prompt(r *engine.Run, i int, required int, b Brief, mention string) message.Message {
	s := r.Steps[i]
	title := stepTitle(r, i, s.Attempt)
	text := "Approval needed: " + title
	sections := []string{"*" + title + "*" + optional(s.Step) + "\n" + b.Changes + "\n_" + b.Undo + "_"}
	sections = append(sections, deployWarnings(r)...)
	if mention != "" {
		text += " · " + mention
		sections = append(sections, "👉 "+mention+": approve or reject")
	}
	return message.Message{
		Text:     text,
		Sections: sections,
		Buttons: []message.Button{
			{Label: "Approve", ActionID: ActApprove, Value: ButtonValue(r.ID, i, s.Attempt), Style: message.Primary},
			{Label: "Reject", ActionID: ActReject, Value: ButtonValue(r.ID, i, s.Attempt), Style: message.Danger},
		},
		Context: append(append([]string{approvalNeeds(s, required)}, skipProposal(s, required)...), b.Details...),
	}
}

// skipsNeeded is how many maintainers other than the initiator must choose Skip: as
// many as running the step needs, but one for an announcement (the engine's rule).
func skipsNeeded(s engine.StepRun, required int) int {
	if s.Step.Kind == plan.KindAnnounce {
		return 1
	}
	return required
}

// skipProposal says who proposed skipping the current attempt and how many must still
// confirm; nothing when nobody did.
func skipProposal(s engine.StepRun, required int) []string {
	if len(s.SkipVotes) == 0 || s.State == engine.Skipped {
		return nil
	}
	var why []string
	for i, u := range s.SkipVotes {
		r := ""
		if i < len(s.SkipReasons) {
			r = ": " + s.SkipReasons[i]
		}
		why = append(why, "<@"+u+">"+r)
	}
	left := skipsNeeded(s, required) - len(s.SkipVotes)
	return []string{fmt.Sprintf("⏭️ Skip proposed by %s. %d more maintainer(s) other than the run's initiator must choose Skip to confirm it.", strings.Join(why, "; "), left)}
}

func optional(s plan.Step) string {
	if s.Optional {
		return " _(optional: Skip it if it is not wanted)_"
	}
	return ""
}

// approvalNeeds names who may approve without mentioning the initiator: a mention
// notifies, and the initiator is the one person who cannot approve.
func approvalNeeds(s engine.StepRun, required int) string {
	got := ""
	if len(s.Approvals) > 0 {
		got = " · approved so far by " + mentions(s.Approvals)
	}
	return fmt.Sprintf("Needs %d approval(s) from maintainers other than the run's initiator%s", required, got)
}

func mentions(users []string) string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = "<@" + u + ">"
	}
	return strings.Join(out, ", ")
}

// Decided is a prompt after its decision: the buttons are gone and who decided is shown.
func Decided(r *engine.Run, i, attempt int, required int) message.Message {
	s := r.Steps[i]
	title := stepTitle(r, i, attempt)
	var who []string
	verdict := ""
	for _, d := range r.Decisions {
		if d.Step != i || d.Attempt != attempt {
			continue
		}
		switch d.Action {
		case engine.Approve:
			who = append(who, "Approved by <@"+d.User+">")
		case engine.Reject:
			verdict = "Rejected by <@" + d.User + ">" + reason(d.Reason)
		case engine.Skip:
			verdict = "Skipped by <@" + d.User + ">" + reason(d.Reason)
		case engine.Abort:
			verdict = "Run aborted by <@" + d.User + ">" + reason(d.Reason)
		}
	}
	if verdict != "" {
		who = append(who, verdict)
	}
	if s.Attempt == attempt && s.State == engine.Expired {
		who = append(who, "Expired: "+whyStopped(s))
	}
	if len(who) == 0 {
		who = []string{Human(s.State)}
	}
	return message.Message{Text: title + ": " + strings.Join(who, "; "), Sections: []string{"*" + title + "*\n" + strings.Join(who, " · ")}}
}

func reason(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}

// Failure reports a failed, interrupted or expired step and offers Retry, Skip and
// Abort; Skip and Abort open a modal that asks for the reason. A snapshot diff that
// found differences shows them per endpoint instead of the error text.
func Failure(r *engine.Run, i int, required int, mention string) message.Message {
	s := r.Steps[i]
	if res, ok := checksOf(s); ok && s.State == engine.Failed {
		return checksFailure(r, i, required, mention, res)
	}
	what := map[engine.StepState]string{engine.Failed: "failed", engine.Interrupted: "was interrupted", engine.Expired: "expired"}[s.State]
	text := fmt.Sprintf("%s %s %s", icon(s.State), stepTitle(r, i, s.Attempt), what)
	m := message.Message{Text: text, Sections: []string{"*" + text + "*"}}
	if diff := diffSummary(s); diff != "" {
		m.Text = fmt.Sprintf("%s %s: the snapshots differ", icon(s.State), stepTitle(r, i, s.Attempt))
		m.Sections = []string{"*" + m.Text + "*", diff,
			"The whole diff is in the file above. If the difference is expected, *Skip* and say why; otherwise *Abort*."}
	} else {
		m.Code = clipLines(whyStopped(s), 40)
	}
	if mention != "" {
		m.Text += " · " + mention
		m.Sections = append(m.Sections, "👉 "+mention+": Retry, Skip or Abort")
	}
	m.Sections = append(m.Sections, skipProposal(s, required)...)
	v := ButtonValue(r.ID, i, s.Attempt)
	m.Buttons = []message.Button{
		{Label: "Retry", ActionID: ActRetry, Value: v, Style: message.Primary},
		{Label: "Skip", ActionID: ActSkip, Value: v},
		{Label: "Abort", ActionID: ActAbort, Value: v, Style: message.Danger},
	}
	m.Context = []string{fmt.Sprintf("A Retry by a maintainer other than the run's initiator approves the new attempt. Skip and Abort ask for the reason (or type `/cutover skip %d REASON`).", i+1)}
	return m
}

// IsDiff reports whether a step's details are a snapshot diff, which is always
// uploaded whole so that those asked to Skip can read all of it.
func IsDiff(s engine.StepRun) bool {
	return s.Step.Kind == plan.KindSnapshot && s.Step.Snapshot != nil && s.Step.Snapshot.DiffAgainst != "" && s.Output.Details != ""
}

// diffSummary lays out a failed diff step's differences (report.SnapshotDiffers: a line
// of counts per endpoint, then the first changes with field-level old and new values)
// for the thread; "" when the step is no failed diff.
func diffSummary(s engine.StepRun) string {
	if !IsDiff(s) || s.State != engine.Failed {
		return ""
	}
	if s.Failure != nil && s.Failure.Kind == (report.SnapshotDiffers{}).ReportKind() {
		facts, err := report.Decode(s.Failure.Kind, s.Failure.Facts)
		if d, ok := facts.(report.SnapshotDiffers); err == nil && ok {
			return diffLines(d)
		}
	}
	return storedDiffSummary(s)
}

// diffLines lays out the differences: each endpoint's name in bold with its counts,
// then its first differences indented.
func diffLines(d report.SnapshotDiffers) string {
	var lines []string
	for _, e := range d.Endpoints {
		lines = append(lines, "*"+message.Escape(e.Name)+"*: "+message.Escape(say("diff-counts", e)))
		for _, it := range e.Items {
			lines = append(lines, "    "+message.Escape("• "+e.Name+" "+say("diff-item", it)))
		}
	}
	return strings.Join(lines, "\n")
}

// storedDiffSummary lays out the summary a diff step of an earlier version stored in
// words (ops/snapshot's Report.Summary).
func storedDiffSummary(s engine.StepRun) string {
	if strings.TrimSpace(s.Output.Summary) == "" {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(s.Output.Summary), "\n") {
		if strings.HasPrefix(l, "• ") {
			lines = append(lines, "    "+message.Escape(l))
			continue
		}
		name, counts, ok := strings.Cut(l, ": ")
		if !ok {
			lines = append(lines, message.Escape(l))
			continue
		}
		lines = append(lines, "*"+message.Escape(name)+"*: "+message.Escape(counts))
	}
	return strings.Join(lines, "\n")
}

// FailureDecided is a failure message after Retry, Skip or Abort was chosen.
func FailureDecided(r *engine.Run, i, attempt int, d engine.Decision) message.Message {
	s := r.Steps[i]
	verb := map[engine.Action]string{engine.Retry: "Retried", engine.Skip: "Skipped", engine.Abort: "Aborted", engine.Reject: "Rejected"}[d.Action]
	if d.Action == engine.Override {
		text := fmt.Sprintf("Step %d: %s (attempt %d) — every failed check overridden, the last (`%s`) by <@%s>%s. It runs again with the other checks enforced.",
			i+1, StepTitle(s.Step), attempt, d.Check, d.User, reason(d.Reason))
		return message.Message{Text: text, Sections: []string{text}}
	}
	text := fmt.Sprintf("Step %d: %s (attempt %d) — %s by <@%s>%s", i+1, StepTitle(s.Step), attempt, verb, d.User, reason(d.Reason))
	return message.Message{Text: text, Sections: []string{text}}
}

// Reminder nudges the approvers while an approval waits; expires, when not zero, says
// when the prompt expires (each reader sees it in their own time zone).
func Reminder(r *engine.Run, i int, waited time.Duration, mention string, expires time.Time) message.Message {
	text := fmt.Sprintf("⏰ Step %d: %s is %s.", i+1, StepTitle(r.Steps[i].Step), say("reminder", waited))
	if !expires.IsZero() {
		text += " It expires " + slackTime(expires) + " unless someone decides."
	}
	if mention != "" {
		text += " 👉 " + mention + ": approve or reject it above."
	} else {
		text += " Maintainers other than the run's initiator can approve it above."
	}
	return message.Message{Text: text, Sections: []string{text}}
}

// slackTime shows t in each reader's own time zone, with UTC as the fallback for
// clients that cannot.
func slackTime(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// slackTimeIn is slackTime with the fallback in loc (a schedule's zone).
func slackTimeIn(t time.Time, loc *time.Location) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.In(loc).Format("Mon 2006-01-02 15:04 MST"))
}
