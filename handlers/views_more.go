package handlers

import (
	"fmt"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
)

// PlanMessage shows a resolved plan as `cutoverbot plan` prints it: each step with its
// cluster and role and everything Describe says of it (announcement text, the
// repositories and files of the pull requests, LB addresses, resolvers, the exact
// commands).
func PlanMessage(cfg *config.Config, p plan.Plan) message.Message {
	var b strings.Builder
	for i, s := range p.Steps {
		where := ""
		if s.Cluster != "" {
			where = fmt.Sprintf("  [%s: %s]", s.Role, s.Cluster)
		}
		gate := ""
		if s.AutoRun {
			gate = "  (read-only: runs at start)"
		}
		fmt.Fprintf(&b, "%2d. %s%s%s\n", i+1, StepTitle(s), where, gate)
		for _, line := range Describe(cfg, p, s) {
			fmt.Fprintf(&b, "      %s\n", line)
		}
	}
	approvals := ""
	if cfg.Slack.ApprovalsRequired > 1 {
		approvals = fmt.Sprintf(" (%d distinct approvals per step)", cfg.Slack.ApprovalsRequired)
	}
	text := fmt.Sprintf("Plan %s → %s: %d steps, each approved by a maintainer other than the initiator%s. Nothing was changed.", p.Origin, p.Destination, len(p.Steps), approvals)
	return message.Message{Text: text, Sections: []string{"*" + text + "*"}, Code: b.String()}
}

// History lists recent runs, each linked to its thread when link knows it.
func History(runs []*engine.Run, now time.Time, link func(*engine.Run) string) message.Message {
	if len(runs) == 0 {
		return Info("No cutover has run yet.")
	}
	return message.Message{Text: "Recent cutovers", Sections: []string{"*Recent cutovers*\n" + strings.Join(historyLines(runs, now, link), "\n")}}
}

func historyLines(runs []*engine.Run, now time.Time, link func(*engine.Run) string) []string {
	var lines []string
	for _, r := range runs {
		id := "`" + r.ID + "`"
		if l := link(r); l != "" {
			id = "<" + l + "|" + r.ID + ">"
		}
		lines = append(lines, fmt.Sprintf("• %s %s → %s by <@%s>, %s, *%s* (%s)", id, r.Origin, r.Destination, r.Initiator,
			slackTime(r.Created), Human(r.State), dur(r.Elapsed(now))))
	}
	return lines
}

// Home is the app's Home tab: the run in progress (its step, who it waits for, a link
// to its thread) and the last runs with links to theirs.
func Home(active *engine.Run, runs []*engine.Run, required int, now time.Time, link func(*engine.Run) string, channel string) message.Message {
	now = now.UTC()
	m := message.Message{Text: "MeshDB cutovers", Header: "MeshDB cutovers"}
	if active == nil {
		m.Sections = append(m.Sections, fmt.Sprintf("*Now:* no cutover is running. Start one with `/cutover start ORIGIN DEST` in <#%s>.", channel))
	} else {
		title := runTitle(active)
		if l := link(active); l != "" {
			title = "<" + l + "|" + title + ">"
		}
		s := active.Steps[active.Current]
		waits := waitsFor(s, required)
		m.Sections = append(m.Sections, fmt.Sprintf("*Now:* %s, run `%s`, started by <@%s> %s\nStep %d of %d: %s (%s)\nWaiting for: %s",
			title, active.ID, active.Initiator, slackTime(active.Created), active.Current+1, len(active.Steps), StepTitle(s.Step), Human(s.State), waits))
	}
	var past []*engine.Run
	for _, r := range runs {
		if active == nil || r.ID != active.ID {
			past = append(past, r)
		}
	}
	if len(past) == 0 {
		m.Sections = append(m.Sections, "*Last runs:* none yet.")
	} else {
		m.Sections = append(m.Sections, "*Last runs*\n"+strings.Join(historyLines(past, now, link), "\n"))
	}
	m.Context = []string{"As of " + slackTime(now) + " · `/cutover help` lists the commands"}
	return m
}
