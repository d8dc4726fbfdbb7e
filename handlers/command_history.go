package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// historyCommand answers `/cutover history` (recent runs) and `/cutover history RUN`
// (that run's decisions, from the audit log).
type historyCommand struct{}

func init() {
	register(subcommand{name: "history", rank: 80, runner: historyCommand{},
		help: "`/cutover history [RUN]`: recent runs, or one run's decisions (who, what, when, why)"})
}

func (historyCommand) run(ctx context.Context, h *Handler, c Command, args []string) {
	switch len(args) {
	case 0:
		runs, err := h.opts.Store.List(ctx, 10)
		if err != nil {
			h.opts.Logger.Error("history", "err", err)
			h.refuse(ctx, c.to(), "internal", "the run history could not be read; try again")
			return
		}
		h.reply(ctx, c, History(runs, h.opts.Clock(), h.runLink))
	case 1:
		id := args[0]
		r, err := h.opts.Store.Get(ctx, id)
		if errors.Is(err, engine.ErrNotFound) {
			h.refuse(ctx, c.to(), "bad_input", fmt.Sprintf("there is no run `%s`; `/cutover history` lists the recent ones", clip(id, 40)))
			return
		}
		var audit []engine.AuditEntry
		if err == nil {
			audit, err = h.opts.Store.Audit(ctx, id)
		}
		if err != nil {
			h.opts.Logger.Error("history", "run", id, "err", err)
			h.refuse(ctx, c.to(), "internal", "the audit log of that run could not be read; try again")
			return
		}
		h.reply(ctx, c, RunDecisions(r, audit))
	default:
		h.refuse(ctx, c.to(), "usage", "usage: `/cutover history` or `/cutover history RUN`")
	}
}
