// Package steps runs plan steps: it is the engine's Executor. Each step kind has one
// function; the cluster-side kinds (scale, maintenance, exec, dump, restore, verify and
// preflight's cluster half) are here, and other kinds (announce, snapshot, pull
// requests, DNS and TLS waits) are registered by the packages that talk to those systems.
package steps

import (
	"context"
	"path/filepath"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Func runs one step of one kind.
type Func func(ctx context.Context, x engine.StepContext) (engine.Output, error)

// Executor routes each step to the function registered for its kind.
type Executor struct {
	cfg    *config.Config
	kinds  map[plan.Kind]Func
	checks []namedCheck
	// With the cluster steps registered: sweep stops what earlier attempts left running
	// before the steps that need it; stopOwn stops what an attempt started when its
	// context ended before it returned.
	sweep   func(ctx context.Context, x engine.StepContext) ([]report.Stopped, error)
	stopOwn func(ctx context.Context, x engine.StepContext) *report.StoppedOwn
}

var _ engine.Executor = (*Executor)(nil)

// New makes an executor with the preflight kind wired to the registered checks.
func New(cfg *config.Config) *Executor {
	e := &Executor{cfg: cfg, kinds: map[plan.Kind]Func{}}
	e.kinds[plan.KindPreflight] = e.preflight
	return e
}

// Register sets the function for a kind.
func (e *Executor) Register(kind plan.Kind, fn Func) { e.kinds[kind] = fn }

// Execute implements engine.Executor.
func (e *Executor) Execute(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	fn, ok := e.kinds[x.Step.Kind]
	if !ok {
		return engine.Output{}, report.Fail(report.NoExecutor{Kind: string(x.Step.Kind)}, nil)
	}
	var stopped []report.Stopped
	if e.sweep != nil && sweeps(x) {
		var err error
		if stopped, err = e.sweep(ctx, x); err != nil {
			return engine.Output{}, err
		}
		if len(stopped) > 0 {
			x.ProgressReport(report.StoppedLeftovers{Commands: stopped})
		}
	}
	out, err := fn(ctx, x)
	if ctx.Err() != nil && e.stopOwn != nil {
		out.Own = e.stopOwn(ctx, x)
	}
	switch {
	case len(stopped) == 0:
	case out.Report != nil:
		out.Report.Left = stopped
	default: // a step without a report (one that still reports in words, or returned none)
		out.Left = stopped
	}
	return out, err
}

// SpoolPath is where a step keeps a file of a run (dumps, snapshots).
func SpoolPath(cfg *config.Config, runID, name string) string {
	return filepath.Join(cfg.State.Dir, "spool", runID, name)
}
