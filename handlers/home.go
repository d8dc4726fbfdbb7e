package handlers

import (
	"context"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// HandleHomeOpened shows the Home tab to the user who opened it.
func (h *Handler) HandleHomeOpened(ctx context.Context, user string) {
	runs, err := h.opts.Store.List(ctx, 10)
	if err != nil {
		h.opts.Logger.Error("could not read the runs for the Home tab", "user", user, "err", err)
	}
	m := Home(h.opts.Engine.Active(), runs, h.required(), h.opts.Clock(), h.runLink, h.channel())
	if err := h.opts.Poster.PublishHome(ctx, user, m); err != nil {
		h.opts.Logger.Error("could not publish the Home tab", "user", user, "err", err)
	}
}

// runLink is the link to a run's thread: the one noted when it started, or one made
// from its header's timestamp.
func (h *Handler) runLink(r *engine.Run) string {
	if l := r.Note(NoteThreadURL); l != "" {
		return l
	}
	if ts := r.Note(noteHeader); ts != "" {
		return h.threadLink(ts)
	}
	return ""
}
