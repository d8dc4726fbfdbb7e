package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// Reject, Skip and Abort take words: their buttons open a modal that asks for the
// reason (a slash command cannot be typed in a thread), and the decision is taken when
// the modal is submitted, for the run, step and attempt of the button. By then the
// step may have moved on; the submission is then refused, in the thread of the click.

// CallbackDecision marks the submission of a decision modal.
const CallbackDecision = "cutover_decision"

// InputReason is the modal's reason field.
const InputReason = "reason"

// Submission is a modal's submit as the transport delivers it.
type Submission struct {
	UserID, CallbackID, Metadata string
	Values                       map[string]string
}

// DecisionMeta is what a decision modal carries in private_metadata: the button's run,
// step and attempt, and where to answer (the click's response_url, channel and thread).
type DecisionMeta struct {
	Action      engine.Action `json:"action"`
	RunID       string        `json:"run"`
	Step        int           `json:"step"`
	Attempt     int           `json:"attempt"`
	Check       string        `json:"check,omitempty"` // an Override's check
	Channel     string        `json:"channel"`
	Thread      string        `json:"thread,omitempty"`
	ResponseURL string        `json:"response_url,omitempty"`
}

func (m DecisionMeta) to(user string) replyTo {
	return replyTo{Channel: m.Channel, Thread: m.Thread, User: user, ResponseURL: m.ResponseURL}
}

// DecisionModal asks for the reason of a Reject, Skip, Abort or Override of attempt of
// step i.
func DecisionModal(r *engine.Run, i, attempt int, a engine.Action, meta DecisionMeta) message.Modal {
	raw, err := json.Marshal(meta)
	if err != nil {
		panic("handlers: decision metadata does not marshal: " + err.Error()) // a bug: plain data
	}
	title := "*" + stepTitle(r, i, attempt) + "*"
	m := message.Modal{CallbackID: CallbackDecision, Metadata: string(raw), Close: "Cancel",
		Inputs: []message.Input{{ID: InputReason, Label: "Reason", Multiline: true, MinLength: 3, MaxLength: 500,
			Hint: "Recorded with the run and shown in its thread."}},
		Context: []string{fmt.Sprintf("run %s · step %d · attempt %d", r.ID, i+1, attempt)}}
	switch a {
	case engine.Reject:
		m.Title, m.Submit = fmt.Sprintf("Reject step %d", i+1), "Reject"
		m.Sections = []string{title + "\nRejecting stops the run. If anything has changed, a rollback plan of what has run follows, each step waiting for approval."}
		m.Inputs[0].Placeholder = "What is wrong with running this step now?"
	case engine.Skip:
		next := "The run then ends."
		if i+1 < len(r.Steps) {
			next = fmt.Sprintf("The run goes on to step %d (%s) without running this one.", i+2, StepTitle(r.Steps[i+1].Step))
		}
		m.Title, m.Submit = fmt.Sprintf("Skip step %d", i+1), "Skip step"
		m.Sections = []string{title + "\n" + next}
		m.Inputs[0].Placeholder = "Why is it safe to go on without it?"
	case engine.Abort:
		m.Title, m.Submit = "Abort the run", "Abort run"
		m.Sections = []string{fmt.Sprintf("*%s*, at %s\nThe run stops. A rollback plan of what has run follows, each step waiting for approval.", runTitle(r), stepTitle(r, i, attempt))}
		m.Inputs[0].Placeholder = "What went wrong?"
	case engine.Override:
		overrideModal(r, i, attempt, &m, meta.Check)
	}
	return m
}

// askReason opens the decision modal for a click, unless the click is already stale
// or its clicker could not make the decision: those are told at once, not after
// typing a reason. The trigger_id is good for 3 seconds from the click, so nothing
// slow happens first.
func (h *Handler) askReason(ctx context.Context, k Click, a engine.Action, runID string, step, attempt int, check string) {
	r := h.opts.Engine.Active()
	switch {
	case r == nil || r.ID != runID:
		h.refuse(ctx, k.to(), "stale", fmt.Sprintf("run %s is not active; this button no longer does anything", runID))
		return
	case r.Current != step || r.Steps[step].Attempt != attempt:
		h.refuse(ctx, k.to(), "stale", movedOn(r, step, attempt))
		return
	case a == engine.Skip && k.UserID == r.Initiator:
		h.refuse(ctx, k.to(), "own_run", "you started this run, so another maintainer must decide to skip a step")
		return
	case a == engine.Override && k.UserID == r.Initiator:
		h.refuse(ctx, k.to(), "own_run", "you started this run, so another maintainer must override a check")
		return
	}
	if ok, why := h.maintainer(ctx, k.UserID, string(a)); !ok {
		h.refuse(ctx, k.to(), "not_maintainer", why)
		return
	}
	meta := DecisionMeta{Action: a, RunID: runID, Step: step, Attempt: attempt, Check: check, Channel: k.ChannelID, Thread: k.ThreadTS, ResponseURL: k.ResponseURL}
	if err := h.opts.Poster.OpenModal(ctx, k.TriggerID, DecisionModal(r, step, attempt, a, meta)); err != nil {
		h.opts.Logger.Error("could not open the decision modal", "user", k.UserID, "run", runID, "err", err)
		typed := fmt.Sprintf("`/cutover skip %d REASON`", step+1)
		switch a {
		case engine.Override:
			typed = fmt.Sprintf("`/cutover override %s REASON`", check)
		case engine.Skip:
		default:
			typed = fmt.Sprintf("`/cutover abort %d REASON`", step+1)
		}
		h.refuse(ctx, k.to(), "modal", fmt.Sprintf("the form for the reason did not open (Slack allows 3 seconds after a click); click again, or type %s in the channel", typed))
	}
}

// movedOn says that a button's step and attempt are no longer the run's.
func movedOn(r *engine.Run, step, attempt int) string {
	cur := r.Steps[r.Current]
	if r.Current == step {
		return fmt.Sprintf("this is attempt %d of step %d; the current attempt is %d. Nothing was done.", attempt, step+1, cur.Attempt)
	}
	return fmt.Sprintf("step %d is no longer waiting: the run is at step %d (%s, %s). Nothing was done.", step+1, r.Current+1, StepTitle(cur.Step), Human(cur.State))
}

// HandleSubmission takes the decision of a submitted decision modal, for the run,
// step and attempt of the button that opened it.
func (h *Handler) HandleSubmission(ctx context.Context, s Submission) {
	if s.CallbackID != CallbackDecision {
		h.opts.Logger.Warn("a modal submission the bot did not open", "callback", clip(s.CallbackID, 40), "user", s.UserID)
		return
	}
	var meta DecisionMeta
	if err := json.Unmarshal([]byte(s.Metadata), &meta); err != nil || meta.RunID == "" {
		h.opts.Logger.Error("a decision modal came back without its run", "user", s.UserID, "err", err)
		return
	}
	to := meta.to(s.UserID)
	reason := strings.TrimSpace(CleanUserText(s.Values[InputReason]))
	if reason == "" {
		h.refuse(ctx, to, "reason_required", "a reason is needed; nothing was done")
		return
	}
	msg, err := h.opts.Engine.Decide(ctx, engine.Request{RunID: meta.RunID, Step: meta.Step, Attempt: meta.Attempt, User: s.UserID, Action: meta.Action, Reason: reason, Check: meta.Check})
	if err != nil {
		h.refuseDecision(ctx, to, meta.RunID, err)
		return
	}
	h.answer(ctx, to, Info(fmt.Sprintf("Step %d: %s.", meta.Step+1, OutcomeText(msg))))
}
