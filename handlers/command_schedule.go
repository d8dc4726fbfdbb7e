package handlers

import (
	"context"
	"fmt"
	"strings"

	"github.com/nycmeshnet/cutoverbot/ops/schedule"
)

// scheduleCommand answers `/cutover schedule` (the list) and
// `/cutover schedule ORIGIN DEST TIME` (a planned run).
type scheduleCommand struct{}

func init() {
	register(subcommand{name: "schedule", rank: 60, runner: scheduleCommand{},
		help: "`/cutover schedule ORIGIN DEST TIME`: plan a run (reminders 24 h and 1 h before); `/cutover schedule` lists, `/cutover unschedule ID` removes"})
}

func (scheduleCommand) run(ctx context.Context, h *Handler, c Command, args []string) {
	s := h.opts.Scheduler
	if s == nil {
		h.refuse(ctx, c.to(), "unavailable", "scheduling is not set up on this bot")
		return
	}
	if len(args) == 0 {
		list, err := s.List(ctx)
		if err != nil {
			h.opts.Logger.Error("list schedules", "err", err)
			h.refuse(ctx, c.to(), "internal", "the schedules could not be read; try again")
			return
		}
		h.reply(ctx, c, ScheduleList(list, h.zone()))
		return
	}
	if ok, err := h.maintainer(ctx, c.UserID, "schedule cutovers"); !ok {
		h.refuse(ctx, c.to(), "not_maintainer", err)
		return
	}
	if len(args) < 3 {
		h.refuse(ctx, c.to(), "usage", fmt.Sprintf("usage: `/cutover schedule ORIGIN DEST TIME`, e.g. `/cutover schedule prod2 prod1 2026-12-01 02:00` (%s)", h.zone()))
		return
	}
	at, err := schedule.ParseWhen(strings.Join(args[2:], " "), h.zone())
	if err != nil {
		h.refuse(ctx, c.to(), "usage", err.Error())
		return
	}
	sc, err := s.Add(ctx, args[0], args[1], at, c.UserID)
	if err != nil {
		h.refuse(ctx, c.to(), "bad_input", err.Error())
		return
	}
	h.reply(ctx, c, Info(fmt.Sprintf("Scheduled %s: %s → %s at %s, started by <@%s>. Reminders 24 h and 1 h before in <#%s>. `/cutover unschedule %s` removes it.",
		sc.ID, sc.Origin, sc.Dest, slackTimeIn(sc.At, h.zone()), sc.By, h.channel(), sc.ID)))
}
