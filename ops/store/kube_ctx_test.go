package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/kube/kubefake"
	"github.com/nycmeshnet/cutoverbot/ops/store"
)

// Every call of the Kubernetes store that waits on an API server that does not answer
// ends when its caller's context does (shutdown, a request given up), not after the
// store's own bound on a call, and changes nothing.
func TestKubeCallsEndWithTheirContext(t *testing.T) {
	srv, path := kubefake.StartForTest(t, kubefake.Options{}, "home")
	s := openKube(t, connectHome(t, path, "cutoverbot"), "cutoverbot")
	ctx := context.Background()
	t0 := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	require.NoError(t, s.Create(ctx, newRun("r1", "U01ALICE", t0), []engine.AuditEntry{{Event: "run.started", RunID: "r1"}}))
	require.NoError(t, s.PutValue(ctx, "schedule/a", "kept"))

	next := newRun("r1", "U01ALICE", t0)
	next.Version = 2
	next.State = engine.Completed
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Create", func(ctx context.Context) error { return s.Create(ctx, newRun("r2", "U02BOB", t0), nil) }},
		{"Save", func(ctx context.Context) error { return s.Save(ctx, next, nil) }},
		{"Active", func(ctx context.Context) error { _, err := s.Active(ctx); return err }},
		{"Get", func(ctx context.Context) error { _, err := s.Get(ctx, "r1"); return err }},
		{"List", func(ctx context.Context) error { _, err := s.List(ctx, 0); return err }},
		{"Audit", func(ctx context.Context) error { _, err := s.Audit(ctx, ""); return err }},
		{"PutValue", func(ctx context.Context) error { return s.PutValue(ctx, "schedule/a", "overwritten") }},
		{"DeleteValue", func(ctx context.Context) error { return s.DeleteValue(ctx, "schedule/a") }},
		{"Values", func(ctx context.Context) error {
			return s.Values(ctx, "schedule/", func(string, []byte) error { return nil })
		}},
	}
	srv.SetStalled(true)
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- tc.call(cctx) }()
			require.Eventually(t, func() bool { return srv.Stalled() == 1 }, 10*time.Second, time.Millisecond,
				"the call reaches the API server and waits for it")
			cancel()
			err := <-errc
			// Had the store called with a context of its own, the call would still wait,
			// and end with that context's deadline.
			assert.ErrorIs(t, err, context.Canceled)
			require.Eventually(t, func() bool { return srv.Stalled() == 0 }, 10*time.Second, time.Millisecond,
				"the API server sees the request given up")
		})
	}
	srv.SetStalled(false)

	active, err := s.Active(ctx)
	require.NoError(t, err)
	require.NotNil(t, active)
	assert.Equal(t, "r1", active.ID)
	assert.Equal(t, int64(1), active.Version, "nothing was saved")
	runs, err := s.List(ctx, 0)
	require.NoError(t, err)
	assert.Len(t, runs, 1, "nothing was created")
	var kept []string
	require.NoError(t, s.Values(ctx, "schedule/", func(k string, raw []byte) error { kept = append(kept, k+"="+string(raw)); return nil }))
	assert.Equal(t, []string{`schedule/a="kept"`}, kept, "the record was neither written nor deleted")
}

// A call whose context has ended already does nothing, on either backend.
func TestStoresRefuseAnEndedContext(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	check := func(t *testing.T, s store.Backend) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		assert.ErrorIs(t, s.Create(ctx, newRun("r1", "U01ALICE", t0), nil), context.Canceled)
		assert.ErrorIs(t, s.PutValue(ctx, "schedule/a", "x"), context.Canceled)
		_, err := s.List(ctx, 0)
		assert.ErrorIs(t, err, context.Canceled)

		runs, err := s.List(context.Background(), 0)
		require.NoError(t, err)
		assert.Empty(t, runs, "no run was created")
		n := 0
		require.NoError(t, s.Values(context.Background(), "", func(string, []byte) error { n++; return nil }))
		assert.Zero(t, n, "no record was written")
	}
	t.Run("file", func(t *testing.T) {
		s, err := store.Open(t.TempDir())
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		check(t, s)
	})
	t.Run("kubernetes", func(t *testing.T) {
		_, path := kubefake.StartForTest(t, kubefake.Options{}, "home")
		check(t, openKube(t, connectHome(t, path, "cutoverbot"), "cutoverbot"))
	})
}

// Create cannot tell whether a run of that ID was archived when the API server refuses
// to read its object: it refuses too, and creates nothing (a second run of one ID would
// overwrite the first's archive when it ends).
func TestKubeCreateRefusesWhenItCannotReadTheArchive(t *testing.T) {
	srv, path := kubefake.StartForTest(t, kubefake.Options{}, "home")
	s := openKube(t, connectHome(t, path, "cutoverbot"), "cutoverbot")
	ctx := context.Background()
	t0 := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	srv.Deny(kubefake.Permission{Verb: "get", Resource: "configmaps", Name: "cutoverbot-run-r1"})
	err := s.Create(ctx, newRun("r1", "U01ALICE", t0), []engine.AuditEntry{{Event: "run.started", RunID: "r1"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "r1")
	assert.NotErrorIs(t, err, engine.ErrNotFound)
	srv.Allow(kubefake.Permission{Verb: "get", Resource: "configmaps", Name: "cutoverbot-run-r1"})
	active, err := s.Active(ctx)
	require.NoError(t, err)
	assert.Nil(t, active, "nothing was created")
}
