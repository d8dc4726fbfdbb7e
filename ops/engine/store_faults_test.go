package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/kube/kubefake"
	"github.com/nycmeshnet/cutoverbot/ops/store"
)

// faultyStore fails writes on request: before they land (the store never saw them), or
// after (the write landed and the answer was lost, as a timeout does).
type faultyStore struct {
	engine.Store
	mu                    sync.Mutex
	failBefore, failAfter int
}

var errTimeout = errors.New("etcdserver: request timed out")

func (f *faultyStore) Save(ctx context.Context, r *engine.Run, audit []engine.AuditEntry) error {
	f.mu.Lock()
	before, after := f.failBefore > 0, f.failAfter > 0
	if before {
		f.failBefore--
	} else if after {
		f.failAfter--
	}
	f.mu.Unlock()
	if before {
		return errTimeout
	}
	if err := f.Store.Save(ctx, r, audit); err != nil || !after {
		return err
	}
	return errTimeout
}

func (f *faultyStore) set(before, after int) {
	f.mu.Lock()
	f.failBefore, f.failAfter = before, after
	f.mu.Unlock()
}

// backends are the two stores, each with the faults in front.
func backends(t *testing.T) map[string]func() engine.Store {
	return map[string]func() engine.Store{
		"file": func() engine.Store {
			s, err := store.Open(t.TempDir())
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		},
		"kubernetes": func() engine.Store {
			_, path := kubefake.StartForTest(t, kubefake.Options{}, "home")
			cl, err := kube.Connect(kube.Options{Name: "home", Kubeconfig: path, Context: "home", Namespace: "cutoverbot"})
			require.NoError(t, err)
			s, err := store.OpenKube(context.Background(), cl.Clientset(), "cutoverbot")
			require.NoError(t, err)
			return s
		},
	}
}

// A write that fails is retried: a step approved while the store stumbles still runs,
// and its result is still stored (whether the failed write had landed or not); a store
// that stays down stops the bot instead of leaving the step stuck.
func TestStoreWriteFailuresAreRetriedOrStopTheBot(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, 1)
			require.NoError(t, h.eng.Close(context.Background()))
			fs := &faultyStore{Store: open()}
			var stopped []error
			var mu sync.Mutex
			h.opts.Store = fs
			h.opts.StoreRetry = 2 * time.Second
			h.opts.OnStoreFailure = func(err error) { mu.Lock(); stopped = append(stopped, err); mu.Unlock() }
			h.eng = engine.New(h.opts)
			require.NoError(t, h.eng.Recover(context.Background()))
			h.store = fs
			r := h.start()

			// Approved -> Running fails twice before landing; the result's write lands
			// but reports failure once.
			fs.set(2, 0)
			h.mustDecide(bob, engine.Approve, "")
			got := h.active()
			assert.Equal(t, engine.Succeeded, got.Steps[1].State, "the step ran and its result is stored")
			fs.set(0, 1)
			h.mustDecide(bob, engine.Approve, "")
			got = h.active()
			assert.Equal(t, engine.Succeeded, got.Steps[2].State)
			stored, err := fs.Store.Get(context.Background(), r.ID)
			require.NoError(t, err)
			assert.Equal(t, got.Version, stored.Version, "the engine and the store agree")
			h.mustDecide(bob, engine.Approve, "") // writes go on: nothing refused as stale

			// The store stays down: the decision fails, the bot is told to stop, and
			// nothing else runs.
			fs.set(1<<30, 0)
			_, err = h.decide(bob, engine.Approve, "")
			require.Error(t, err)
			require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(stopped) > 0 }, 5*time.Second, 5*time.Millisecond, "OnStoreFailure hears it")
			before := len(h.exec.Calls())
			fs.set(0, 0)
			_, err = h.decide(bob, engine.Approve, "")
			require.Error(t, err, "a stopping bot takes no more decisions")
			assert.Len(t, h.exec.Calls(), before, "and runs nothing")
			mu.Lock()
			assert.Len(t, stopped, 1, "OnStoreFailure hears it once")
			mu.Unlock()
		})
	}
}

// openStalling is the Kubernetes store over a local API server the test can stall.
func openStalling(t *testing.T) (engine.Store, *kubefake.Server) {
	srv, path := kubefake.StartForTest(t, kubefake.Options{}, "home")
	cl, err := kube.Connect(kube.Options{Name: "home", Kubeconfig: path, Context: "home", Namespace: "cutoverbot"})
	require.NoError(t, err)
	s, err := store.OpenKube(context.Background(), cl.Clientset(), "cutoverbot")
	require.NoError(t, err)
	return s, srv
}

// A decision whose context ended before its write began changes nothing, and the bot
// goes on. One cut short while the store had it may have landed: the engine's copy of
// the run may be behind, so the bot stops, as for a write that cannot land.
func TestADecisionGivenUpBeforeOrDuringItsWrite(t *testing.T) {
	h := newHarness(t, 1)
	require.NoError(t, h.eng.Close(context.Background()))
	st, srv := openStalling(t)
	var mu sync.Mutex
	var stopped []error
	h.opts.Store = st
	h.opts.StoreRetry = time.Minute // longer than the test: only the context ends the write
	h.opts.OnStoreFailure = func(err error) { mu.Lock(); stopped = append(stopped, err); mu.Unlock() }
	h.eng = engine.New(h.opts)
	require.NoError(t, h.eng.Recover(context.Background()))
	h.store = st
	h.start()
	h.mustDecide(bob, engine.Approve, "")
	r := h.active()
	q := engine.Request{RunID: r.ID, Step: r.Current, Attempt: r.Steps[r.Current].Attempt, User: bob, Action: engine.Approve}

	ended, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.eng.Decide(ended, q)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, r.Version, h.stored(r.ID).Version, "nothing was written")
	assert.Equal(t, engine.Awaiting, h.active().Steps[r.Current].State)

	srv.SetStalled(true)
	cut, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := h.eng.Decide(cut, q); errc <- err }()
	require.Eventually(t, func() bool { return srv.Stalled() == 1 }, 10*time.Second, time.Millisecond, "the write waits on the API server")
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	srv.SetStalled(false)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(stopped) == 1 }, 10*time.Second, time.Millisecond,
		"OnStoreFailure hears the write cut short")
	before := len(h.exec.Calls())
	_, err = h.decide(bob, engine.Approve, "")
	require.Error(t, err, "a stopping bot takes no more decisions")
	assert.Len(t, h.exec.Calls(), before, "and runs nothing")
}
