package handlers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/schedule"
)

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
