package handlers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/schedule"
)

func (h *Handler) scheduleCommand(ctx context.Context, c Command, args []string) {
	s := h.opts.Scheduler
	if s == nil {
		h.refuse(ctx, c.to(), "unavailable", "scheduling is not set up on this bot")
		return
	}
	if len(args) == 0 {
		list, err := s.List()
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
	sc, err := s.Add(args[0], args[1], at, c.UserID)
	if err != nil {
		h.refuse(ctx, c.to(), "bad_input", err.Error())
		return
	}
	h.reply(ctx, c, Info(fmt.Sprintf("Scheduled %s: %s → %s at %s, started by <@%s>. Reminders 24 h and 1 h before in <#%s>. `/cutover unschedule %s` removes it.",
		sc.ID, sc.Origin, sc.Dest, slackTimeIn(sc.At, h.zone()), sc.By, h.channel(), sc.ID)))
}

func (h *Handler) unscheduleCommand(ctx context.Context, c Command, args []string) {
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
	sc, err := h.opts.Scheduler.Remove(args[0])
	if err != nil {
		h.refuse(ctx, c.to(), "bad_input", err.Error())
		return
	}
	h.reply(ctx, c, Info(fmt.Sprintf("Removed schedule %s (%s → %s at %s).", sc.ID, sc.Origin, sc.Dest, slackTimeIn(sc.At, h.zone()))))
}

// maintainer says whether user may do what ("schedule cutovers"), and if not, why.
func (h *Handler) maintainer(ctx context.Context, user, what string) (bool, string) {
	if h.opts.Policy == nil {
		return true, ""
	}
	ok, err := h.opts.Policy.IsMaintainer(ctx, user)
	if err != nil {
		return false, "could not check who the maintainers are; try again"
	}
	if !ok {
		return false, "only MeshDB maintainers can " + what + "; ask one of them"
	}
	return true, ""
}

func (h *Handler) zone() *time.Location {
	loc, err := time.LoadLocation(h.cfg().Schedule.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// ScheduleHooks are the Slack side of scheduled runs: reminders and starts.
func (h *Handler) ScheduleHooks() schedule.Hooks {
	return schedule.Hooks{
		Remind: func(ctx context.Context, s schedule.Schedule, before time.Duration) error {
			_, err := h.opts.Poster.Post(ctx, h.channel(), "", Info(fmt.Sprintf("⏰ Reminder: a MeshDB cutover %s → %s is scheduled in %s, at %s (by <@%s>, schedule %s).",
				s.Origin, s.Dest, humanBefore(before), slackTimeIn(s.At, h.zone()), s.By, s.ID)))
			return err
		},
		Start: func(ctx context.Context, s schedule.Schedule) (string, error) {
			r, err := h.opts.Engine.Start(ctx, s.Origin, s.Dest, s.By)
			if err != nil {
				return "", err
			}
			return r.ID, nil
		},
		Failed: func(ctx context.Context, s schedule.Schedule, err error) {
			_, perr := h.opts.Poster.Post(ctx, h.channel(), "", Info(fmt.Sprintf("⚠️ The scheduled cutover %s (%s → %s, by <@%s>) could not start: %s", s.ID, s.Origin, s.Dest, s.By, err)))
			if perr != nil {
				h.opts.Logger.Error("could not report a failed scheduled start", "schedule", s.ID, "err", perr)
			}
		},
	}
}

func humanBefore(d time.Duration) string {
	if d >= time.Hour && d%time.Hour == 0 {
		return fmt.Sprintf("%d h", d/time.Hour)
	}
	return d.String()
}

// ScheduleList shows the planned cutovers.
func ScheduleList(list []schedule.Schedule, loc *time.Location) Message {
	var lines []string
	for _, s := range list {
		state := "planned"
		if s.Started {
			state = "started as run " + s.RunID
			if s.LastError != "" {
				state = "could not start: " + s.LastError
			}
		}
		lines = append(lines, fmt.Sprintf("• `%s` %s → %s at %s by <@%s> (%s)", s.ID, s.Origin, s.Dest, slackTimeIn(s.At, loc), s.By, state))
	}
	if len(lines) == 0 {
		return Info("No cutover is scheduled. `/cutover schedule ORIGIN DEST TIME` plans one.")
	}
	return Message{Text: "Scheduled cutovers", Sections: []string{"*Scheduled cutovers*\n" + strings.Join(lines, "\n")}}
}
