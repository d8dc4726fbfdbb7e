package handlers

import (
	"context"
	"errors"
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
		h.refuseSchedule(ctx, c, "usage", err)
		return
	}
	sc, err := s.Add(ctx, args[0], args[1], at, c.UserID)
	if err != nil {
		h.refuseSchedule(ctx, c, "bad_input", err)
		return
	}
	h.reply(ctx, c, Info(say("schedule/added", scheduleWords{S: sc, Zone: h.zone(), Channel: h.channel()})))
}

// refuseSchedule answers a request the scheduler refused, or a pair the plan refused
// (its error says why), with code for the metrics.
func (h *Handler) refuseSchedule(ctx context.Context, c Command, code string, err error) {
	var r *schedule.Refusal
	if errors.As(err, &r) {
		h.refuse(ctx, c.to(), code, ScheduleRefusalText(r))
		return
	}
	h.refuse(ctx, c.to(), code, ErrText(err.Error()))
}
