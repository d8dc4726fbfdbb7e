package handlers

import (
	"context"
	"fmt"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Announcer executes announce steps; it needs no Handler, so it is registered before
// the engine is made.
type Announcer struct {
	Poster  Poster
	Channel string
}

// Announce is the executor of announce steps: the configured template goes top-level
// in the channel, where everyone sees it, not in the run's thread.
func (a Announcer) Announce(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	text := x.Step.Announce.Text
	ts, err := a.Poster.Post(ctx, a.Channel, "", Info(text))
	if err != nil {
		return engine.Output{}, fmt.Errorf("post the %s announcement in <#%s>: %w", x.Step.Announce.Template, a.Channel, err)
	}
	return engine.Output{}.WithReport(report.Announced{Template: x.Step.Announce.Template, Channel: a.Channel}).
		WithResult(AnnounceResult{TS: ts}), nil
}

// AnnounceResult is the announcement's message timestamp.
type AnnounceResult struct {
	TS string `json:"ts"`
}
