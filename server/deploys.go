package server

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/github"
)

// deployWatch looks, while a run is active, for runs of MeshDB's deploy workflow that
// started since the run did: a Helm deploy puts back the replica counts the cutover
// set, so each is reported at once (handlers.DeployStarted). Preflight refuses to start
// while one is in progress; this covers the hour after.
type deployWatch struct {
	gh      *github.Client
	repo    string
	file    string
	every   time.Duration
	engine  *engine.Engine
	handler *handlers.Handler
	logger  *slog.Logger

	busy atomic.Bool
	last atomic.Int64 // unix nanoseconds of the last look
	wg   sync.WaitGroup
}

// tick looks if a run is active and the last look is older than every. It returns at
// once: the look runs on its own goroutine, so a slow GitHub never holds the timers.
func (w *deployWatch) tick(ctx context.Context, now time.Time) {
	if w.file == "" || now.Sub(time.Unix(0, w.last.Load())) < w.every {
		return
	}
	r := w.engine.Active()
	if r == nil || r.State != engine.Active || !w.busy.CompareAndSwap(false, true) {
		return
	}
	w.last.Store(now.UnixNano())
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer w.busy.Store(false)
		w.look(ctx, r)
	}()
}

// wait returns once no look is under way (before the engine and store close).
func (w *deployWatch) wait() { w.wg.Wait() }

func (w *deployWatch) look(ctx context.Context, r *engine.Run) {
	// GitHub's created filter counts whole seconds.
	runs, err := w.gh.RunsSince(ctx, w.repo, w.file, r.Created.Truncate(time.Second))
	if err != nil {
		w.logger.Warn("could not look for MeshDB deploys", "run", r.ID, "err", err)
		return
	}
	for i := len(runs) - 1; i >= 0; i-- { // oldest first
		d := runs[i]
		if r.Note(handlers.DeployNote(d.ID)) != "" {
			continue
		}
		w.logger.Warn("MeshDB deploy during the run", "run", r.ID, "deploy", d.URL, "status", d.Status)
		w.handler.DeployStarted(ctx, r.ID, handlers.Deploy{ID: d.ID, Workflow: d.Workflow, URL: d.URL, SHA: d.HeadSHA, Status: d.Status, Conclusion: d.Conclusion})
	}
}
