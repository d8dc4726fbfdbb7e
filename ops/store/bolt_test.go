package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/store"
)

func newRun(id, who string, at time.Time) *engine.Run {
	return &engine.Run{ID: id, Initiator: who, Created: at, State: engine.Active, Version: 1,
		Steps: []engine.StepRun{{State: engine.Awaiting, Attempt: 1}}}
}

// testContract holds every backend to the same rules. open returns the store and a
// function that closes it and opens it again on the same state.
func testContract(t *testing.T, s store.Backend, reopen func() store.Backend) {
	var err error
	t0 := time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)

	r := newRun("r1", "U01ALICE", t0)
	require.NoError(t, s.Create(context.Background(), r, []engine.AuditEntry{{Event: "run.started", RunID: "r1"}}))
	err = s.Create(context.Background(), newRun("r2", "U02BOB", t0.Add(time.Minute)), nil)
	var busy *engine.BusyError
	require.ErrorAs(t, err, &busy)
	assert.Equal(t, "r1", busy.RunID)
	assert.Equal(t, "U01ALICE", busy.Holder)
	assert.True(t, busy.Since.Equal(t0))

	// A write must be exactly the next version.
	r.Version = 3
	assert.ErrorIs(t, s.Save(context.Background(), r, nil), engine.ErrStaleWrite)
	r.Version = 2
	r.Steps[0].State = engine.Running
	require.NoError(t, s.Save(context.Background(), r, []engine.AuditEntry{{Event: "step.running", RunID: "r1", Step: 1}}))
	// The same write again (a retry of one that landed although it reported failure)
	// is that one write; another change at the same version is stale.
	require.NoError(t, s.Save(context.Background(), r, []engine.AuditEntry{{Event: "step.running", RunID: "r1", Step: 1}}))
	other := r.Clone()
	other.Steps[0].State = engine.Failed
	assert.ErrorIs(t, s.Save(context.Background(), other, nil), engine.ErrStaleWrite)
	entries, err := s.Audit(context.Background(), "r1")
	require.NoError(t, err)
	assert.Len(t, entries, 2, "the audit entries of a retried write are stored once")

	// Reopen: everything is there.
	s = reopen()
	active, err := s.Active(context.Background())
	require.NoError(t, err)
	require.NotNil(t, active)
	assert.Equal(t, engine.Running, active.Steps[0].State)
	assert.Equal(t, int64(2), active.Version)

	// Ending the run releases the lock.
	active.Version, active.State = 3, engine.Completed
	require.NoError(t, s.Save(context.Background(), active, []engine.AuditEntry{{Event: "run.completed", RunID: "r1"}}))
	active2, err := s.Active(context.Background())
	require.NoError(t, err)
	assert.Nil(t, active2)
	require.NoError(t, s.Create(context.Background(), newRun("r2", "U02BOB", t0.Add(time.Hour)), []engine.AuditEntry{{Event: "run.started", RunID: "r2"}}))

	runs, err := s.List(context.Background(), 0)
	require.NoError(t, err)
	require.Len(t, runs, 2)
	assert.Equal(t, "r2", runs[0].ID, "newest first")

	all, err := s.Audit(context.Background(), "")
	require.NoError(t, err)
	var events []string
	last := map[string]uint64{}
	for _, a := range all {
		events = append(events, a.Event)
		assert.Greater(t, a.Seq, last[a.RunID], "append-only, in order within a run")
		last[a.RunID] = a.Seq
	}
	assert.Equal(t, []string{"run.started", "step.running", "run.completed", "run.started"}, events)
	one, err := s.Audit(context.Background(), "r1")
	require.NoError(t, err)
	assert.Len(t, one, 3)

	_, err = s.Get(context.Background(), "nope")
	assert.ErrorIs(t, err, engine.ErrNotFound)
	none, err := s.Audit(context.Background(), "nope")
	require.NoError(t, err)
	assert.Empty(t, none, "an unknown run has no audit entries")

	// Small records (schedules).
	require.NoError(t, s.PutValue(context.Background(), "schedule/a", map[string]string{"at": "1"}))
	require.NoError(t, s.PutValue(context.Background(), "schedule/b", map[string]string{"at": "2"}))
	require.NoError(t, s.PutValue(context.Background(), "other/c", 3))
	require.NoError(t, s.PutValue(context.Background(), "schedule/a", map[string]string{"at": "9"}))
	var seen []string
	require.NoError(t, s.Values(context.Background(), "schedule/", func(k string, raw []byte) error { seen = append(seen, k+"="+string(raw)); return nil }))
	assert.Equal(t, []string{`schedule/a={"at":"9"}`, `schedule/b={"at":"2"}`}, seen)
	require.NoError(t, s.DeleteValue(context.Background(), "schedule/a"))
	require.NoError(t, s.DeleteValue(context.Background(), "schedule/missing"))
	seen = nil
	require.NoError(t, s.Values(context.Background(), "schedule/", func(k string, _ []byte) error { seen = append(seen, k); return nil }))
	assert.Equal(t, []string{"schedule/b"}, seen)
}

func TestBoltContract(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir)
	require.NoError(t, err)
	cur := s
	t.Cleanup(func() { _ = cur.Close() })
	testContract(t, s, func() store.Backend {
		require.NoError(t, cur.Close())
		n, err := store.Open(dir)
		require.NoError(t, err)
		cur = n
		return n
	})
}

func TestASecondProcessCannotOpenTheSameStore(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the open timeout")
	}
	dir := t.TempDir()
	s, err := store.Open(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	_, err = store.Open(dir)
	assert.ErrorContains(t, err, "another cutoverbot process holds it")
}
