package transport_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/bot/slackfake"
	"github.com/nycmeshnet/cutoverbot/bot/transport"
)

var testLogOut io.Writer = io.Discard

const (
	botToken = "xoxb-test-bot-SECRET"
	appToken = "xapp-test-app-SECRET"
	channel  = "C0123MESHDB"
)

// recorder is a handler that records what it was given, optionally slowly.
type recorder struct {
	mu          sync.Mutex
	commands    []transport.Command
	actions     []transport.Action
	submissions []transport.Submission
	homes       []transport.HomeOpened
	unreadable  []transport.Unreadable
	block       chan struct{}
}

func (r *recorder) HandleCommand(ctx context.Context, c transport.Command) {
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
		}
	}
	r.mu.Lock()
	r.commands = append(r.commands, c)
	r.mu.Unlock()
}

func (r *recorder) HandleAction(_ context.Context, a transport.Action) {
	r.mu.Lock()
	r.actions = append(r.actions, a)
	r.mu.Unlock()
}

func (r *recorder) HandleSubmission(_ context.Context, s transport.Submission) {
	r.mu.Lock()
	r.submissions = append(r.submissions, s)
	r.mu.Unlock()
}

func (r *recorder) HandleHomeOpened(_ context.Context, h transport.HomeOpened) {
	r.mu.Lock()
	r.homes = append(r.homes, h)
	r.mu.Unlock()
}

func (r *recorder) HandleUnreadable(_ context.Context, u transport.Unreadable) {
	r.mu.Lock()
	r.unreadable = append(r.unreadable, u)
	r.mu.Unlock()
}

func (r *recorder) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.commands), len(r.actions)
}

type env struct {
	slack *slackfake.Server
	tr    *transport.Transport
	rec   *recorder
	errc  chan error
}

func start(t *testing.T, rec *recorder, app string) *env {
	t.Helper()
	return startWith(t, rec, transport.Options{AppToken: app})
}

// startWith starts a local Slack and a transport with opts (tokens, API URL and logger
// filled in where unset) that runs until the test ends.
func startWith(t *testing.T, rec *recorder, opts transport.Options) *env {
	t.Helper()
	s := startSlack(t)
	if opts.BotToken == "" {
		opts.BotToken = botToken
	}
	if opts.AppToken == "" {
		opts.AppToken = appToken
	}
	opts.APIURL = s.APIURL()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testLogOut, nil))
	}
	tr, err := transport.New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{slack: s, tr: tr, rec: rec, errc: make(chan error, 1)}
	go func() { e.errc <- tr.Run(ctx, rec) }()
	t.Cleanup(func() {
		if rec.block != nil {
			select {
			case <-rec.block:
			default:
				close(rec.block)
			}
		}
		cancel()
		<-e.errc
	})
	return e
}

func startSlack(t *testing.T) *slackfake.Server {
	t.Helper()
	s, err := slackfake.Start(slackfake.Options{BotToken: botToken, AppToken: appToken,
		Channels: map[string]string{channel: "meshdb"}, Users: map[string]string{"U01ALICE": "alice", "U02BOB": "bob"}})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func waitFor(t *testing.T, s *slackfake.Server, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, s.WaitFor(ctx, cond), "waiting for %s", what)
}

func TestEveryEnvelopeIsAckedBeforeTheWorkIsDone(t *testing.T) {
	rec := &recorder{block: make(chan struct{})}
	e := start(t, rec, appToken)
	waitFor(t, e.slack, "connection", e.slack.Connected)
	for i := 0; i < 25; i++ {
		_, err := e.slack.SlashCommand("U01ALICE", channel, "status")
		require.NoError(t, err)
	}
	waitFor(t, e.slack, "25 acks", func() bool { return len(e.slack.Acks()) == 25 })
	n, _ := rec.counts()
	assert.Equal(t, 0, n, "every ack arrived while the handlers were still blocked")
	for _, a := range e.slack.Acks() {
		assert.Less(t, a.Latency(), time.Second, "ack of %s", a.EnvelopeID)
	}
	close(rec.block)
	waitFor(t, e.slack, "25 commands handled", func() bool { n, _ := rec.counts(); return n == 25 })
	assert.Equal(t, "status", rec.commands[0].Text)
	assert.Equal(t, channel, rec.commands[0].ChannelID)
	assert.True(t, strings.HasPrefix(rec.commands[0].ResponseURL, "http://127.0.0.1"))
}

func TestRedeliveryAndDoubleClicksRunOnce(t *testing.T) {
	rec := &recorder{}
	// One worker runs the work in the order the envelopes came, so once a last command
	// is handled, everything before it has been handled or dropped.
	e := startWith(t, rec, transport.Options{Workers: 1})
	waitFor(t, e.slack, "connection", e.slack.Connected)
	id, err := e.slack.SlashCommand("U01ALICE", channel, "start prod2 prod1")
	require.NoError(t, err)
	require.NoError(t, e.slack.Redeliver(id))
	waitFor(t, e.slack, "2 acks", func() bool { return len(e.slack.Acks()) == 2 })

	// A message with a button, clicked twice by bob.
	sender := transport.NewSender(e.tr.Client(), nil)
	blocks := []slack.Block{slack.NewActionBlock("", slack.NewButtonBlockElement("approve", "run|1|1", slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)))}
	ts, err := sender.Post(context.Background(), channel, "", "prompt", blocks)
	require.NoError(t, err)
	_, err = e.slack.Click("U02BOB", channel, ts, "approve")
	require.NoError(t, err)
	_, err = e.slack.Click("U02BOB", channel, ts, "approve")
	require.NoError(t, err)
	waitFor(t, e.slack, "4 acks", func() bool { return len(e.slack.Acks()) == 4 })
	// And alice's click of the same button is hers, not a double click.
	_, err = e.slack.Click("U01ALICE", channel, ts, "approve")
	require.NoError(t, err)
	waitFor(t, e.slack, "5 acks", func() bool { return len(e.slack.Acks()) == 5 })
	_, err = e.slack.SlashCommand("U01ALICE", channel, "last")
	require.NoError(t, err)
	waitFor(t, e.slack, "the last command", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.commands) > 0 && rec.commands[len(rec.commands)-1].Text == "last"
	})
	c, a := rec.counts()
	assert.Equal(t, 2, c, "the redelivered command ran once (and the last one once)")
	assert.Equal(t, 2, a, "bob's double click ran once")
	assert.Equal(t, "run|1|1", rec.actions[0].Value)
	assert.Equal(t, "approve", rec.actions[0].ActionID)
	assert.Equal(t, ts, rec.actions[0].MessageTS)
}

func TestDisconnectAndDroppedConnectionReconnect(t *testing.T) {
	rec := &recorder{}
	e := start(t, rec, appToken)
	waitFor(t, e.slack, "connection", e.slack.Connected)
	e.slack.Disconnect()
	waitFor(t, e.slack, "reconnection after disconnect", func() bool { return e.slack.Connected() && e.tr.Connected() })
	_, err := e.slack.SlashCommand("U01ALICE", channel, "status")
	require.NoError(t, err)
	waitFor(t, e.slack, "command after reconnect", func() bool { c, _ := rec.counts(); return c == 1 })

	e.slack.DropConnection()
	waitFor(t, e.slack, "reconnection after a dropped connection", func() bool {
		if !e.slack.Connected() {
			return false
		}
		_, err := e.slack.SlashCommand("U01ALICE", channel, "status")
		return err == nil
	})
	waitFor(t, e.slack, "command after the drop", func() bool { c, _ := rec.counts(); return c >= 2 })
}

// When the Socket Mode client gives up on a connection (it retries a failed dial
// itself, but not every refusal), the transport reconnects after waits that double
// from ReconnectMin to ReconnectMax, each drawn between half and all of its step.
func TestReconnectsBackOffExponentially(t *testing.T) {
	var mu sync.Mutex
	var waits []time.Duration
	rec := &recorder{}
	s := startSlack(t)
	s.FailNext("apps.connections.open", 5, http.StatusNotFound)
	opts := transport.Options{BotToken: botToken, AppToken: appToken, APIURL: s.APIURL(), Logger: slog.New(slog.NewTextHandler(testLogOut, nil)),
		ReconnectMin: time.Millisecond, ReconnectMax: 4 * time.Millisecond,
		OnReconnect: func(w time.Duration) { mu.Lock(); waits = append(waits, w); mu.Unlock() }}
	tr, err := transport.New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx, rec) }()
	t.Cleanup(func() { cancel(); <-done })

	waitFor(t, s, "a connection after five refusals", func() bool { return s.Connected() && tr.Connected() })
	mu.Lock()
	got := append([]time.Duration(nil), waits...)
	mu.Unlock()
	require.Len(t, got, 5, "one wait per refused connection")
	for i, step := range []time.Duration{1, 2, 4, 4, 4} {
		step *= time.Millisecond
		assert.GreaterOrEqual(t, got[i], step/2, "wait %d", i+1)
		assert.LessOrEqual(t, got[i], step, "wait %d", i+1)
	}

	// A connection that came up starts the waits again from the first step.
	s.FailNext("apps.connections.open", 1, http.StatusNotFound)
	s.DropConnection()
	waitFor(t, s, "the next wait", func() bool { mu.Lock(); defer mu.Unlock(); return len(waits) == 6 })
	mu.Lock()
	assert.LessOrEqual(t, waits[5], time.Millisecond, "back to the first step")
	mu.Unlock()
}

func TestInvalidTokensStopWithAClearError(t *testing.T) {
	e := start(t, &recorder{}, "xapp-wrong")
	select {
	case err := <-e.errc:
		require.Error(t, err)
		assert.True(t, errors.Is(err, transport.ErrFatalAuth), "%v", err)
		assert.Contains(t, err.Error(), "invalid_auth")
		assert.NotContains(t, err.Error(), "SECRET")
		e.errc <- err // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not stop on a refused app token")
	}
}

// bubbleSender is a Sender whose Web API calls reach s in-process, so that inside a
// synctest bubble its waits pass in the bubble's time and every goroutine it starts
// can be waited for.
func bubbleSender(s *slackfake.Server) *transport.Sender {
	api := slack.New(botToken, slack.OptionAPIURL(s.APIURL()), slack.OptionHTTPClient(s.InProcessClient()))
	return transport.NewSender(api, slog.New(slog.NewTextHandler(testLogOut, nil)))
}

func callsOf(s *slackfake.Server, method string) []slackfake.Call {
	var out []slackfake.Call
	for _, c := range s.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func TestSenderWaitsOutARateLimit(t *testing.T) {
	s := startSlack(t)
	synctest.Test(t, func(t *testing.T) {
		sender := bubbleSender(s)
		var waits []time.Duration
		sender.OnRateLimit = func(w time.Duration) { waits = append(waits, w) }

		s.RateLimitNext("chat.postMessage", 1, 3*time.Second)
		_, err := sender.Post(context.Background(), channel, "", "after a 429", nil)
		require.NoError(t, err)
		calls := callsOf(s, "chat.postMessage")
		require.Len(t, calls, 2)
		assert.Equal(t, 429, calls[0].Status)
		assert.Equal(t, 3*time.Second, calls[1].At.Sub(calls[0].At), "the retry came when Retry-After said, in the bubble's time")
		assert.Equal(t, []time.Duration{3 * time.Second}, waits, "the wait reached the metrics hook")
	})
}

func TestSenderCoalescesEditsOfOneMessage(t *testing.T) {
	s := startSlack(t)
	synctest.Test(t, func(t *testing.T) {
		sender := bubbleSender(s)
		ctx := context.Background()
		ts, err := sender.Post(ctx, channel, "", "prompt", nil)
		require.NoError(t, err)

		// The first edit meets a 503 and waits to retry; the nine after it arrive, in
		// order, while it waits.
		s.FailNext("chat.update", 1, 503)
		var wg sync.WaitGroup
		errs := make([]error, 10)
		for i := range 10 {
			wg.Go(func() { errs[i] = sender.Update(ctx, channel, ts, fmt.Sprintf("edit %d", i), nil) })
			synctest.Wait() // edit i is in: being sent, or waiting behind the one in flight
		}
		wg.Wait()
		for i, err := range errs {
			assert.NoError(t, err, "edit %d", i)
		}
		var sent []int
		for _, c := range callsOf(s, "chat.update") {
			sent = append(sent, c.Status)
		}
		assert.Equal(t, []int{503, 200, 200}, sent, "the first edit (refused once, then sent) and the newest; edits 1 to 8 were never sent")
		m, ok := s.Message(channel, ts)
		require.True(t, ok)
		assert.Equal(t, "edit 9", m.Text, "the newest edit wins")
		for _, seen := range s.Seen() {
			assert.NotContains(t, seen, "SECRET", "no token in any body or URL")
		}
	})
}

func TestSenderRefusalsUploadsAndSecrets(t *testing.T) {
	rec := &recorder{}
	e := start(t, rec, appToken)
	sender := transport.NewSender(e.tr.Client(), nil)
	ctx := context.Background()
	ts, err := sender.Post(ctx, channel, "", "a message", nil)
	require.NoError(t, err)

	_, err = sender.Post(ctx, "C0NOWHERE", "", "x", nil)
	assert.ErrorContains(t, err, "channel_not_found")

	long := strings.Repeat("a line of a long pg_restore log\n", 400)
	require.NoError(t, sender.Upload(ctx, channel, ts, "restore-log.txt", "Restore log", []byte(long)))
	files := e.slack.Files()
	require.Len(t, files, 1)
	assert.Equal(t, long, string(files[0].Content))
	assert.Equal(t, ts, files[0].ThreadTS)

	e.slack.FailNext("upload", 1, 500)
	require.NoError(t, sender.Upload(ctx, channel, ts, "x.txt", "x", []byte("retried after a 5xx")))
	assert.Len(t, e.slack.Files(), 2)

	for _, seen := range e.slack.Seen() {
		assert.NotContains(t, seen, "SECRET", "no token in any body or URL")
	}
}

func TestAClickOpensAModalWhoseSubmissionComesBack(t *testing.T) {
	rec := &recorder{}
	e := start(t, rec, appToken)
	waitFor(t, e.slack, "connection", e.slack.Connected)
	sender := transport.NewSender(e.tr.Client(), nil)
	ctx := context.Background()
	blocks := []slack.Block{slack.NewActionBlock("", slack.NewButtonBlockElement("reject", "run|1|1", slack.NewTextBlockObject(slack.PlainTextType, "Reject", false, false)))}
	ts, err := sender.Post(ctx, channel, "", "prompt", blocks)
	require.NoError(t, err)
	_, err = e.slack.Click("U02BOB", channel, ts, "reject")
	require.NoError(t, err)
	waitFor(t, e.slack, "the click", func() bool { _, a := rec.counts(); return a == 1 })
	rec.mu.Lock()
	trigger := rec.actions[0].TriggerID
	rec.mu.Unlock()
	require.NotEmpty(t, trigger)

	in := slack.NewPlainTextInputBlockElement(nil, "reason")
	view := slack.ModalViewRequest{Type: slack.VTModal, Title: slack.NewTextBlockObject(slack.PlainTextType, "Reject step 2", false, false),
		Submit: slack.NewTextBlockObject(slack.PlainTextType, "Reject", false, false), CallbackID: "decide", PrivateMetadata: "run|1|1",
		Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewInputBlock("reason", slack.NewTextBlockObject(slack.PlainTextType, "Why", false, false), nil, in)}}}
	id, err := sender.OpenView(ctx, trigger, view)
	require.NoError(t, err)
	_, err = sender.OpenView(ctx, trigger, view)
	assert.ErrorContains(t, err, "exchanged_trigger_id", "a trigger opens one view")

	_, err = e.slack.Submit("U02BOB", id, map[string]string{"reason": "wrong cluster"})
	require.NoError(t, err)
	waitFor(t, e.slack, "the submission", func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.submissions) == 1 })
	got := rec.submissions[0]
	assert.Equal(t, transport.Submission{EnvelopeID: got.EnvelopeID, UserID: "U02BOB", ViewID: id, CallbackID: "decide", Metadata: "run|1|1",
		Values: map[string]string{"reason": "wrong cluster"}}, got)

	_, err = e.slack.OpenHome("U01ALICE")
	require.NoError(t, err)
	waitFor(t, e.slack, "the Home tab opened", func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.homes) == 1 })
	assert.Equal(t, "U01ALICE", rec.homes[0].UserID)
}

// A click the bot cannot read (no action, or a payload slack-go cannot parse) is
// acknowledged and handed on with who sent it and where, once, instead of dropped.
func TestAClickTheBotCannotReadIsAcknowledgedAndHandedOn(t *testing.T) {
	rec := &recorder{}
	e := start(t, rec, appToken)
	waitFor(t, e.slack, "connection", e.slack.Connected)
	cases := []struct {
		name     string
		spoil    func(p map[string]any)
		user     string
		thread   string
		parsable bool
	}{
		{"no actions", func(p map[string]any) {}, "U02BOB", "1.000001", true},
		{"an empty action list", func(p map[string]any) { p["actions"] = []any{} }, "U02BOB", "", true},
		{"a shortcut, which the bot has none of", func(p map[string]any) { p["type"] = "shortcut" }, "U02BOB", "", true},
		{"actions that are not a list", func(p map[string]any) { p["actions"] = "approve" }, "U02BOB", "1.000001", false},
		{"a user that is not an object", func(p map[string]any) {
			p["user"] = "U02BOB"
			p["actions"] = []map[string]any{{"type": "button", "action_id": "approve", "value": "x|1|1"}}
		}, "", "", false},
	}
	for i, c := range cases {
		p := e.slack.ClickPayload("U02BOB", channel, "1.000002", c.thread)
		delete(p, "action_ts")
		c.spoil(p)
		raw, err := json.Marshal(p)
		require.NoError(t, err)
		var cb slack.InteractionCallback
		require.Equal(t, c.parsable, json.Unmarshal(raw, &cb) == nil, "%s: the payload is as the case says", c.name)
		id, err := e.slack.SendInteractive(raw)
		require.NoError(t, err)
		require.NoError(t, e.slack.Redeliver(id))
		waitFor(t, e.slack, c.name+" handed on", func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.unreadable) > i })
		// The ack goes out first, but reaches the local Slack over the socket after the
		// hand-off may have happened: wait for it.
		waitFor(t, e.slack, c.name+" acknowledged", func() bool { _, acked := e.slack.AckFor(id); return acked })
		rec.mu.Lock()
		got := rec.unreadable[i]
		rec.mu.Unlock()
		assert.Equal(t, id, got.EnvelopeID, c.name)
		assert.Equal(t, c.user, got.UserID, c.name)
		assert.Equal(t, channel, got.ChannelID, c.name)
		assert.Equal(t, c.thread, got.ThreadTS, c.name)
		assert.Equal(t, p["response_url"], got.ResponseURL, c.name)
		assert.NotEmpty(t, got.Why, c.name)
	}
	waitFor(t, e.slack, "every envelope and redelivery acknowledged", func() bool { return len(e.slack.Acks()) == 2*len(cases) })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.Len(t, rec.unreadable, len(cases), "a redelivery is handed on once")
	assert.Empty(t, rec.actions, "none of them became a click")
}
