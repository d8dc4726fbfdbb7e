// Package transport is the bot's Socket Mode connection: it acknowledges every
// envelope before doing anything else (Slack's limit is 3 s), drops redeliveries and
// double clicks, and hands the work to a bounded pool of workers so the event loop
// never waits on the Web API.
package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// Command is a slash command.
type Command struct {
	EnvelopeID, UserID, ChannelID, Text, ResponseURL, TriggerID string
}

// Action is a button click. TriggerID can open one modal within 3 seconds of the click.
type Action struct {
	EnvelopeID, UserID, ChannelID, MessageTS, ThreadTS, ActionID, BlockID, Value, ActionTS, ResponseURL, TriggerID string
}

// Submission is a modal's submit: what it was for (CallbackID, Metadata) and the
// text of each input, by the input's action ID.
type Submission struct {
	EnvelopeID, UserID, ViewID, CallbackID, Metadata string
	Values                                           map[string]string
}

// HomeOpened says a user opened the app's Home tab.
type HomeOpened struct {
	EnvelopeID, UserID string
}

// Unreadable is an interaction the bot could not read (no action in it, a kind it does
// not handle, or a payload that does not parse), with whatever could be read of who
// sent it and where: enough to tell them privately, rather than say nothing.
type Unreadable struct {
	EnvelopeID, UserID, ChannelID, ThreadTS, ResponseURL string
	// Why is for the logs.
	Why string
}

// Handler does the work of a command, a click, a modal's submit or an opened Home tab,
// on a worker goroutine.
type Handler interface {
	HandleCommand(ctx context.Context, c Command)
	HandleAction(ctx context.Context, a Action)
	HandleSubmission(ctx context.Context, s Submission)
	HandleHomeOpened(ctx context.Context, h HomeOpened)
	HandleUnreadable(ctx context.Context, u Unreadable)
}

// Options configure the transport. Tokens are passed in, never logged.
type Options struct {
	BotToken, AppToken string
	APIURL             string
	Workers            int
	QueueSize          int
	Logger             *slog.Logger
	DedupeTTL          time.Duration
	// DoubleClickWindow is how close two clicks of one button by one person must be
	// to count as one.
	DoubleClickWindow time.Duration
	// OnAck hears how long each acknowledgement took (for the metrics).
	OnAck func(time.Duration)
	// HTTPClient is used for the Web API (timeouts).
	HTTPClient *http.Client
	// ReconnectMin and ReconnectMax bound the wait before reconnecting after the
	// Socket Mode connection ends: it doubles from the first to the second (defaults
	// 1 s and 1 min), with jitter, and starts again once a connection came up.
	ReconnectMin, ReconnectMax time.Duration
	// OnReconnect hears each wait before a reconnect.
	OnReconnect func(wait time.Duration)
}

// Transport owns the Socket Mode client.
type Transport struct {
	opts         Options
	api          *slack.Client
	sm           *socketmode.Client
	queue        chan func(context.Context)
	connected    atomic.Bool
	cameUp       atomic.Bool  // a connection came up since the last reconnect
	workspaceURL atomic.Value // string, from auth.test
	dedupe       *dedupe
}

// ErrFatalAuth says Slack refused the tokens; reconnecting will not help.
var ErrFatalAuth = errors.New("slack refused the token")

// New makes a transport; Run connects.
func New(opts Options) (*Transport, error) {
	if opts.BotToken == "" || opts.AppToken == "" {
		return nil, errors.New("SLACK_BOT_TOKEN and SLACK_APP_TOKEN are both needed")
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.DedupeTTL <= 0 {
		opts.DedupeTTL = 10 * time.Minute
	}
	if opts.DoubleClickWindow <= 0 {
		opts.DoubleClickWindow = 3 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.ReconnectMin <= 0 {
		opts.ReconnectMin = time.Second
	}
	if opts.ReconnectMax < opts.ReconnectMin {
		opts.ReconnectMax = max(time.Minute, opts.ReconnectMin)
	}
	slackOpts := []slack.Option{slack.OptionAppLevelToken(opts.AppToken), slack.OptionHTTPClient(opts.HTTPClient)}
	if opts.APIURL != "" {
		slackOpts = append(slackOpts, slack.OptionAPIURL(opts.APIURL))
	}
	api := slack.New(opts.BotToken, slackOpts...)
	t := &Transport{opts: opts, api: api, queue: make(chan func(context.Context), opts.QueueSize),
		dedupe: newDedupe(opts.DedupeTTL)}
	return t, nil
}

// Client is the Web API client (for the Sender and lookups).
func (t *Transport) Client() *slack.Client { return t.api }

// WorkspaceURL is the workspace's address (https://nycmesh.slack.com/), once connected.
func (t *Transport) WorkspaceURL() string {
	u, _ := t.workspaceURL.Load().(string)
	return u
}

// Connected reports whether the Socket Mode connection is up.
func (t *Transport) Connected() bool { return t.connected.Load() }

// Run checks the bot token, connects, and delivers to h until ctx ends or the tokens
// are refused. Other disconnects reconnect.
func (t *Transport) Run(ctx context.Context, h Handler) error {
	auth, err := t.api.AuthTestContext(ctx)
	if err != nil {
		return fatalOr(fmt.Errorf("auth.test with SLACK_BOT_TOKEN: %w", err))
	}
	t.workspaceURL.Store(auth.URL)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel below: the workers stop when ctx ends
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := 0; i < t.opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case job := <-t.queue:
					t.safely(ctx, job)
				}
			}
		}()
	}
	retry := newBackoff(t.opts.ReconnectMin, t.opts.ReconnectMax)
	for {
		t.sm = socketmode.New(t.api)
		errc := make(chan error, 1)
		go func() { errc <- t.sm.RunContext(ctx) }()
		err := t.loop(ctx, t.sm, errc, h)
		t.connected.Store(false)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrFatalAuth) {
			return err
		}
		if t.cameUp.Swap(false) {
			retry.reset()
		}
		wait := retry.wait()
		t.opts.Logger.Warn("Socket Mode connection ended; reconnecting", "err", err, "in", wait.String())
		if t.opts.OnReconnect != nil {
			t.opts.OnReconnect(wait)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

func fatalOr(err error) error {
	for _, code := range []string{"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "not_allowed_token_type"} {
		if strings.Contains(err.Error(), code) {
			return fmt.Errorf("%w: %v (check the token and the app's installation)", ErrFatalAuth, err)
		}
	}
	return err
}

// loop reads client events: every envelope is acknowledged first, then queued.
func (t *Transport) loop(ctx context.Context, sm *socketmode.Client, errc chan error, h Handler) error {
	for {
		select {
		case err := <-errc:
			if err != nil {
				return fatalOr(err)
			}
			return errors.New("socket mode client stopped")
		case ev, ok := <-sm.Events:
			if !ok {
				return errors.New("socket mode events closed")
			}
			t.event(ctx, sm, ev, h)
		}
	}
}

func (t *Transport) event(ctx context.Context, sm *socketmode.Client, ev socketmode.Event, h Handler) {
	log := t.opts.Logger
	switch ev.Type {
	case socketmode.EventTypeConnected:
		t.connected.Store(true)
		t.cameUp.Store(true)
		log.Info("connected to Slack (Socket Mode)")
		return
	case socketmode.EventTypeConnecting:
		return
	case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError:
		t.connected.Store(false)
		log.Warn("Slack connection problem", "event", string(ev.Type))
		return
	case socketmode.EventTypeInvalidAuth:
		log.Error("Slack refused SLACK_APP_TOKEN")
		return
	case socketmode.EventTypeErrorBadMessage:
		// slack-go could not parse the message: read what can be read of it, so its
		// envelope is still acknowledged and a click still answered.
		bad, _ := ev.Data.(*socketmode.ErrorBadMessage)
		if bad == nil {
			return
		}
		req, ok := looseRequest(bad.Message)
		if !ok {
			log.Warn("an unreadable Socket Mode message without an envelope", "err", bad.Cause)
			return
		}
		ev.Request = req
	}
	if ev.Request == nil || ev.Request.EnvelopeID == "" {
		return
	}
	start := time.Now()
	// Acknowledge before anything else; the deadline keeps a dead connection from
	// blocking the loop (only 20 acks queue without one).
	actx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := sm.AckCtx(actx, ev.Request.EnvelopeID, nil)
	cancel()
	if err != nil {
		log.Warn("could not acknowledge an envelope", "envelope", ev.Request.EnvelopeID, "err", err)
	} else if t.opts.OnAck != nil {
		t.opts.OnAck(time.Since(start))
	}
	if t.dedupe.seen("env:"+ev.Request.EnvelopeID, time.Now()) {
		log.Info("dropped a redelivered envelope", "envelope", ev.Request.EnvelopeID, "retry", ev.Request.RetryAttempt)
		return
	}
	var job func(context.Context)
	unreadable := func(why string) {
		u := looseInteraction(ev.Request.Payload)
		u.EnvelopeID, u.Why = ev.Request.EnvelopeID, why
		log.Warn("an interaction the bot could not read", "user", u.UserID, "why", why)
		job = func(ctx context.Context) { h.HandleUnreadable(ctx, u) }
	}
	switch ev.Type {
	case socketmode.EventTypeErrorBadMessage:
		if ev.Request.Type != socketmode.RequestTypeInteractive {
			log.Warn("an unreadable Socket Mode message", "type", ev.Request.Type)
			return
		}
		unreadable(fmt.Sprint(ev.Data.(*socketmode.ErrorBadMessage).Cause))
	case socketmode.EventTypeSlashCommand:
		cmd, ok := ev.Data.(slack.SlashCommand)
		if !ok {
			return
		}
		c := Command{EnvelopeID: ev.Request.EnvelopeID, UserID: cmd.UserID, ChannelID: cmd.ChannelID, Text: cmd.Text, ResponseURL: cmd.ResponseURL, TriggerID: cmd.TriggerID}
		// A redelivered command carries the same trigger.
		if c.TriggerID != "" && t.dedupe.seen("cmd:"+c.TriggerID, time.Now()) {
			log.Info("dropped a redelivered command", "user", c.UserID)
			return
		}
		job = func(ctx context.Context) { h.HandleCommand(ctx, c) }
	case socketmode.EventTypeInteractive:
		cb, ok := ev.Data.(slack.InteractionCallback)
		if ok && cb.Type == slack.InteractionTypeViewSubmission {
			sub := submission(ev.Request.EnvelopeID, cb)
			job = func(ctx context.Context) { h.HandleSubmission(ctx, sub) }
			break
		}
		switch {
		case !ok:
			unreadable(fmt.Sprintf("an interactive payload of type %T", ev.Data))
		case cb.Type == slack.InteractionTypeViewClosed:
			return // the bot asks for none; nobody waits for an answer to one
		case cb.Type != slack.InteractionTypeBlockActions:
			unreadable(fmt.Sprintf("an interaction of type %q", cb.Type))
		case len(cb.ActionCallback.BlockActions) == 0:
			unreadable("a block_actions payload without actions")
		}
		if job != nil {
			break
		}
		b := cb.ActionCallback.BlockActions[0]
		a := Action{EnvelopeID: ev.Request.EnvelopeID, UserID: cb.User.ID, ChannelID: cb.Channel.ID, MessageTS: cb.Container.MessageTs,
			ThreadTS: cb.Container.ThreadTs, ActionID: b.ActionID, BlockID: b.BlockID, Value: b.Value, ActionTS: b.ActionTs, ResponseURL: cb.ResponseURL,
			TriggerID: cb.TriggerID}
		if a.ChannelID == "" {
			a.ChannelID = cb.Container.ChannelID
		}
		// Interactions carry no event ID: one person's clicks of one button within a
		// short window are one click.
		if t.dedupe.seenWithin("click:"+a.UserID+"|"+a.ActionID+"|"+a.Value, time.Now(), t.opts.DoubleClickWindow) ||
			t.dedupe.seen("action:"+a.UserID+"|"+a.ActionTS+"|"+a.Value, time.Now()) {
			log.Info("dropped a double click", "user", a.UserID, "action", a.ActionID)
			return
		}
		job = func(ctx context.Context) { h.HandleAction(ctx, a) }
	case socketmode.EventTypeEventsAPI:
		api, ok := ev.Data.(slackevents.EventsAPIEvent)
		if !ok {
			return
		}
		opened, ok := api.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent)
		if !ok || opened.Tab != "home" {
			return
		}
		home := HomeOpened{EnvelopeID: ev.Request.EnvelopeID, UserID: opened.User}
		job = func(ctx context.Context) { h.HandleHomeOpened(ctx, home) }
	default:
		return
	}
	select {
	case t.queue <- job:
	default:
		log.Error("work queue full; an envelope was acknowledged but dropped", "envelope", ev.Request.EnvelopeID)
	}
}

// submission reads a modal's submit: each input's text by its action ID.
func submission(envelopeID string, cb slack.InteractionCallback) Submission {
	sub := Submission{EnvelopeID: envelopeID, UserID: cb.User.ID, ViewID: cb.View.ID, CallbackID: cb.View.CallbackID,
		Metadata: cb.View.PrivateMetadata, Values: map[string]string{}}
	if cb.View.State != nil {
		for _, actions := range cb.View.State.Values {
			for id, a := range actions {
				sub.Values[id] = a.Value
			}
		}
	}
	return sub
}

func (t *Transport) safely(ctx context.Context, job func(context.Context)) {
	defer func() {
		if p := recover(); p != nil {
			t.opts.Logger.Error("a handler panicked", "panic", fmt.Sprint(p))
		}
	}()
	jctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	job(jctx)
}

// dedupe remembers keys for a while.
type dedupe struct {
	mu   sync.Mutex
	ttl  time.Duration
	keys map[string]time.Time
	last time.Time
}

func newDedupe(ttl time.Duration) *dedupe { return &dedupe{ttl: ttl, keys: map[string]time.Time{}} }

// seen records key and reports whether it was already there within the TTL.
func (d *dedupe) seen(key string, now time.Time) bool { return d.seenWithin(key, now, d.ttl) }

func (d *dedupe) seenWithin(key string, now time.Time, window time.Duration) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Sub(d.last) > time.Minute {
		for k, at := range d.keys {
			if now.Sub(at) > d.ttl {
				delete(d.keys, k)
			}
		}
		d.last = now
	}
	at, ok := d.keys[key]
	if ok && now.Sub(at) <= window {
		return true
	}
	d.keys[key] = now
	return false
}
