package handlers

import (
	"fmt"
	"strings"

	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// decided says in words what a decision did.
var decided = map[string]string{
	"decision.approve": "approved", "decision.reject": "rejected", "decision.retry": "retried",
	"decision.skip": "skipped", "decision.abort": "aborted", "decision.override": "overrode",
}

// sectionBudget keeps each section under Slack's 3,000 characters per text block.
const sectionBudget = 2800

// RunDecisions lists every decision of one run from its audit log: who, what, when,
// on which step and attempt, and why.
func RunDecisions(r *engine.Run, audit []engine.AuditEntry) message.Message {
	title := fmt.Sprintf("Decisions of run `%s` (%s → %s, started by <@%s> %s, %s)", r.ID, r.Origin, r.Destination, r.Initiator,
		r.Created.UTC().Format("2006-01-02 15:04 MST"), Human(r.State))
	var lines []string
	for _, a := range audit {
		what, ok := decided[a.Event]
		if !ok {
			continue
		}
		if a.Check != "" {
			what += " check `" + a.Check + "` at"
		}
		step := ""
		if a.Step > 0 {
			name := a.StepID
			if a.Step-1 < len(r.Steps) {
				name = StepTitle(r.Steps[a.Step-1].Step)
			}
			step = fmt.Sprintf(" step %d (%s) attempt %d", a.Step, name, a.Attempt)
		}
		lines = append(lines, fmt.Sprintf("• %s: *%s*%s by <@%s>%s", a.At.UTC().Format("2006-01-02 15:04:05 MST"), what, step, a.User, reason(AuditWhy(a))))
	}
	m := message.Message{Text: fmt.Sprintf("Decisions of run %s", r.ID), Sections: []string{"*" + title + "*"}}
	if len(lines) == 0 {
		m.Sections = append(m.Sections, "No decision has been recorded for this run.")
		return m
	}
	var b strings.Builder
	for _, l := range lines {
		if b.Len() > 0 && b.Len()+len(l)+1 > sectionBudget {
			m.Sections = append(m.Sections, b.String())
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l)
	}
	m.Sections = append(m.Sections, b.String())
	m.Context = []string{fmt.Sprintf("%d decision(s). The whole audit log: `cutoverbot history --server URL --run %s`", len(lines), r.ID)}
	return m
}

// header is the run's header with the running build in its footer, so a thread says
// which version of the bot ran it.
func (h *Handler) header(r *engine.Run) message.Message {
	m := Header(r, h.opts.Clock())
	if h.opts.Version != "" {
		m.Context = append(m.Context, h.opts.Version)
	}
	return m
}
