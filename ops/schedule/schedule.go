// Package schedule keeps planned cutovers: it reminds the channel 24 hours and 1 hour
// before, and starts the run at the time, with the person who scheduled it as the
// initiator. Schedules are stored, so they survive restarts.
package schedule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// KV is where schedules are kept (the store's key-value records).
type KV interface {
	PutValue(ctx context.Context, key string, v any) error
	DeleteValue(ctx context.Context, key string) error
	Values(ctx context.Context, prefix string, fn func(key string, raw []byte) error) error
}

const prefix = "schedule/"

// Schedule is one planned cutover.
type Schedule struct {
	ID        string    `json:"id"`
	Origin    string    `json:"origin"`
	Dest      string    `json:"dest"`
	At        time.Time `json:"at"`
	By        string    `json:"by"`
	Created   time.Time `json:"created"`
	Reminded  []string  `json:"reminded,omitempty"` // "24h", "1h"
	Started   bool      `json:"started,omitempty"`
	RunID     string    `json:"run_id,omitempty"`
	LastError string    `json:"last_error,omitempty"`
}

// Reminders are sent this long before a schedule's time.
var Reminders = []time.Duration{24 * time.Hour, time.Hour}

// Hooks are what the scheduler does at each moment.
type Hooks struct {
	// Check validates the pair before a schedule is accepted (unknown cluster, same twice).
	Check func(origin, dest string) error
	// Remind posts a reminder that the cutover starts in `before`.
	Remind func(ctx context.Context, s Schedule, before time.Duration) error
	// Start starts the run; it returns the run ID.
	Start func(ctx context.Context, s Schedule) (string, error)
	// Failed reports a start that could not happen (another run active, ...).
	Failed func(ctx context.Context, s Schedule, err error)
}

// Scheduler holds the schedules.
type Scheduler struct {
	kv    KV
	hooks Hooks
	clock func() time.Time
	log   *slog.Logger
	mu    sync.Mutex
}

// New makes a scheduler over kv.
func New(kv KV, hooks Hooks, clock func() time.Time, log *slog.Logger) *Scheduler {
	if clock == nil {
		clock = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Scheduler{kv: kv, hooks: hooks, clock: clock, log: log}
}

// Layouts accepted for a time without an offset, read in the configured zone.
var layouts = []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05"}

// ParseWhen reads RFC 3339 ("2026-12-01T02:00:00-05:00") or "2026-12-01 02:00" in loc.
func ParseWhen(text string, loc *time.Location) (time.Time, error) {
	text = strings.TrimSpace(text)
	if t, err := time.Parse(time.RFC3339, text); err == nil {
		return t, nil
	}
	for _, l := range layouts {
		if t, err := time.ParseInLocation(l, text, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &Refusal{Kind: NotATime, Text: text, Zone: loc}
}

// Add plans a cutover.
func (s *Scheduler) Add(ctx context.Context, origin, dest string, at time.Time, by string) (Schedule, error) {
	if s.hooks.Check != nil {
		if err := s.hooks.Check(origin, dest); err != nil {
			return Schedule{}, err
		}
	}
	now := s.clock()
	if !at.After(now.Add(time.Minute)) {
		return Schedule{}, &Refusal{Kind: NotInFuture, At: at}
	}
	if at.After(now.Add(MaxAhead)) {
		return Schedule{}, &Refusal{Kind: TooFarAhead, At: at}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.list(ctx)
	if err != nil {
		return Schedule{}, err
	}
	for _, o := range all {
		if !o.Started && o.At.Sub(at).Abs() < MinApart {
			return Schedule{}, &Refusal{Kind: TooClose, At: at, Other: &o}
		}
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	sc := Schedule{ID: "s" + hex.EncodeToString(b[:]), Origin: origin, Dest: dest, At: at.UTC(), By: by, Created: now.UTC()}
	// Reminders whose moment has already passed are not sent late.
	for _, before := range Reminders {
		if now.After(at.Add(-before)) {
			sc.Reminded = append(sc.Reminded, before.String())
		}
	}
	if err := s.kv.PutValue(ctx, prefix+sc.ID, sc); err != nil {
		return Schedule{}, fmt.Errorf("store the schedule: %w", err)
	}
	return sc, nil
}

// List returns the schedules, soonest first.
func (s *Scheduler) List(ctx context.Context) ([]Schedule, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.list(ctx)
}

func (s *Scheduler) list(ctx context.Context) ([]Schedule, error) {
	var out []Schedule
	err := s.kv.Values(ctx, prefix, func(_ string, raw []byte) error {
		var sc Schedule
		if err := json.Unmarshal(raw, &sc); err != nil {
			return fmt.Errorf("read a schedule: %w", err)
		}
		out = append(out, sc)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, err
}

// ErrUnknown is returned (as a *Refusal of kind UnknownID) for an ID that names no
// schedule.
var ErrUnknown = errors.New("no such schedule")

// Remove deletes a schedule.
func (s *Scheduler) Remove(ctx context.Context, id string) (Schedule, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.list(ctx)
	if err != nil {
		return Schedule{}, err
	}
	for _, sc := range all {
		if sc.ID == id {
			return sc, s.kv.DeleteValue(ctx, prefix+id)
		}
	}
	return Schedule{}, &Refusal{Kind: UnknownID, ID: id}
}

// Tick sends the reminders that are due and starts the runs whose time has come.
// Each change is stored before it is acted on, so a restart never starts a run twice.
func (s *Scheduler) Tick(ctx context.Context) {
	s.mu.Lock()
	all, err := s.list(ctx)
	s.mu.Unlock()
	if err != nil {
		s.log.Error("read schedules", "err", err)
		return
	}
	now := s.clock()
	for _, sc := range all {
		if sc.Started {
			continue
		}
		if !now.Before(sc.At) {
			sc.Started = true
			if err := s.kv.PutValue(ctx, prefix+sc.ID, sc); err != nil {
				s.log.Error("could not mark a schedule started; not starting it", "schedule", sc.ID, "err", err)
				continue
			}
			runID, err := s.hooks.Start(ctx, sc)
			if err != nil {
				sc.LastError = err.Error()
				if s.hooks.Failed != nil {
					s.hooks.Failed(ctx, sc, err)
				}
			}
			sc.RunID = runID
			if err := s.kv.PutValue(ctx, prefix+sc.ID, sc); err != nil {
				s.log.Error("could not record a scheduled run", "schedule", sc.ID, "err", err)
			}
			continue
		}
		for _, before := range Reminders {
			key := before.String()
			if now.Before(sc.At.Add(-before)) || contains(sc.Reminded, key) {
				continue
			}
			sc.Reminded = append(sc.Reminded, key)
			if err := s.kv.PutValue(ctx, prefix+sc.ID, sc); err != nil {
				s.log.Error("could not record a reminder", "schedule", sc.ID, "err", err)
				break
			}
			if s.hooks.Remind != nil {
				if err := s.hooks.Remind(ctx, sc, before); err != nil {
					s.log.Error("reminder", "schedule", sc.ID, "err", err)
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
