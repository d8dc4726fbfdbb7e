package slackfake_test

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/bot/slackfake"
)

const (
	botToken = "xoxb-fake-test"
	appToken = "xapp-fake-test"
	channel  = "C0123MESHDB"
	private  = "C0PRIVATE"
	bob      = "U02BOB"
)

// clock is a settable time for trigger and response_url expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	s      *slackfake.Server
	api    *slack.Client
	clock  *clock
	events chan socketmode.Event
}

// start runs the fake with a real slack-go Web API client and a real Socket Mode
// client that acknowledges every envelope and hands it to the test.
func start(t *testing.T, mutate func(*slackfake.Options)) *fixture {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)}
	opts := slackfake.Options{BotToken: botToken, AppToken: appToken, Clock: c.now,
		Channels: map[string]string{channel: "meshdb", private: "secret"}, Private: []string{private},
		Users:  map[string]string{"U01ALICE": "alice", bob: "bob", "U03CAROL": "carol"},
		Groups: map[string][]string{"S0MAINT": {bob, "U03CAROL"}}}
	if mutate != nil {
		mutate(&opts)
	}
	s, err := slackfake.Start(opts)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	api := slack.New(botToken, slack.OptionAPIURL(s.APIURL()), slack.OptionAppLevelToken(appToken))
	f := &fixture{s: s, api: api, clock: c, events: make(chan socketmode.Event, 16)}
	sm := socketmode.New(api)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = sm.RunContext(ctx) }()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-sm.Events:
				if ev.Request == nil || ev.Request.EnvelopeID == "" {
					continue
				}
				_ = sm.AckCtx(ctx, ev.Request.EnvelopeID, nil)
				f.events <- ev
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	wait(t, s, "the Socket Mode connection", s.Connected)
	return f
}

func wait(t *testing.T, s *slackfake.Server, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, s.WaitFor(ctx, cond), "waiting for %s", what)
}

func (f *fixture) next(t *testing.T) socketmode.Event {
	t.Helper()
	select {
	case ev := <-f.events:
		return ev
	case <-time.After(15 * time.Second):
		t.Fatal("no envelope arrived")
	}
	return socketmode.Event{}
}

// prompt posts a thread reply with a Reject button and returns its thread and ts.
func (f *fixture) prompt(t *testing.T) (string, string) {
	t.Helper()
	_, parent, err := f.api.PostMessage(channel, slack.MsgOptionText("header", false))
	require.NoError(t, err)
	btn := slack.NewButtonBlockElement("reject", "run|8|1", slack.NewTextBlockObject(slack.PlainTextType, "Reject", false, false))
	_, ts, err := f.api.PostMessage(channel, slack.MsgOptionTS(parent), slack.MsgOptionText("prompt", false),
		slack.MsgOptionBlocks(slack.NewActionBlock("", btn)))
	require.NoError(t, err)
	return parent, ts
}

// click clicks Reject as bob and returns what the bot receives.
func (f *fixture) click(t *testing.T, ts string) slack.InteractionCallback {
	t.Helper()
	_, err := f.s.Click(bob, channel, ts, "reject")
	require.NoError(t, err)
	ev := f.next(t)
	cb, ok := ev.Data.(slack.InteractionCallback)
	require.True(t, ok, "a click arrives as an interaction, got %T", ev.Data)
	require.NotEmpty(t, cb.TriggerID)
	return cb
}

func reasonModal(title string) slack.ModalViewRequest {
	in := slack.NewPlainTextInputBlockElement(slack.NewTextBlockObject(slack.PlainTextType, "why", false, false), "reason")
	in.MinLength = 3
	return slack.ModalViewRequest{Type: slack.VTModal, Title: slack.NewTextBlockObject(slack.PlainTextType, title, false, false),
		Submit: slack.NewTextBlockObject(slack.PlainTextType, "Reject", false, false), CallbackID: "decide", PrivateMetadata: `{"run":"r"}`,
		Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewInputBlock("reason", slack.NewTextBlockObject(slack.PlainTextType, "Reason", false, false), nil, in)}}}
}

func TestATriggerOpensOneViewWithinThreeSeconds(t *testing.T) {
	f := start(t, nil)
	_, ts := f.prompt(t)
	cases := []struct {
		name  string
		after time.Duration
		twice bool
		want  string
	}{
		{"at once", 0, false, ""},
		{"2.9 seconds later", 2900 * time.Millisecond, false, ""},
		{"after 3 seconds", 3*time.Second + time.Millisecond, false, "expired_trigger_id"},
		{"a second time", 0, true, "exchanged_trigger_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cb := f.click(t, ts)
			f.clock.advance(tc.after)
			if tc.twice {
				_, err := f.api.OpenView(cb.TriggerID, reasonModal("Reject step 9"))
				require.NoError(t, err)
			}
			_, err := f.api.OpenView(cb.TriggerID, reasonModal("Reject step 9"))
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := f.api.OpenView("123.456.made-up", reasonModal("Reject step 9"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "invalid_trigger_id")
	assert.Len(t, f.s.Views(bob), 3, "only the views opened in time exist")
}

func TestViewsOpenRefusesWhatSlackRefuses(t *testing.T) {
	f := start(t, nil)
	_, ts := f.prompt(t)
	long := reasonModal("Reject step 9 of the cutover") // 28 characters
	noSubmit := reasonModal("Reject step 9")
	noSubmit.Submit = nil
	fat := reasonModal("Reject step 9")
	fat.PrivateMetadata = string(bytes.Repeat([]byte("x"), slackfake.MaxMetadata+1))
	for name, v := range map[string]slack.ModalViewRequest{"title over 24 characters": long, "inputs without submit": noSubmit, "metadata over 3000": fat} {
		t.Run(name, func(t *testing.T) {
			cb := f.click(t, ts)
			_, err := f.api.OpenView(cb.TriggerID, v)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "invalid_arguments")
		})
	}
	assert.Empty(t, f.s.Views(bob))
}

func TestSubmitSendsTheViewSubmissionAsSlackWould(t *testing.T) {
	f := start(t, nil)
	_, ts := f.prompt(t)
	cb := f.click(t, ts)
	resp, err := f.api.OpenView(cb.TriggerID, reasonModal("Reject step 9"))
	require.NoError(t, err)
	id := resp.View.ID

	_, err = f.s.Submit(bob, id, map[string]string{"reason": ""})
	assert.ErrorContains(t, err, "required field")
	_, err = f.s.Submit(bob, id, map[string]string{"reason": "no"})
	assert.ErrorContains(t, err, "at least 3 characters")
	_, err = f.s.Submit(bob, id, map[string]string{"reasn": "typo"})
	assert.ErrorContains(t, err, "no input")
	_, err = f.s.Submit("U01ALICE", id, map[string]string{"reason": "not hers"})
	assert.Error(t, err, "a modal is submitted by the person it opened for")

	_, err = f.s.Submit(bob, id, map[string]string{"reason": "the diff is not expected"})
	require.NoError(t, err)
	got, ok := f.next(t).Data.(slack.InteractionCallback)
	require.True(t, ok)
	assert.Equal(t, slack.InteractionTypeViewSubmission, got.Type)
	assert.Equal(t, bob, got.User.ID)
	assert.Equal(t, id, got.View.ID)
	assert.Equal(t, "decide", got.View.CallbackID)
	assert.Equal(t, `{"run":"r"}`, got.View.PrivateMetadata)
	require.NotNil(t, got.View.State)
	assert.Equal(t, "the diff is not expected", got.View.State.Values["reason"]["reason"].Value)
	assert.Empty(t, got.ResponseURL, "a view_submission carries no response_url")

	_, err = f.s.Submit(bob, id, map[string]string{"reason": "again"})
	assert.ErrorContains(t, err, "already submitted")
}

func TestAMethodNeedsItsScope(t *testing.T) {
	f := start(t, func(o *slackfake.Options) { o.Scopes = []string{"chat:write", "channels:read"} })
	_, _, err := f.api.PostMessage(channel, slack.MsgOptionText("hello", false))
	require.NoError(t, err, "chat:write is granted")
	cases := []struct {
		name string
		call func() error
		need string
	}{
		{"public channel info", func() error {
			_, err := f.api.GetConversationInfo(&slack.GetConversationInfoInput{ChannelID: channel})
			return err
		}, ""},
		{"private channel info", func() error {
			_, err := f.api.GetConversationInfo(&slack.GetConversationInfoInput{ChannelID: private})
			return err
		}, "groups:read"},
		{"user group members", func() error { _, err := f.api.GetUserGroupMembers("S0MAINT"); return err }, "usergroups:read"},
		{"open a DM", func() error {
			_, _, _, err := f.api.OpenConversation(&slack.OpenConversationParameters{Users: []string{bob}})
			return err
		}, "im:write"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if tc.need == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "missing_scope")
		})
	}
	calls := f.s.Calls()
	assert.Equal(t, "missing_scope", calls[len(calls)-1].Error, "the call is recorded with Slack's answer")
}

func TestAResponseURLTakesFiveRepliesInTheClicksThread(t *testing.T) {
	f := start(t, nil)
	parent, ts := f.prompt(t)
	cb := f.click(t, ts)
	reply := func(url string) int {
		resp, err := http.Post(url, "application/json", bytes.NewReader([]byte(`{"text":"refused","response_type":"ephemeral"}`)))
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 0; i < slackfake.ResponseURLUses; i++ {
		assert.Equal(t, http.StatusOK, reply(cb.ResponseURL), "reply %d", i+1)
	}
	assert.Equal(t, http.StatusNotFound, reply(cb.ResponseURL), "a sixth reply is refused")
	got := f.s.Ephemerals(bob)
	require.Len(t, got, 5)
	assert.Equal(t, parent, got[0].ThreadTS, "the reply is in the thread of the clicked message")

	later := f.click(t, ts)
	f.clock.advance(slackfake.ResponseURLLife + time.Second)
	assert.Equal(t, http.StatusNotFound, reply(later.ResponseURL), "after 30 minutes the URL has expired")
}

func TestBroadcastRepliesAndWhoIsNotified(t *testing.T) {
	f := start(t, func(o *slackfake.Options) { o.Outside = []string{"C0ELSE"}; o.Channels["C0ELSE"] = "else" })
	parent, _ := f.prompt(t)
	_, quiet, err := f.api.PostMessage(channel, slack.MsgOptionTS(parent), slack.MsgOptionText("for <!subteam^S0MAINT>", false))
	require.NoError(t, err)
	_, loud, err := f.api.PostMessage(channel, slack.MsgOptionTS(parent), slack.MsgOptionBroadcast(), slack.MsgOptionText("first prompt, <@U01ALICE>", false))
	require.NoError(t, err)
	_, _, _, err = f.api.UpdateMessage(channel, quiet, slack.MsgOptionText("edited for <@U01ALICE>", false))
	require.NoError(t, err)

	var seen []string
	for _, m := range f.s.Channel(channel) {
		seen = append(seen, m.TS)
	}
	assert.Equal(t, []string{parent, loud}, seen, "a broadcast reply shows in the channel, a plain reply does not")
	assert.Len(t, f.s.NotificationsOf("U03CAROL"), 1, "a user group mention notifies its members")
	assert.Len(t, f.s.NotificationsOf("U01ALICE"), 1, "a mention added by an edit notifies nobody")

	_, _, err = f.api.PostMessage("C0ELSE", slack.MsgOptionText("hello", false))
	assert.ErrorContains(t, err, "not_in_channel")
	info, err := f.api.GetConversationInfo(&slack.GetConversationInfoInput{ChannelID: "C0ELSE"})
	require.NoError(t, err)
	assert.False(t, info.IsMember)
}

func TestAppHomeOpenedAndPublished(t *testing.T) {
	f := start(t, nil)
	_, err := f.s.OpenHome(bob)
	require.NoError(t, err)
	ev := f.next(t)
	api, ok := ev.Data.(slackevents.EventsAPIEvent)
	require.True(t, ok, "got %T", ev.Data)
	opened, ok := api.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent)
	require.True(t, ok, "got %T", api.InnerEvent.Data)
	assert.Equal(t, bob, opened.User)
	assert.Equal(t, "home", opened.Tab)

	home := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "No cutover is running", false, false), nil, nil)}}}
	_, err = f.api.PublishView(bob, home, "")
	require.NoError(t, err)
	got, ok := f.s.Home(bob)
	require.True(t, ok)
	assert.Contains(t, slackfake.BlocksText(got), "No cutover is running")

	dm, _, _, err := f.api.OpenConversation(&slack.OpenConversationParameters{Users: []string{bob}})
	require.NoError(t, err)
	_, _, err = f.api.PostMessage(dm.ID, slack.MsgOptionText("your approval is needed", false))
	require.NoError(t, err)
	require.Len(t, f.s.DMs(bob), 1)
	assert.Len(t, f.s.NotificationsOf(bob), 1, "a DM notifies its reader")
}

// Slack refuses a whole message whose actions block has an action_id twice, or more
// than 25 elements.
func TestActionsBlockRefusedAsSlackRefusesIt(t *testing.T) {
	f := start(t, nil)
	button := func(id string) slack.BlockElement {
		return slack.NewButtonBlockElement(id, "v", slack.NewTextBlockObject(slack.PlainTextType, "B", false, false))
	}
	for _, tc := range []struct {
		name string
		ids  []string
		ok   bool
	}{
		{"distinct", []string{"retry", "override:a", "override:b"}, true},
		{"twice", []string{"retry", "override", "override"}, false},
		{"26", func() []string {
			var ids []string
			for i := range 26 {
				ids = append(ids, "b"+string(rune('a'+i)))
			}
			return ids
		}(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var els []slack.BlockElement
			for _, id := range tc.ids {
				els = append(els, button(id))
			}
			_, _, err := f.api.PostMessage(channel, slack.MsgOptionText("failed", false), slack.MsgOptionBlocks(slack.NewActionBlock("", els...)))
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, "invalid_blocks")
			}
		})
	}
}
