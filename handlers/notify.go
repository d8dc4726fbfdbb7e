package handlers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// A reply in a thread notifies only those following it, and the run's initiator, who
// follows it, is the one person who cannot approve. So each message that needs a
// decision names who can make it (slack.notify: mention), the run's first prompt and
// prompts waiting past half their expiry also show in the channel (broadcast), and
// approvers can be sent a direct message (dm).

// Note keys of what was broadcast, so a restart does not broadcast again.
const noteFirstPrompt = "first_prompt"

func noteBroadcast(step, attempt int) string { return noteKey("broadcast", step, attempt) }

// MentionLine names who can act on a step: the maintainers' user group (Slack notifies
// each of its members) and the listed maintainers other than the initiator and those
// who already approved this attempt.
func MentionLine(m config.Maintainers, initiator string, approved []string) string {
	var parts []string
	if m.Usergroup != "" {
		parts = append(parts, "<!subteam^"+m.Usergroup+">")
	}
	for _, u := range m.Users {
		if u != initiator && !slices.Contains(approved, u) {
			parts = append(parts, "<@"+u+">")
		}
	}
	return strings.Join(parts, " ")
}

// mention is the mention line for step i of r, or "" when slack.notify does not mention.
func (h *Handler) mention(r *engine.Run, i int) string {
	if !h.cfg().Slack.Notify.Has(config.NotifyMention) {
		return ""
	}
	var approved []string
	if r.Steps[i].State == engine.Awaiting {
		approved = r.Steps[i].Approvals // they cannot approve twice; a failure is anyone's
	}
	return MentionLine(h.cfg().Slack.Maintainers, r.Initiator, approved)
}

// broadcastFirst reports whether a message needing a decision is the run's first, to be
// shown in the channel too.
func (h *Handler) broadcastFirst(r *engine.Run) bool {
	return h.cfg().Slack.Notify.Has(config.NotifyBroadcast) && h.lookup(r, noteFirstPrompt) == ""
}

// messageLink is the permalink of a reply in the run's thread.
func (h *Handler) messageLink(ts, thread string) string {
	link := h.threadLink(ts)
	if link == "" || thread == "" || thread == ts {
		return link
	}
	return link + "?thread_ts=" + thread + "&cid=" + h.channel()
}

// directMessages tells each approver of step i privately that it waits for them, with a
// link to the message (slack.notify: dm).
func (h *Handler) directMessages(ctx context.Context, r *engine.Run, i int, ts string) {
	if !h.cfg().Slack.Notify.Has(config.NotifyDM) || h.opts.Policy == nil {
		return
	}
	all, err := h.opts.Policy.Approvers(ctx)
	if err != nil {
		h.opts.Logger.Warn("could not list the user group's members; direct messages go to the listed maintainers only", "run", r.ID, "err", err)
	}
	m := DirectPrompt(r, i, h.messageLink(ts, r.Note(noteHeader)), h.channel())
	for _, u := range all {
		if u == r.Initiator || (r.Steps[i].State == engine.Awaiting && slices.Contains(r.Steps[i].Approvals, u)) {
			continue
		}
		if err := h.opts.Poster.DirectMessage(ctx, u, m); err != nil {
			h.opts.Logger.Error("could not send a direct message", "run", r.ID, "user", u, "err", err)
		}
	}
}

// DirectPrompt is the direct message that a step waits for the reader.
func DirectPrompt(r *engine.Run, i int, link, channel string) message.Message {
	s := r.Steps[i]
	asks := "approve or reject it"
	if s.State.Stuck() {
		asks = "choose Retry, Skip or Abort"
	}
	where := fmt.Sprintf("in the run's thread in <#%s>", channel)
	if link != "" {
		where = fmt.Sprintf("<%s|in the run's thread>", link)
	}
	text := fmt.Sprintf("%s: %s waits for you to %s %s.", runTitle(r), stepTitle(r, i, s.Attempt), asks, where)
	return message.Message{Text: text, Sections: []string{text}, Context: []string{"run " + r.ID + " · slack.notify: dm"}}
}
