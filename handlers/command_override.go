package handlers

import (
	"context"
	"fmt"
	"strings"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// overrideCommand answers `/cutover override CHECK REASON`: an Override of a failed
// check of the step the run waits at.
type overrideCommand struct{}

func init() {
	register(subcommand{name: "override", rank: 55, runner: overrideCommand{},
		help: "`/cutover override CHECK REASON`: let one failed preflight check pass, e.g. `/cutover override dns-points-at-the-origin 9.9.9.9 caches the old answer`"})
}

func (overrideCommand) run(ctx context.Context, h *Handler, c Command, args []string) {
	r := h.opts.Engine.Active()
	if r == nil {
		h.refuse(ctx, c.to(), "no_run", "no cutover is running")
		return
	}
	s := r.Steps[r.Current]
	res, ok := checksOf(s)
	blocking := blockingChecks(s, res)
	if !ok || !s.State.Stuck() || len(blocking) == 0 {
		h.refuse(ctx, c.to(), "state", fmt.Sprintf("no failed check waits for an override: the run is at step %d (%s, %s)", r.Current+1, StepTitle(s.Step), Human(s.State)))
		return
	}
	ids := make([]string, len(blocking))
	for i, l := range blocking {
		ids[i] = "`" + l.ID + "`"
	}
	if len(args) == 0 {
		h.refuse(ctx, c.to(), "usage", fmt.Sprintf("name the check and say why: `/cutover override CHECK REASON`, with CHECK one of %s", strings.Join(ids, ", ")))
		return
	}
	check := strings.ToLower(args[0])
	if len(args) < 2 {
		h.refuse(ctx, c.to(), "reason_required", fmt.Sprintf("overriding needs a reason: `/cutover override %s REASON`", check))
		return
	}
	msg, err := h.opts.Engine.Decide(ctx, engine.Request{RunID: r.ID, Step: r.Current, Attempt: s.Attempt, User: c.UserID,
		Action: engine.Override, Check: check, Reason: strings.Join(args[1:], " ")})
	if err != nil {
		h.refuseErr(ctx, c, err)
		return
	}
	h.reply(ctx, c, Info(fmt.Sprintf("Step %d: %s.", r.Current+1, OutcomeText(msg))))
}
