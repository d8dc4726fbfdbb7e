// Package handlers turns Slack commands and clicks into engine decisions, and engine
// events into Slack messages. It owns the approval policy's Slack side (who is a
// maintainer) and every user-facing refusal.
package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/schedule"
)

// Message is the neutral message type handlers build.
type Message = message.Message

// Poster sends messages to Slack (bot.Poster renders them as Block Kit).
type Poster interface {
	Post(ctx context.Context, channel, threadTS string, m message.Message) (string, error)
	Update(ctx context.Context, channel, ts string, m message.Message) error
	Ephemeral(ctx context.Context, channel, threadTS, user string, m message.Message) error
	Respond(ctx context.Context, responseURL string, m message.Message) error
	Upload(ctx context.Context, channel, threadTS, filename, title string, content []byte) error
	OpenModal(ctx context.Context, triggerID string, m message.Modal) error
	PublishHome(ctx context.Context, user string, m message.Message) error
	DirectMessage(ctx context.Context, user string, m message.Message) error
}

// Command is a slash command as the transport delivers it.
type Command struct {
	UserID, ChannelID, Text, ResponseURL string
}

func (c Command) to() replyTo {
	return replyTo{Channel: c.ChannelID, User: c.UserID, ResponseURL: c.ResponseURL}
}

// Click is a button click as the transport delivers it. TriggerID opens a modal within
// 3 seconds of the click; ThreadTS is the thread of the clicked message.
type Click struct {
	UserID, ChannelID, MessageTS, ThreadTS, ActionID, Value, ResponseURL, TriggerID string
}

func (k Click) to() replyTo {
	return replyTo{Channel: k.ChannelID, Thread: k.ThreadTS, User: k.UserID, ResponseURL: k.ResponseURL}
}

// replyTo is where a private answer goes: the response_url of the command or click,
// which answers where it happened (in the thread of a clicked prompt), or else an
// ephemeral message in the same channel and thread.
type replyTo struct {
	Channel, Thread, User, ResponseURL string
}

// Engine is what the handlers ask of the engine (*engine.Engine): the active run,
// starts and decisions, and the message timestamps noted in a run.
type Engine interface {
	Active() *engine.Run
	Start(ctx context.Context, origin, dest, initiator string) (*engine.Run, error)
	Decide(ctx context.Context, q engine.Request) (engine.Outcome, error)
	SetNote(ctx context.Context, runID, key, value string) error
}

// Runs is what `/cutover history` and the Home tab read of the store (engine.Store).
type Runs interface {
	Get(ctx context.Context, id string) (*engine.Run, error)
	List(ctx context.Context, limit int) ([]*engine.Run, error)
	Audit(ctx context.Context, runID string) ([]engine.AuditEntry, error)
}

// Scheduler is what `/cutover schedule` and `unschedule` ask of the scheduler
// (*schedule.Scheduler).
type Scheduler interface {
	Add(ctx context.Context, origin, dest string, at time.Time, by string) (schedule.Schedule, error)
	List(ctx context.Context) ([]schedule.Schedule, error)
	Remove(ctx context.Context, id string) (schedule.Schedule, error)
}

// Options wire a Handler. Everything it uses is made before it: the engine reports
// its events through the Observer given to it, which calls Observe.
type Options struct {
	Config *config.Config
	Engine Engine
	Store  Runs
	Poster Poster
	Policy *Maintainers
	Clock  func() time.Time
	Logger *slog.Logger
	// PostTimeout bounds each Slack call made for an engine event.
	PostTimeout time.Duration
	// Scheduler keeps /cutover schedule's plans (optional).
	Scheduler Scheduler
	// WorkspaceURL gives the workspace's address, to link a run's thread (optional).
	WorkspaceURL func() string
	// OnRefusal hears each refusal's code (for metrics).
	OnRefusal func(code string)
	// Version names the running build in each run header's footer (optional).
	Version string
}

// Handler serves /cutover and the buttons.
type Handler struct {
	opts Options
	mu   sync.Mutex
	memo map[string]string
}

// New makes a Handler.
func New(opts Options) *Handler {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PostTimeout == 0 {
		opts.PostTimeout = 30 * time.Second
	}
	return &Handler{opts: opts, memo: map[string]string{}}
}

func (h *Handler) cfg() *config.Config { return h.opts.Config }

func (h *Handler) channel() string { return h.opts.Config.Slack.Channel }

func (h *Handler) required() int { return h.opts.Config.Slack.ApprovalsRequired }

// refuse answers privately and logs the refusal reason.
func (h *Handler) refuse(ctx context.Context, to replyTo, code, msg string) {
	h.opts.Logger.Info("refused", "user", to.User, "code", code, "reason", msg)
	if h.opts.OnRefusal != nil {
		h.opts.OnRefusal(code)
	}
	h.answer(ctx, to, Refusal(msg))
}

// answer replies privately through the response_url, or, when there is none or it is
// spent (Slack takes 5 replies within 30 minutes), with an ephemeral message in the
// same channel and thread.
func (h *Handler) answer(ctx context.Context, to replyTo, m message.Message) {
	if to.ResponseURL != "" {
		err := h.opts.Poster.Respond(ctx, to.ResponseURL, m)
		if err == nil {
			return
		}
		h.opts.Logger.Warn("response_url refused a reply; answering with an ephemeral message", "user", to.User, "err", err)
	}
	if to.Channel == "" {
		return
	}
	if err := h.opts.Poster.Ephemeral(ctx, to.Channel, to.Thread, to.User, m); err != nil {
		h.opts.Logger.Error("could not answer privately", "user", to.User, "err", err)
	}
}

func (h *Handler) reply(ctx context.Context, c Command, m message.Message) { h.answer(ctx, c.to(), m) }

// HandleCommand runs one /cutover command.
func (h *Handler) HandleCommand(ctx context.Context, c Command) {
	if n := utf8.RuneCountInString(c.Text); n > maxCommandRunes {
		h.refuse(ctx, c.to(), "bad_input",
			fmt.Sprintf("that command is %d characters long; /cutover commands are short (`/cutover help` lists them). Nothing was done.", n))
		return
	}
	if r, ok := invisible(c.Text); ok {
		h.refuse(ctx, c.to(), "bad_input", invisibleRefusal(r))
		return
	}
	c.Text = CleanUserText(c.Text)
	words := strings.Fields(c.Text)
	sub := ""
	if len(words) > 0 {
		sub = strings.ToLower(words[0])
	}
	args := words[min(1, len(words)):]
	if sub == "" {
		sub = "help"
	}
	cmd, known := registry[sub]
	if known && cmd.anyChannel {
		cmd.run(ctx, h, c, args)
		return
	}
	if c.ChannelID != h.channel() {
		h.refuse(ctx, c.to(), "wrong_channel", fmt.Sprintf("cutovers are run from <#%s> only; use `/cutover %s` there", h.channel(), sub))
		return
	}
	if !known {
		h.reply(ctx, c, unknown(sub))
		return
	}
	cmd.run(ctx, h, c, args)
}

// atStep says where the active run stands, for a usage refusal.
func (h *Handler) atStep() string {
	r := h.opts.Engine.Active()
	if r == nil {
		return ""
	}
	return fmt.Sprintf(" (the run is at step %d, %s)", r.Current+1, StepTitle(r.Steps[r.Current].Step))
}

// decideCommand applies a typed decision to step (1-based; 0 = the current one) of the
// active run, at the step's current attempt.
func (h *Handler) decideCommand(ctx context.Context, c Command, a engine.Action, step int, reason string) {
	r := h.opts.Engine.Active()
	if r == nil {
		h.refuse(ctx, c.to(), "no_run", "no cutover is running")
		return
	}
	if step == 0 {
		step = r.Current + 1
	}
	if step != r.Current+1 {
		cur := r.Steps[r.Current]
		h.refuse(ctx, c.to(), "stale", fmt.Sprintf("step %d is not the one waiting: the run is at step %d (%s, %s). Nothing was done.",
			step, r.Current+1, StepTitle(cur.Step), Human(cur.State)))
		return
	}
	msg, err := h.opts.Engine.Decide(ctx, engine.Request{RunID: r.ID, Step: r.Current, Attempt: r.Steps[r.Current].Attempt, User: c.UserID, Action: a, Reason: reason})
	if err != nil {
		h.refuseErr(ctx, c, err)
		return
	}
	h.reply(ctx, c, Info(OutcomeText(msg)))
}

func (h *Handler) refuseErr(ctx context.Context, c Command, err error) {
	if r, ok := engine.IsRefusal(err); ok {
		h.refuse(ctx, c.to(), r.Code, RefusalText(r))
		return
	}
	h.opts.Logger.Error("command failed", "user", c.UserID, "err", err)
	h.refuse(ctx, c.to(), "internal", "something went wrong on the bot's side and nothing was changed; the logs say more")
}

// HandleClick applies one button click. Approve and Retry decide at once; Reject,
// Skip and Abort open a modal asking for the reason (HandleSubmission decides).
func (h *Handler) HandleClick(ctx context.Context, k Click) {
	if strings.HasPrefix(k.ActionID, ActOverride+":") {
		h.overrideClick(ctx, k)
		return
	}
	runID, step, attempt, err := ParseButtonValue(k.Value)
	if err != nil {
		h.refuse(ctx, k.to(), "bad_button", "this button is not one of the cutover's")
		return
	}
	actions := map[string]engine.Action{ActApprove: engine.Approve, ActReject: engine.Reject, ActRetry: engine.Retry, ActSkip: engine.Skip, ActAbort: engine.Abort, ActCancel: engine.Cancel}
	a, ok := actions[k.ActionID]
	if !ok {
		h.refuse(ctx, k.to(), "bad_button", "unknown button "+clip(k.ActionID, 30))
		return
	}
	if k.ChannelID != h.channel() {
		h.refuse(ctx, k.to(), "wrong_channel", "cutover buttons work only in <#"+h.channel()+">")
		return
	}
	if a == engine.Reject || a == engine.Skip || a == engine.Abort {
		h.askReason(ctx, k, a, runID, step, attempt, "")
		return
	}
	_, err = h.opts.Engine.Decide(ctx, engine.Request{RunID: runID, Step: step, Attempt: attempt, User: k.UserID, Action: a})
	h.refuseDecision(ctx, k.to(), runID, err)
}

// HandleUnreadableClick answers an interaction the transport could not read (no
// action in it, or a payload that does not parse) privately, so that the person who
// clicked is not left waiting on nothing. What could be read of it says where.
func (h *Handler) HandleUnreadableClick(ctx context.Context, k Click) {
	h.refuse(ctx, k.to(), "bad_click", "I could not read that click, so nothing was done; click the button again, or use `/cutover status` to see where the run is")
}

// refuseDecision answers a decision the engine refused; nil does nothing.
func (h *Handler) refuseDecision(ctx context.Context, to replyTo, runID string, err error) {
	if err == nil {
		return
	}
	if r, ok := engine.IsRefusal(err); ok {
		h.refuse(ctx, to, r.Code, RefusalText(r))
		return
	}
	h.opts.Logger.Error("decision failed", "user", to.User, "run", runID, "err", err)
	h.refuse(ctx, to, "internal", "something went wrong on the bot's side and nothing was changed; the logs say more")
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// invisible finds a control character (tab and line breaks included: a command is one
// line of words), a line or paragraph separator, a bidirectional override or isolate,
// or invalid UTF-8.
func invisible(s string) (rune, bool) {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return r, true
			}
		}
		if unicode.IsControl(r) || lineBreak(r) || bidiControl(r) {
			return r, true
		}
	}
	return 0, false
}

// lineBreak is a character that ends a line: `start prod2⏎prod1` reads as two lines.
func lineBreak(r rune) bool {
	switch r {
	case '\n', '\r', '\v', '\f', 0x85, 0x2028, 0x2029:
		return true
	}
	return false
}

// invisibleRefusal says what invisible found, in the words a person would use.
func invisibleRefusal(r rune) string {
	what := "an invisible or control character"
	switch {
	case r == '\t':
		what = "a tab"
	case lineBreak(r):
		what = "a line break"
	}
	return fmt.Sprintf("that command holds %s (%U), which could make it read differently from what it does; a /cutover command is one line of words: type it again. Nothing was done.", what, r)
}

func bidiControl(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C
}

// maxCommandRunes bounds what a command may be: the longest legitimate one is a skip or
// abort reason of a sentence or two.
const maxCommandRunes = 1000

// CleanUserText makes text a user typed safe to echo into Slack and to store: control
// characters and bidirectional overrides are dropped, and &, < and > are escaped so
// that nothing typed can become a mention (<!channel>), a link or a formatting trick.
func CleanUserText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\t' || r == '\n':
			b.WriteRune(' ')
		case unicode.IsControl(r), bidiControl(r), r == utf8.RuneError:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
