package handlers

import (
	"context"
)

// unscheduleCommand answers `/cutover unschedule ID`; schedule's line in Help covers it.
type unscheduleCommand struct{}

func init() {
	register(subcommand{name: "unschedule", rank: 70, runner: unscheduleCommand{}})
}

func (unscheduleCommand) run(ctx context.Context, h *Handler, c Command, args []string) {
	if h.opts.Scheduler == nil {
		h.refuse(ctx, c.to(), "unavailable", "scheduling is not set up on this bot")
		return
	}
	if ok, err := h.maintainer(ctx, c.UserID, "schedule cutovers"); !ok {
		h.refuse(ctx, c.to(), "not_maintainer", err)
		return
	}
	if len(args) != 1 {
		h.refuse(ctx, c.to(), "usage", "usage: `/cutover unschedule ID` (`/cutover schedule` lists them)")
		return
	}
	sc, err := h.opts.Scheduler.Remove(ctx, args[0])
	if err != nil {
		h.refuseSchedule(ctx, c, "bad_input", err)
		return
	}
	h.reply(ctx, c, Info(say("schedule/removed", scheduleWords{S: sc, Zone: h.zone()})))
}
