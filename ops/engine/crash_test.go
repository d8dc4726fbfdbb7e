package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

var errCrashed = errors.New("process died")

// crashStore passes writes through until its budget runs out, then refuses all of
// them, as if the process had died at that point. With persistLast the fatal write
// reaches the disk before the "crash": the write happened, the process never learned.
type crashStore struct {
	engine.Store
	mu          sync.Mutex
	left        int
	persistLast bool
	crashed     bool
}

func (c *crashStore) write(fn func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed {
		return errCrashed
	}
	if c.left == 0 {
		c.crashed = true
		if c.persistLast {
			_ = fn()
		}
		return errCrashed
	}
	c.left--
	return fn()
}

func (c *crashStore) Create(ctx context.Context, r *engine.Run, a []engine.AuditEntry) error {
	return c.write(func() error { return c.Store.Create(ctx, r, a) })
}

func (c *crashStore) Save(ctx context.Context, r *engine.Run, a []engine.AuditEntry) error {
	return c.write(func() error { return c.Store.Save(ctx, r, a) })
}

func (c *crashStore) didCrash() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.crashed }

// script drives a run to its end as maintainers would: approve what waits, retry
// what failed or was interrupted. It returns the decisions the engine accepted.
func script(t *testing.T, h *harness, failOnce map[string]bool) (accepted []engine.Decision, crashed bool) {
	ctx := context.Background()
	if h.eng.Active() == nil {
		runs, err := h.store.List(context.Background(), 1)
		require.NoError(t, err)
		if len(runs) == 0 {
			if _, err := h.eng.Start(ctx, "prod2", "prod1", alice); err != nil {
				require.ErrorIs(t, err, errCrashed)
				return nil, true
			}
			h.eng.Wait()
		}
	}
	for i := 0; i < 200; i++ {
		r := h.eng.Active()
		if r == nil {
			return accepted, false
		}
		s := r.Steps[r.Current]
		action := engine.Approve
		switch {
		case s.State.Stuck():
			action = engine.Retry
		case s.State != engine.Awaiting:
			// The step's result could not be stored: the process has died.
			return accepted, true
		}
		q := engine.Request{RunID: r.ID, Step: r.Current, Attempt: s.Attempt, User: bob, Action: action}
		_, err := h.eng.Decide(ctx, q)
		h.eng.Wait()
		if err != nil {
			require.ErrorIs(t, err, errCrashed, "only the crash may fail a decision")
			return accepted, true
		}
		accepted = append(accepted, engine.Decision{Step: q.Step, Attempt: q.Attempt, User: q.User, Action: q.Action})
		if cs, ok := h.store.(*crashStore); ok && cs.didCrash() {
			return accepted, true
		}
	}
	t.Fatal("the run did not end within 200 decisions")
	return nil, false
}

// TestCrashAtEveryWrite reopens the store at every point of a whole run (before and
// after each write) and shows that no step runs twice without a fresh approval and
// no accepted decision is lost.
func TestCrashAtEveryWrite(t *testing.T) {
	for _, persistLast := range []bool{false, true} {
		for n := 0; ; n++ {
			name := fmt.Sprintf("crash at write %d persist=%v", n, persistLast)
			h := newHarness(t, 1)
			h.exec.fail["restore-destination"] = 1 // a failure and a retry are part of the run
			cs := &crashStore{Store: h.store, left: n, persistLast: persistLast}
			h.opts.Store = cs
			h.eng = engine.New(h.opts)
			require.NoError(t, h.eng.Recover(context.Background()))
			h.store = cs

			before, crashed := script(t, h, nil)
			if !crashed {
				// n is past the last write of the whole run: every point was covered.
				require.Greater(t, n, 40, "a whole run writes more than 40 times")
				break
			}
			// Restart on the real file.
			h.store = cs.Store
			h.reopen()
			after, crashedAgain := script(t, h, nil)
			require.False(t, crashedAgain, name)

			runs, err := h.store.List(context.Background(), 0)
			require.NoError(t, err)
			if len(runs) == 0 {
				require.Equal(t, 0, n, "only a crash on the very first write leaves no run")
				continue
			}
			require.Len(t, runs, 1, name)
			final := runs[0]
			require.Equal(t, engine.Completed, final.State, name)

			// Every execution is of a distinct attempt, and every attempt that ran was
			// approved (or is the read-only preflight).
			seen := map[execKey]int{}
			for _, c := range h.exec.Calls() {
				seen[c]++
				assert.Equal(t, 1, seen[c], "%s: %v ran twice", name, c)
				if c.Step == "preflight" {
					continue
				}
				assert.True(t, approvedAttempt(final, c.Step, c.Attempt), "%s: %v ran without an approval of that attempt", name, c)
			}
			// No accepted decision is lost.
			for _, d := range append(before, after...) {
				assert.True(t, hasDecision(final, d), "%s: accepted decision %+v missing from the stored run", name, d)
			}
			audit, err := h.store.Audit(context.Background(), final.ID)
			require.NoError(t, err)
			decisions := 0
			for _, a := range audit {
				if a.Event == "decision.approve" || a.Event == "decision.retry" {
					decisions++
				}
			}
			assert.GreaterOrEqual(t, decisions, len(before)+len(after), "%s: the audit log holds every decision", name)
		}
	}
}

func approvedAttempt(r *engine.Run, stepID string, attempt int) bool {
	for _, d := range r.Decisions {
		if d.StepID == stepID && (d.Action == engine.Approve && d.Attempt == attempt || d.Action == engine.Retry && d.Attempt == attempt-1) {
			return true
		}
	}
	return false
}

func hasDecision(r *engine.Run, d engine.Decision) bool {
	for _, x := range r.Decisions {
		if x.Step == d.Step && x.Attempt == d.Attempt && x.User == d.User && x.Action == d.Action {
			return true
		}
	}
	return false
}
