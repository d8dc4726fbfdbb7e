package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
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

func (h *Handler) zone() *time.Location { return zoneOf(h.cfg()) }

// zoneOf is the configured zone for schedules, UTC when it cannot be loaded.
func zoneOf(cfg *config.Config) *time.Location {
	loc, err := time.LoadLocation(cfg.Schedule.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Starter starts runs (*engine.Engine).
type Starter interface {
	Start(ctx context.Context, origin, dest, initiator string) (*engine.Run, error)
}

// ScheduleHooks are the scheduler's hooks: check validates a pair of clusters before a
// schedule is accepted; the rest is the Slack side of scheduled runs (reminders,
// starts, starts that failed). They need no Handler, so the scheduler is made first.
func ScheduleHooks(cfg *config.Config, p Poster, runs Starter, log *slog.Logger, check func(origin, dest string) error) schedule.Hooks {
	channel := cfg.Slack.Channel
	if log == nil {
		log = slog.Default()
	}
	return schedule.Hooks{
		Check: check,
		Remind: func(ctx context.Context, s schedule.Schedule, before time.Duration) error {
			_, err := p.Post(ctx, channel, "", Info(say("schedule/reminder", scheduleWords{S: s, Zone: zoneOf(cfg), Before: before})))
			return err
		},
		Start: func(ctx context.Context, s schedule.Schedule) (string, error) {
			r, err := runs.Start(ctx, s.Origin, s.Dest, s.By)
			if ref, ok := engine.IsRefusal(err); ok {
				// The schedule keeps the error to show in its list: in words.
				return "", errors.New(RefusalText(ref))
			}
			if err != nil {
				return "", err
			}
			return r.ID, nil
		},
		Failed: func(ctx context.Context, s schedule.Schedule, err error) {
			_, perr := p.Post(ctx, channel, "", Info(say("schedule/failed", scheduleWords{S: s, Zone: zoneOf(cfg), Err: err})))
			if perr != nil {
				log.Error("could not report a failed scheduled start", "schedule", s.ID, "err", perr)
			}
		},
	}
}

// scheduleWords are the facts of a schedule's messages (templates/schedule.tmpl).
type scheduleWords struct {
	S       schedule.Schedule
	Zone    *time.Location
	Before  time.Duration // a reminder's lead time
	Channel string
	Err     error // why a scheduled start failed
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
		lines = append(lines, say("schedule/line", scheduleWords{S: s, Zone: loc}))
	}
	if len(lines) == 0 {
		return Info(say("schedule/none", nil))
	}
	return Message{Text: "Scheduled cutovers", Sections: []string{"*Scheduled cutovers*\n" + strings.Join(lines, "\n")}}
}
