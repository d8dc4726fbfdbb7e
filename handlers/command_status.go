package handlers

import "context"

// statusCommand answers `/cutover status`: the active run and what it waits for.
type statusCommand struct{}

func init() {
	register(subcommand{name: "status", rank: 20, help: "`/cutover status`: the run, its current step, who it waits for", runner: statusCommand{}})
}

func (statusCommand) run(ctx context.Context, h *Handler, c Command, _ []string) {
	h.reply(ctx, c, Status(h.opts.Engine.Active(), h.required(), h.opts.Clock()))
}
