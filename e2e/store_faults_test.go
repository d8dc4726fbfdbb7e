package e2e

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/store"
	"github.com/nycmeshnet/cutoverbot/sandbox"
	"github.com/nycmeshnet/cutoverbot/server"
)

// failingWrites is a store whose next writes fail: before they land, or after (the
// answer lost, as a timeout does).
type failingWrites struct {
	store.Backend
	mu            sync.Mutex
	before, after int
	failed        int
}

func (f *failingWrites) Save(ctx context.Context, r *engine.Run, audit []engine.AuditEntry) error {
	f.mu.Lock()
	before, after := f.before > 0, f.before == 0 && f.after > 0
	switch {
	case before:
		f.before--
	case after:
		f.after--
	}
	if before || after {
		f.failed++
	}
	f.mu.Unlock()
	if before {
		return errors.New("write failed: i/o timeout")
	}
	if err := f.Backend.Save(ctx, r, audit); err != nil || !after {
		return err
	}
	return errors.New("write failed after landing: i/o timeout")
}

func (f *failingWrites) arm(before, after int) {
	f.mu.Lock()
	f.before, f.after = before, after
	f.mu.Unlock()
}

// TestReliabilityStoreWritesFail: the store refuses writes for a while as a step's
// result comes (file backend: writes fail before and after landing; Kubernetes
// backend: its API server is unreachable for 3 s). The engine retries; the run
// completes, nothing runs twice and nothing is stuck.
func TestReliabilityStoreWritesFail(t *testing.T) {
	for _, backend := range []string{"file", "kubernetes"} {
		t.Run(backend, func(t *testing.T) {
			var h *home
			o := worldOptions{installs: 300}
			if backend == "kubernetes" {
				h = startHome(t, t.TempDir())
				o.mutate = func(c *config.Config) {
					h.haConfig(c)
					c.State.LeaseDuration = config.Duration{Duration: 15 * time.Second} // the outage is shorter than the lease
				}
			}
			w := newWorld(t, o)
			faulty := &failingWrites{}
			hold := holdUntilReleased(w.origin, "pg_dump")
			w.startBotWith(nil, func(opts *server.Options) {
				opts.WrapStore = func(b store.Backend) store.Backend { faulty.Backend = b; return faulty }
			})
			w.command(alice, "start prod2 prod1")
			w.waitFor("the run header", func() bool { return w.header().TS != "" })
			var faults string
			for step := 2; step <= len(clusterPlan()); step++ {
				w.click(bob, "Approve")
				if clusterPlan()[step-1].Kind == "dump" {
					<-hold.entered
					if backend == "file" {
						faulty.arm(2, 1)
						faults = "the dump's result: 2 writes failed before landing, 1 after"
					} else {
						h.srv.SetReachable(false)
						faults = "home API server unreachable for 3 s as the dump's result came"
						time.AfterFunc(3*time.Second, func() { h.srv.SetReachable(true) })
					}
					hold.release()
				}
				done := "✅ " + strconv.Itoa(step) + "."
				w.waitFor(done, func() bool {
					return strings.Contains(w.headerText(), done) || strings.Contains(w.state(), "(completed)")
				})
			}
			w.waitFor("the end", func() bool { return strings.Contains(w.state(), "(completed)") })
			lost := w.rowsLost()
			runs, err := w.srv.Store().List(context.Background(), 1)
			require.NoError(t, err)
			require.Len(t, runs, 1)
			run := runs[0]
			audit, err := w.srv.Store().Audit(context.Background(), run.ID)
			require.NoError(t, err)
			w.stopBot()
			assert.Equal(t, engine.Completed, run.State)
			if backend == "file" {
				assert.Equal(t, 3, faulty.failed, "the faults were injected")
			}
			requireDecisions(t, audit, len(clusterPlan())-1, 0)
			record(t, suiteRow{Scenario: "store writes fail mid-run (" + backend + ")", Faults: faults,
				Runs: completed(run), RunTwice: stepsRunTwice(run, audit), RowsLost: lost, Decisions: decisions(audit)})
		})
	}
}

// heldCommand holds the first command named argv0 in a cluster until released.
type heldCommand struct {
	entered chan struct{}
	free    chan struct{}
	once    sync.Once
}

func (h *heldCommand) release() { h.once.Do(func() { close(h.free) }) }

func holdUntilReleased(c *sandbox.Cluster, argv0 string) *heldCommand {
	h := &heldCommand{entered: make(chan struct{}), free: make(chan struct{})}
	var first sync.Once
	c.SetExecHook(func(ctx context.Context, _ string, argv []string) error {
		if len(argv) == 0 || argv[0] != argv0 {
			return nil
		}
		mine := false
		first.Do(func() { mine = true; close(h.entered) })
		if mine {
			select {
			case <-h.free:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	return h
}
