package handlers

import (
	"context"
	"fmt"
)

// startCommand answers `/cutover start ORIGIN DEST`: a new run.
type startCommand struct{}

func init() {
	register(subcommand{name: "start", rank: 10, help: "`/cutover start ORIGIN DEST`: start a run (e.g. `/cutover start prod2 prod1`)", runner: startCommand{}})
}

func (startCommand) run(ctx context.Context, h *Handler, c Command, args []string) {
	if len(args) != 2 {
		h.refuse(ctx, c.to(), "usage", "usage: `/cutover start ORIGIN DEST`, e.g. `/cutover start prod2 prod1`")
		return
	}
	r, err := h.opts.Engine.Start(ctx, args[0], args[1], c.UserID)
	if err != nil {
		h.refuseErr(ctx, c, err)
		return
	}
	h.opts.Logger.Info("run started", "user", c.UserID, "command", "start", "run", r.ID)
	h.reply(ctx, c, Info(fmt.Sprintf("Started run %s (%s → %s). Follow it in the thread of the new message in <#%s>.", r.ID, r.Origin, r.Destination, h.channel())))
}
