package handlers

import (
	"context"

	"github.com/nycmeshnet/cutoverbot/ops/plan"
)

// planCommand answers `/cutover plan ORIGIN DEST`: the exact plan, changing nothing.
type planCommand struct{}

func init() {
	register(subcommand{name: "plan", rank: 30, help: "`/cutover plan ORIGIN DEST`: the exact plan, changing nothing", runner: planCommand{}})
}

func (planCommand) run(ctx context.Context, h *Handler, c Command, args []string) {
	if len(args) != 2 {
		h.refuse(ctx, c.to(), "usage", "usage: `/cutover plan ORIGIN DEST`")
		return
	}
	p, err := plan.Build(h.cfg(), args[0], args[1])
	if err != nil {
		h.refuse(ctx, c.to(), "bad_input", ErrText(err.Error()))
		return
	}
	h.reply(ctx, c, PlanMessage(h.cfg(), p))
}
