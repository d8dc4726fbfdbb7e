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
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/schedule"
)

// Message is the neutral message type handlers build.
type Message = message.Message

// Poster sends messages to Slack (bot.Poster renders them as Block Kit).
type Poster interface {
	Post(ctx context.Context, channel, threadTS string, m message.Message) (string, error)
	Update(ctx context.Context, channel, ts string, m message.Message) error
	Ephemeral(ctx context.Context, channel, user string, m message.Message) error
	Respond(ctx context.Context, responseURL string, m message.Message) error
	Upload(ctx context.Context, channel, threadTS, filename, title string, content []byte) error
}

// Command is a slash command as the transport delivers it.
type Command struct {
	UserID, ChannelID, Text, ResponseURL string
}

// Click is a button click as the transport delivers it.
type Click struct {
	UserID, ChannelID, MessageTS, ActionID, Value, ResponseURL string
}

// Options wire a Handler.
type Options struct {
	Config *config.Config
	Engine *engine.Engine
	Store  engine.Store
	Poster Poster
	Policy *Maintainers
	Clock  func() time.Time
	Logger *slog.Logger
	// PostTimeout bounds each Slack call made for an engine event.
	PostTimeout time.Duration
	// Scheduler keeps /cutover schedule's plans (optional).
	Scheduler *schedule.Scheduler
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

// SetScheduler completes the wiring of /cutover schedule (its hooks need the handler).
func (h *Handler) SetScheduler(s *schedule.Scheduler) { h.opts.Scheduler = s }

// SetEngine completes the wiring when the engine is made after the handler (the
// engine's observer is the handler).
func (h *Handler) SetEngine(e *engine.Engine) { h.opts.Engine = e }

func (h *Handler) cfg() *config.Config { return h.opts.Config }

func (h *Handler) channel() string { return h.opts.Config.Slack.Channel }

func (h *Handler) required() int { return h.opts.Config.Slack.ApprovalsRequired }

func (h *Handler) describe(r *engine.Run, i int) []string {
	return plan.Describe(h.cfg(), r.Plan, r.Steps[i].Step)
}

// refuse answers privately and logs the refusal reason.
func (h *Handler) refuse(ctx context.Context, channel, user, responseURL, code, msg string) {
	h.opts.Logger.Info("refused", "user", user, "code", code, "reason", msg)
	if h.opts.OnRefusal != nil {
		h.opts.OnRefusal(code)
	}
	m := Refusal(msg)
	var err error
	if responseURL != "" {
		err = h.opts.Poster.Respond(ctx, responseURL, m)
	} else {
		err = h.opts.Poster.Ephemeral(ctx, channel, user, m)
	}
	if err != nil {
		h.opts.Logger.Error("could not send a refusal", "user", user, "err", err)
	}
}

func (h *Handler) reply(ctx context.Context, c Command, m message.Message) {
	if err := h.opts.Poster.Respond(ctx, c.ResponseURL, m); err != nil {
		h.opts.Logger.Error("could not answer a command", "user", c.UserID, "err", err)
	}
}

// HandleCommand runs one /cutover command.
func (h *Handler) HandleCommand(ctx context.Context, c Command) {
	if n := utf8.RuneCountInString(c.Text); n > maxCommandRunes {
		h.refuse(ctx, c.ChannelID, c.UserID, c.ResponseURL, "bad_input",
			fmt.Sprintf("that command is %d characters long; /cutover commands are short (`/cutover help` lists them). Nothing was done.", n))
		return
	}
	if r, ok := invisible(c.Text); ok {
		h.refuse(ctx, c.ChannelID, c.UserID, c.ResponseURL, "bad_input",
			fmt.Sprintf("that command holds an invisible or control character (%U), which could make it read differently from what it does; type it again. Nothing was done.", r))
		return
	}
	c.Text = CleanUserText(c.Text)
	words := strings.Fields(c.Text)
	sub := ""
	if len(words) > 0 {
		sub = strings.ToLower(words[0])
	}
	args := words[min(1, len(words)):]
	log := h.opts.Logger.With("user", c.UserID, "command", sub)
	if sub == "" || sub == "help" {
		h.reply(ctx, c, Help())
		return
	}
	if c.ChannelID != h.channel() {
		h.refuse(ctx, c.ChannelID, c.UserID, c.ResponseURL, "wrong_channel", fmt.Sprintf("cutovers are run from <#%s> only; use `/cutover %s` there", h.channel(), sub))
		return
	}
	switch sub {
	case "start":
		if len(args) != 2 {
			h.refuse(ctx, c.ChannelID, c.UserID, c.ResponseURL, "usage", "usage: `/cutover start ORIGIN DEST`, e.g. `/cutover start prod2 prod1`")
			return
		}
		r, err := h.opts.Engine.Start(ctx, args[0], args[1], c.UserID)
		if err != nil {
			h.refuseErr(ctx, c, err)
			return
		}
		log.Info("run started", "run", r.ID)
		h.reply(ctx, c, Info(fmt.Sprintf("Started run %s (%s → %s). Follow it in the thread of the new message in <#%s>.", r.ID, r.Origin, r.Destination, h.channel())))
	case "status":
		h.reply(ctx, c, Status(h.opts.Engine.Active(), h.required(), h.opts.Clock()))
	case "plan":
		if len(args) != 2 {
			h.refuse(ctx, c.ChannelID, c.UserID, c.ResponseURL, "usage", "usage: `/cutover plan ORIGIN DEST`")
			return
		}
		p, err := plan.Build(h.cfg(), args[0], args[1])
		if err != nil {
			h.refuse(ctx, c.ChannelID, c.UserID, c.ResponseURL, "bad_input", err.Error())
			return
		}
		h.reply(ctx, c, PlanMessage(h.cfg(), p))
	case "abort":
		h.decideCommand(ctx, c, engine.Abort, strings.Join(args, " "))
	case "skip":
		if len(args) == 0 {
			h.refuse(ctx, c.ChannelID, c.UserID, c.ResponseURL, "reason_required", "skipping needs a reason: `/cutover skip <reason>`")
			return
		}
		h.decideCommand(ctx, c, engine.Skip, strings.Join(args, " "))
	case "schedule":
		h.scheduleCommand(ctx, c, args)
	case "unschedule":
		h.unscheduleCommand(ctx, c, args)
	case "history":
		h.historyCommand(ctx, c, args)
	default:
		m := Help()
		m.Sections = append([]string{fmt.Sprintf("I don't know `%s`.", clip(sub, 40))}, m.Sections...)
		h.reply(ctx, c, m)
	}
}

func (h *Handler) decideCommand(ctx context.Context, c Command, a engine.Action, reason string) {
	r := h.opts.Engine.Active()
	if r == nil {
		h.refuse(ctx, c.ChannelID, c.UserID, c.ResponseURL, "no_run", "no cutover is running")
		return
	}
	msg, err := h.opts.Engine.Decide(ctx, engine.Request{RunID: r.ID, Step: r.Current, Attempt: r.Steps[r.Current].Attempt, User: c.UserID, Action: a, Reason: reason})
	if err != nil {
		h.refuseErr(ctx, c, err)
		return
	}
	h.reply(ctx, c, Info(msg))
}

func (h *Handler) refuseErr(ctx context.Context, c Command, err error) {
	if r, ok := engine.IsRefusal(err); ok {
		h.refuse(ctx, c.ChannelID, c.UserID, c.ResponseURL, r.Code, r.Msg)
		return
	}
	h.opts.Logger.Error("command failed", "user", c.UserID, "err", err)
	h.refuse(ctx, c.ChannelID, c.UserID, c.ResponseURL, "internal", "something went wrong on the bot's side and nothing was changed; the logs say more")
}

// HandleClick applies one button click.
func (h *Handler) HandleClick(ctx context.Context, k Click) {
	runID, step, attempt, err := ParseButtonValue(k.Value)
	if err != nil {
		h.refuse(ctx, k.ChannelID, k.UserID, "", "bad_button", "this button is not one of the cutover's")
		return
	}
	actions := map[string]engine.Action{ActApprove: engine.Approve, ActReject: engine.Reject, ActRetry: engine.Retry, ActSkip: engine.Skip, ActAbort: engine.Abort}
	a, ok := actions[k.ActionID]
	if !ok {
		h.refuse(ctx, k.ChannelID, k.UserID, "", "bad_button", "unknown button "+clip(k.ActionID, 30))
		return
	}
	if k.ChannelID != h.channel() {
		h.refuse(ctx, k.ChannelID, k.UserID, "", "wrong_channel", "cutover buttons work only in <#"+h.channel()+">")
		return
	}
	if a == engine.Skip {
		// A click cannot carry a reason; the command can.
		h.reply(ctx, Command{ChannelID: k.ChannelID, UserID: k.UserID, ResponseURL: k.ResponseURL},
			Info(fmt.Sprintf("To skip step %d, say why: `/cutover skip <reason>`. The reason is recorded with the run.", step+1)))
		return
	}
	_, err = h.opts.Engine.Decide(ctx, engine.Request{RunID: runID, Step: step, Attempt: attempt, User: k.UserID, Action: a})
	if err != nil {
		if r, ok := engine.IsRefusal(err); ok {
			h.refuse(ctx, k.ChannelID, k.UserID, "", r.Code, r.Msg)
			return
		}
		h.opts.Logger.Error("click failed", "user", k.UserID, "run", runID, "err", err)
		h.refuse(ctx, k.ChannelID, k.UserID, "", "internal", "something went wrong on the bot's side and nothing was changed; the logs say more")
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// invisible finds a control character (other than tab and newline), a bidirectional
// override or isolate, or invalid UTF-8.
func invisible(s string) (rune, bool) {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return r, true
			}
		}
		if (unicode.IsControl(r) && r != '\t' && r != '\n') || bidiControl(r) {
			return r, true
		}
	}
	return 0, false
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
