package handlers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// Note keys under which message timestamps are kept with the run, so that after a
// restart the bot edits the same messages instead of posting new ones.
const noteHeader = "header"

func noteKey(kind string, step, attempt int) string {
	return fmt.Sprintf("%s/%d/%d", kind, step, attempt)
}

// NoteThreadURL is the note holding a link to the run's thread (pull requests cite it).
const NoteThreadURL = "thread_url"

// threadLink is the permalink of a message: workspace/archives/CHANNEL/pTSWITHOUTDOT.
func (h *Handler) threadLink(ts string) string {
	if h.opts.WorkspaceURL == nil {
		return ""
	}
	base := h.opts.WorkspaceURL()
	if base == "" {
		return ""
	}
	return strings.TrimRight(base, "/") + "/archives/" + h.channel() + "/p" + strings.Replace(ts, ".", "", 1)
}

// detailsInline is how much of a step's details goes into the thread as text; more
// becomes a file.
const detailsInline = 1500

// Observe shows an engine event in Slack. The engine calls it in order, off its lock,
// in the engine's context.
func (h *Handler) Observe(ctx context.Context, ev engine.Event) {
	ctx, cancel := context.WithTimeout(ctx, h.opts.PostTimeout)
	defer cancel()
	r := ev.Run
	log := h.opts.Logger.With("run", r.ID, "event", string(ev.Kind))
	fail := func(what string, err error) {
		if err != nil {
			log.Error("could not "+what+" in Slack", "err", err)
		}
	}
	// Events carry the run as stored when they happened, which may be before the
	// header's timestamp was noted: the handler remembers it too.
	thread := h.headerTS(r)
	if r.Notes == nil {
		r.Notes = map[string]string{}
	}
	if thread != "" {
		r.Notes[noteHeader] = thread
	}
	switch ev.Kind {
	case engine.EventStarted:
		ts, err := h.opts.Poster.Post(ctx, h.channel(), "", h.header(r))
		if err != nil {
			fail("post the run header", err)
			return
		}
		h.note(ctx, r, noteHeader, ts)
		if link := h.threadLink(ts); link != "" {
			h.note(ctx, r, NoteThreadURL, link)
		}
		return
	case engine.EventRecovered, engine.EventInterrupted:
		h.updateHeader(ctx, r)
		h.showCurrent(ctx, r, ev.Kind == engine.EventRecovered)
		return
	case engine.EventAwaiting:
		// The prompt first: once the header says "waiting", the prompt's timestamp is stored.
		h.showCurrent(ctx, r, false)
		h.updateHeader(ctx, r)
	case engine.EventDecided:
		d := ev.Decision
		if d == nil {
			return
		}
		if ts := h.lookup(r, noteKey("prompt", d.Step, d.Attempt)); ts != "" {
			fail("update the prompt", h.opts.Poster.Update(ctx, h.channel(), ts, h.decidedPrompt(r, d)))
		}
		if ts := h.lookup(r, noteKey("failure", d.Step, d.Attempt)); ts != "" {
			m := FailureDecided(r, d.Step, d.Attempt, *d)
			if s := r.Steps[d.Step]; (d.Action == engine.Skip || d.Action == engine.Override) && s.Attempt == d.Attempt && s.State.Stuck() {
				m = Failure(r, d.Step, h.required(), h.mention(r, d.Step)) // a proposal, or checks still block: the buttons stay
			}
			fail("update the failure message", h.opts.Poster.Update(ctx, h.channel(), ts, m))
		}
		h.updateHeader(ctx, r)
	case engine.EventRunning:
		h.updateHeader(ctx, r)
	case engine.EventProgress:
		key := noteKey("progress", ev.Step, r.Steps[ev.Step].Attempt)
		m := Progress(r, ev.Step, ReportText(ev.Progress))
		if ts := h.remembered(r.ID, key); ts != "" {
			fail("update progress", h.opts.Poster.Update(ctx, h.channel(), ts, m))
			return
		}
		ts, err := h.opts.Poster.Post(ctx, h.channel(), thread, m)
		if err != nil {
			fail("post progress", err)
			return
		}
		h.remember(r.ID, key, ts)
	case engine.EventSucceeded:
		h.updateHeader(ctx, r)
		h.finishProgress(ctx, r, ev.Step)
		m := Result(r, ev.Step)
		h.withDetails(ctx, r, ev.Step, &m, thread)
		_, err := h.opts.Poster.Post(ctx, h.channel(), thread, m)
		fail("post a result", err)
	case engine.EventFailed, engine.EventExpired:
		h.updateHeader(ctx, r)
		h.finishProgress(ctx, r, ev.Step)
		s := r.Steps[ev.Step]
		if ts := h.lookup(r, noteKey("prompt", ev.Step, s.Attempt)); ts != "" && ev.Kind == engine.EventExpired {
			fail("update the prompt", h.opts.Poster.Update(ctx, h.channel(), ts, Decided(r, ev.Step, s.Attempt, h.required())))
		}
		h.showCurrent(ctx, r, false)
	case engine.EventReminder:
		h.remind(ctx, r, ev.Step, ev.Waited, thread)
	case engine.EventEnded:
		h.updateHeader(ctx, r)
		_, err := h.opts.Poster.Post(ctx, h.channel(), thread, Ended(r, h.opts.Clock(), ev.Report))
		fail("post the end of the run", err)
	}
}

func (h *Handler) decidedPrompt(r *engine.Run, d *engine.Decision) message.Message {
	s := r.Steps[d.Step]
	if (d.Action == engine.Approve || d.Action == engine.Skip) && s.Attempt == d.Attempt && s.State == engine.Awaiting {
		// Not enough approvals (or skips) yet: keep the buttons and say who decided.
		return Prompt(r, d.Step, h.required(), BriefOf(h.cfg(), r, d.Step), h.mention(r, d.Step))
	}
	return Decided(r, d.Step, d.Attempt, h.required())
}

// showCurrent posts what the current step needs: an approval prompt or a failure with
// Retry, Skip and Abort, naming who can act, in the channel too when it is the run's
// first. With again, an existing message is re-rendered in place (after a restart its
// buttons keep working, being tied to run, step and attempt).
func (h *Handler) showCurrent(ctx context.Context, r *engine.Run, again bool) {
	s := r.CurrentStep()
	if s == nil {
		return
	}
	i := r.Current
	var kind string
	var m message.Message
	switch {
	case s.State == engine.Awaiting:
		kind, m = "prompt", Prompt(r, i, h.required(), BriefOf(h.cfg(), r, i), h.mention(r, i))
	case s.State.Stuck():
		kind, m = "failure", Failure(r, i, h.required(), h.mention(r, i))
	default:
		return
	}
	key := noteKey(kind, i, s.Attempt)
	if ts := h.lookup(r, key); ts != "" {
		if again {
			if err := h.opts.Poster.Update(ctx, h.channel(), ts, m); err != nil {
				h.opts.Logger.Error("could not re-render the pending message", "run", r.ID, "err", err)
			}
		}
		return
	}
	if kind == "failure" {
		// Before the failure message, which points at the file above.
		switch {
		case IsDiff(*s):
			h.upload(ctx, r, fmt.Sprintf("step-%d-attempt-%d-diff.txt", i+1, s.Attempt), fmt.Sprintf("Step %d: the whole diff", i+1), s.Output.Details)
		case len(StepErrorText(*s)) > detailsInline:
			h.upload(ctx, r, fmt.Sprintf("step-%d-attempt-%d-error.txt", i+1, s.Attempt), "Step "+fmt.Sprint(i+1)+" error", StepErrorText(*s))
		}
	}
	first := h.broadcastFirst(r)
	m.Broadcast = first
	ts, err := h.opts.Poster.Post(ctx, h.channel(), r.Note(noteHeader), m)
	if err != nil {
		h.opts.Logger.Error("could not post the "+kind, "run", r.ID, "step", i+1, "err", err)
		return
	}
	h.note(ctx, r, key, ts)
	if first {
		h.note(ctx, r, noteFirstPrompt, ts)
	}
	h.directMessages(ctx, r, i, ts)
}

// remind nudges the approvers of a waiting step; past half its expiry the reminder is
// shown in the channel too, once per attempt.
func (h *Handler) remind(ctx context.Context, r *engine.Run, i int, waited time.Duration, thread string) {
	s := r.Steps[i]
	timeout := h.cfg().Slack.ApprovalTimeout.Duration
	var expires time.Time
	if timeout > 0 && !s.AwaitingSince.IsZero() {
		expires = s.AwaitingSince.Add(timeout)
	}
	m := Reminder(r, i, waited, h.mention(r, i), expires)
	key := noteBroadcast(i, s.Attempt)
	m.Broadcast = h.cfg().Slack.Notify.Has(config.NotifyBroadcast) && !expires.IsZero() &&
		h.opts.Clock().Sub(s.AwaitingSince) >= timeout/2 && h.lookup(r, key) == ""
	ts, err := h.opts.Poster.Post(ctx, h.channel(), thread, m)
	if err != nil {
		h.opts.Logger.Error("could not post a reminder in Slack", "run", r.ID, "err", err)
		return
	}
	if m.Broadcast {
		h.note(ctx, r, key, ts)
	}
}

func (h *Handler) updateHeader(ctx context.Context, r *engine.Run) {
	ts := r.Note(noteHeader)
	if ts == "" {
		return
	}
	if err := h.opts.Poster.Update(ctx, h.channel(), ts, h.header(r)); err != nil {
		h.opts.Logger.Error("could not update the run header", "run", r.ID, "err", err)
	}
}

func (h *Handler) withDetails(ctx context.Context, r *engine.Run, i int, m *message.Message, thread string) {
	d := strings.TrimSpace(DetailsText(r.Steps[i].Output))
	if _, checks := checksOf(r.Steps[i]); d == "" || checks {
		return
	}
	if IsDiff(r.Steps[i]) {
		// A diff is uploaded whole whatever its length, as it is when the step fails.
		h.upload(ctx, r, fmt.Sprintf("step-%d-attempt-%d-diff.txt", i+1, r.Steps[i].Attempt), fmt.Sprintf("Step %d: the whole diff", i+1), d)
		m.Context = append(m.Context, "The whole diff is in the file above.")
		return
	}
	if len(d) <= detailsInline {
		m.Code = d
		return
	}
	h.upload(ctx, r, fmt.Sprintf("step-%d-%s.txt", i+1, r.Steps[i].Step.ID), "Step "+fmt.Sprint(i+1)+": "+StepTitle(r.Steps[i].Step), d)
	m.Context = append(m.Context, "Full details in the file above.")
}

func (h *Handler) upload(ctx context.Context, r *engine.Run, name, title, content string) {
	if err := h.opts.Poster.Upload(ctx, h.channel(), r.Note(noteHeader), name, title, []byte(content)); err != nil {
		h.opts.Logger.Error("could not upload "+name, "run", r.ID, "err", err)
	}
}

// lookup finds a message timestamp in the run's notes or in memory.
func (h *Handler) lookup(r *engine.Run, key string) string {
	if ts := r.Note(key); ts != "" {
		return ts
	}
	return h.remembered(r.ID, key)
}

// note keeps a message's timestamp in the run. ctx bounds the Slack calls around it,
// not this write: a write of the run cut short may have landed, and stops the bot.
func (h *Handler) note(ctx context.Context, r *engine.Run, key, ts string) {
	h.remember(r.ID, key, ts)
	if r.Notes == nil {
		r.Notes = map[string]string{}
	}
	r.Notes[key] = ts
	if err := h.opts.Engine.SetNote(context.WithoutCancel(ctx), r.ID, key, ts); err != nil {
		h.opts.Logger.Warn("could not store a message timestamp", "run", r.ID, "key", key, "err", err)
	}
}

// headerTS is the run's header message, from the run or from memory.
func (h *Handler) headerTS(r *engine.Run) string {
	if ts := r.Note(noteHeader); ts != "" {
		return ts
	}
	return h.remembered(r.ID, noteHeader)
}

// Events carry the run as it was when they happened, which can be before a message's
// timestamp was noted; every timestamp is also remembered here.
func (h *Handler) remembered(runID, key string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.memo[runID+"/"+key]
}

func (h *Handler) remember(runID, key, ts string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.memo[runID+"/"+key] = ts
}

// finishProgress marks the step's progress message as finished.
func (h *Handler) finishProgress(ctx context.Context, r *engine.Run, i int) {
	s := r.Steps[i]
	ts := h.remembered(r.ID, noteKey("progress", i, s.Attempt))
	if ts == "" {
		return
	}
	m := Progress(r, i, Human(s.State)+" after "+dur(s.Duration()))
	if err := h.opts.Poster.Update(ctx, h.channel(), ts, m); err != nil {
		h.opts.Logger.Error("could not update progress", "run", r.ID, "err", err)
	}
}
