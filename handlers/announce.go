package handlers

import (
	"context"
	"fmt"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// Announce is the executor of announce steps: the configured template goes top-level
// in the channel, where everyone sees it, not in the run's thread.
func (h *Handler) Announce(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	text := x.Step.Announce.Text
	ts, err := h.opts.Poster.Post(ctx, h.channel(), "", Info(text))
	if err != nil {
		return engine.Output{}, fmt.Errorf("post the %s announcement in <#%s>: %w", x.Step.Announce.Template, h.channel(), err)
	}
	return engine.Output{Summary: fmt.Sprintf("posted the %s announcement top-level in <#%s>", x.Step.Announce.Template, h.channel())}.
		WithResult(AnnounceResult{TS: ts}), nil
}

// AnnounceResult is the announcement's message timestamp.
type AnnounceResult struct {
	TS string `json:"ts"`
}
