package schedule_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/schedule"
	"github.com/nycmeshnet/cutoverbot/ops/store"
)

func TestParseWhen(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	got, err := schedule.ParseWhen("2026-12-01 02:00", ny)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC), got.UTC(), "read in the configured zone (EST is UTC-5)")
	got, err = schedule.ParseWhen("2026-12-01T02:00:00Z", ny)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC), got.UTC())
	for _, bad := range []string{"", "tomorrow", "2026-13-01 02:00", "02:00", "2026-12-01; rm -rf /"} {
		_, err := schedule.ParseWhen(bad, ny)
		var ref *schedule.Refusal
		if assert.ErrorAs(t, err, &ref, bad) {
			assert.Equal(t, schedule.Refusal{Kind: schedule.NotATime, Text: strings.TrimSpace(bad), Zone: ny}, *ref)
		}
	}
}

type events struct {
	reminders []string
	starts    []string
}

func TestRemindersAndStartSurviveRestarts(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ev := &events{}
	hooks := schedule.Hooks{
		Check: func(o, d string) error {
			if o == d {
				return errors.New("same cluster")
			}
			return nil
		},
		Remind: func(_ context.Context, s schedule.Schedule, before time.Duration) error {
			ev.reminders = append(ev.reminders, fmt.Sprintf("%s %s", s.ID, before))
			return nil
		},
		Start: func(_ context.Context, s schedule.Schedule) (string, error) {
			ev.starts = append(ev.starts, s.ID+" by "+s.By)
			return "run-1", nil
		},
	}
	st, err := store.Open(dir)
	require.NoError(t, err)
	s := schedule.New(st, hooks, clock, nil)

	_, err = s.Add(context.Background(), "prod1", "prod1", now.Add(48*time.Hour), "U01ALICE")
	assert.ErrorContains(t, err, "same cluster")
	var ref *schedule.Refusal
	_, err = s.Add(context.Background(), "prod2", "prod1", now.Add(-time.Hour), "U01ALICE")
	require.ErrorAs(t, err, &ref)
	assert.Equal(t, schedule.Refusal{Kind: schedule.NotInFuture, At: now.Add(-time.Hour)}, *ref)
	_, err = s.Add(context.Background(), "prod2", "prod1", now.Add(91*24*time.Hour), "U01ALICE")
	require.ErrorAs(t, err, &ref)
	assert.Equal(t, schedule.TooFarAhead, ref.Kind)
	sc, err := s.Add(context.Background(), "prod2", "prod1", now.Add(48*time.Hour), "U01ALICE")
	require.NoError(t, err)
	_, err = s.Add(context.Background(), "prod1", "prod2", now.Add(49*time.Hour), "U02BOB")
	require.ErrorAs(t, err, &ref)
	assert.Equal(t, schedule.TooClose, ref.Kind)
	require.NotNil(t, ref.Other)
	assert.Equal(t, sc.ID, ref.Other.ID, "the schedule it is too close to is named")

	s.Tick(context.Background())
	assert.Empty(t, ev.reminders)
	now = now.Add(24*time.Hour + time.Minute)
	s.Tick(context.Background())
	s.Tick(context.Background())
	assert.Equal(t, []string{sc.ID + " 24h0m0s"}, ev.reminders, "once, 24 h before")

	// Restart: a new scheduler on the reopened store.
	require.NoError(t, st.Close())
	st, err = store.Open(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	s = schedule.New(st, hooks, clock, nil)
	list, err := s.List(context.Background())
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, sc.ID, list[0].ID)

	now = sc.At.Add(-59 * time.Minute)
	s.Tick(context.Background())
	assert.Equal(t, []string{sc.ID + " 24h0m0s", sc.ID + " 1h0m0s"}, ev.reminders)
	assert.Empty(t, ev.starts)
	now = sc.At
	s.Tick(context.Background())
	s.Tick(context.Background())
	assert.Equal(t, []string{sc.ID + " by U01ALICE"}, ev.starts, "started once, with the scheduler as initiator")
	list, _ = s.List(context.Background())
	assert.Equal(t, "run-1", list[0].RunID)

	_, err = s.Remove(context.Background(), "nope")
	assert.ErrorIs(t, err, schedule.ErrUnknown)
	require.ErrorAs(t, err, &ref)
	assert.Equal(t, schedule.Refusal{Kind: schedule.UnknownID, ID: "nope"}, *ref)
	_, err = s.Remove(context.Background(), sc.ID)
	require.NoError(t, err)
	list, _ = s.List(context.Background())
	assert.Empty(t, list)
}
