package slackfake_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/bot/slackfake"
)

// Slack tells a wrong token from a token of the wrong kind: the app-level token opens
// Socket Mode and nothing else, the bot token calls the Web API and cannot open it.
func TestTokensAreCheckedAsSlackChecksThem(t *testing.T) {
	f := start(t, nil)
	for _, tc := range []struct {
		name, token, method string
		call                func(*slack.Client) error
		want                string
	}{
		{"bot token, Web API", botToken, "auth.test", func(c *slack.Client) error { _, err := c.AuthTest(); return err }, ""},
		{"wrong bot token", "xoxb-wrong", "auth.test", func(c *slack.Client) error { _, err := c.AuthTest(); return err }, "invalid_auth"},
		{"app token, Web API", appToken, "chat.postMessage", func(c *slack.Client) error {
			_, _, err := c.PostMessage(channel, slack.MsgOptionText("x", false))
			return err
		}, "not_allowed_token_type"},
		{"bot token, Socket Mode", botToken, "apps.connections.open", func(c *slack.Client) error {
			_, _, err := slack.New("", slack.OptionAPIURL(f.s.APIURL()), slack.OptionAppLevelToken(botToken)).StartSocketModeContext(context.Background())
			return err
		}, "not_allowed_token_type"},
		{"wrong app token, Socket Mode", "xapp-wrong", "apps.connections.open", func(c *slack.Client) error {
			_, _, err := slack.New("", slack.OptionAPIURL(f.s.APIURL()), slack.OptionAppLevelToken("xapp-wrong")).StartSocketModeContext(context.Background())
			return err
		}, "invalid_auth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(slack.New(tc.token, slack.OptionAPIURL(f.s.APIURL())))
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			calls := f.s.Calls()
			last := calls[len(calls)-1]
			assert.Equal(t, tc.method, last.Method)
			assert.Equal(t, tc.want, last.Error)
		})
	}
}

// A fault answers the next calls of one method, then the method works again: a 429
// carries Retry-After in whole seconds, rounded up, as Slack's does.
func TestFaultsAnswerTheNextCallsOfOneMethod(t *testing.T) {
	f := start(t, nil)
	f.s.RateLimitNext("chat.postMessage", 1, 1500*time.Millisecond)
	_, _, err := f.api.PostMessage(channel, slack.MsgOptionText("first", false))
	var rl *slack.RateLimitedError
	require.ErrorAs(t, err, &rl)
	assert.Equal(t, 2*time.Second, rl.RetryAfter)
	_, ts, err := f.api.PostMessage(channel, slack.MsgOptionText("second", false))
	require.NoError(t, err)

	f.s.FailNext("chat.update", 2, http.StatusServiceUnavailable)
	for range 2 {
		_, _, _, err = f.api.UpdateMessage(channel, ts, slack.MsgOptionText("edited", false))
		var sc slack.StatusCodeError
		require.True(t, errors.As(err, &sc), "%v", err)
		assert.Equal(t, http.StatusServiceUnavailable, sc.Code)
	}
	_, _, err = f.api.PostMessage(channel, slack.MsgOptionText("other methods are untouched", false))
	require.NoError(t, err)
	_, _, _, err = f.api.UpdateMessage(channel, ts, slack.MsgOptionText("edited", false))
	require.NoError(t, err)
	m, ok := f.s.Message(channel, ts)
	require.True(t, ok)
	assert.Equal(t, "edited", m.Text)

	var statuses []string
	for _, c := range f.s.Calls() {
		if c.Method == "chat.postMessage" || c.Method == "chat.update" {
			statuses = append(statuses, c.Method+" "+http.StatusText(c.Status))
		}
	}
	assert.Equal(t, []string{"chat.postMessage Too Many Requests", "chat.postMessage OK", "chat.update Service Unavailable",
		"chat.update Service Unavailable", "chat.postMessage OK", "chat.update OK"}, statuses)
}

// An envelope comes again with the same ID and retry_attempt one higher, and each
// delivery's acknowledgement is recorded.
func TestARedeliveryKeepsItsEnvelopeID(t *testing.T) {
	f := start(t, nil)
	id, err := f.s.SlashCommand(bob, channel, "status")
	require.NoError(t, err)
	first := f.next(t)
	assert.Equal(t, id, first.Request.EnvelopeID)
	assert.Zero(t, first.Request.RetryAttempt)
	cmd, ok := first.Data.(slack.SlashCommand)
	require.True(t, ok, "a command arrives as a slash command, got %T", first.Data)
	assert.Equal(t, "/cutover", cmd.Command)
	assert.Equal(t, "status", cmd.Text)
	assert.Equal(t, bob, cmd.UserID)

	require.NoError(t, f.s.Redeliver(id))
	again := f.next(t)
	assert.Equal(t, id, again.Request.EnvelopeID)
	assert.Equal(t, 1, again.Request.RetryAttempt)
	wait(t, f.s, "two acks", func() bool { return len(f.s.Acks()) == 2 })
	_, acked := f.s.AckFor(id)
	assert.True(t, acked)
	assert.Error(t, f.s.Redeliver("env-unknown"))
}

// A button the bot's edit removed cannot be clicked on the message as it is now.
func TestAButtonEditedAwayCannotBeClicked(t *testing.T) {
	f := start(t, nil)
	_, ts := f.prompt(t)
	_, err := f.s.Click(bob, channel, ts, "approve")
	assert.ErrorContains(t, err, `no button "approve"`)
	_, _, _, err = f.api.UpdateMessage(channel, ts, slack.MsgOptionText("decided", false), slack.MsgOptionBlocks())
	require.NoError(t, err)
	_, err = f.s.Click(bob, channel, ts, "reject")
	assert.ErrorContains(t, err, "it may have been edited away")
}

// After Slack's disconnect message or a dropped socket, the client connects again.
func TestTheClientComesBackAfterADisconnect(t *testing.T) {
	f := start(t, nil)
	opened := func() int {
		n := 0
		for _, c := range f.s.Calls() {
			if c.Method == "apps.connections.open" {
				n++
			}
		}
		return n
	}
	require.Equal(t, 1, opened())
	f.s.Disconnect()
	wait(t, f.s, "a second connection", func() bool { return opened() == 2 && f.s.Connected() })
	f.s.DropConnection()
	wait(t, f.s, "a third connection", func() bool { return opened() == 3 && f.s.Connected() })
	_, err := f.s.SlashCommand(bob, channel, "status")
	require.NoError(t, err)
	assert.Equal(t, "status", f.next(t).Data.(slack.SlashCommand).Text, "envelopes reach the new connection")
}

// The handler serves the same routes in-process, without the listener.
func TestHandlerServesTheAPIInProcess(t *testing.T) {
	s, err := slackfake.Start(slackfake.Options{BotToken: botToken, AppToken: appToken, Channels: map[string]string{channel: "meshdb"}})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	api := slack.New(botToken, slack.OptionAPIURL(s.APIURL()), slack.OptionHTTPClient(s.InProcessClient()))
	s.Close() // the listener is gone; the handler still answers
	_, ts, err := api.PostMessage(channel, slack.MsgOptionText("hello", false))
	require.NoError(t, err)
	m, ok := s.Message(channel, ts)
	require.True(t, ok)
	assert.Equal(t, "hello", m.Text)
}
