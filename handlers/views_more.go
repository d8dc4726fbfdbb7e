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

// PlanMessage shows a resolved plan with its exact commands.
func PlanMessage(cfg *config.Config, p plan.Plan) message.Message {
	var b strings.Builder
	for i, s := range p.Steps {
		where := ""
		if s.Cluster != "" {
			where = " [" + s.Cluster + "]"
		}
		fmt.Fprintf(&b, "%2d. %s%s\n", i+1, s.Title, where)
		for _, c := range plan.Commands(cfg, p, s) {
			fmt.Fprintf(&b, "      %s\n", plan.ShellQuote(c.Argv))
		}
	}
	text := fmt.Sprintf("Plan %s → %s: %d steps, each approved by a maintainer other than the initiator. Nothing was changed.", p.Origin, p.Destination, len(p.Steps))
	return message.Message{Text: text, Sections: []string{"*" + text + "*"}, Code: b.String()}
}

// History lists recent runs.
func History(runs []*engine.Run, now time.Time) message.Message {
	if len(runs) == 0 {
		return Info("No cutover has run yet.")
	}
	var lines []string
	for _, r := range runs {
		lines = append(lines, fmt.Sprintf("• `%s` %s → %s by <@%s>, %s, *%s* (%s)", r.ID, r.Origin, r.Destination, r.Initiator,
			r.Created.UTC().Format("2006-01-02 15:04 MST"), engine.Human(r.State), dur(r.Elapsed(now))))
	}
	return message.Message{Text: "Recent cutovers", Sections: []string{"*Recent cutovers*\n" + strings.Join(lines, "\n")}}
}
