package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/bot/blockkit"
	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/schedule"
	"github.com/nycmeshnet/cutoverbot/ops/store"
)

// posted is one message as the in-memory poster saw it.
type posted struct {
	TS, Channel, Thread, User string
	Kind                      string // post, update, ephemeral, respond, upload
	Msg                       message.Message
}

// memPoster records messages; it is the unit-test stand-in for Slack.
type memPoster struct {
	mu     sync.Mutex
	n      int
	log    []posted
	msgs   map[string]*posted
	modals map[string]message.Modal
}

func newMemPoster() *memPoster { return &memPoster{msgs: map[string]*posted{}} }

func (p *memPoster) add(x posted) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	x.TS = fmt.Sprintf("1732478400.%06d", p.n)
	p.log = append(p.log, x)
	if x.Kind == "post" {
		c := x
		p.msgs[x.TS] = &c
	}
	return x.TS
}

func (p *memPoster) Post(_ context.Context, ch, thread string, m message.Message) (string, error) {
	return p.add(posted{Channel: ch, Thread: thread, Kind: "post", Msg: m}), nil
}

func (p *memPoster) Update(_ context.Context, ch, ts string, m message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	x, ok := p.msgs[ts]
	if !ok {
		return fmt.Errorf("message_not_found")
	}
	x.Msg = m
	p.log = append(p.log, posted{TS: ts, Channel: ch, Kind: "update", Msg: m})
	return nil
}

func (p *memPoster) Ephemeral(_ context.Context, ch, thread, user string, m message.Message) error {
	p.add(posted{Channel: ch, Thread: thread, User: user, Kind: "ephemeral", Msg: m})
	return nil
}

// OpenModal records the modal under its trigger; a test submits it with submit.
func (p *memPoster) OpenModal(_ context.Context, trigger string, m message.Modal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.modals == nil {
		p.modals = map[string]message.Modal{}
	}
	p.modals[trigger] = m
	return nil
}

func (p *memPoster) PublishHome(_ context.Context, user string, m message.Message) error {
	p.add(posted{User: user, Kind: "home", Msg: m})
	return nil
}

func (p *memPoster) DirectMessage(_ context.Context, user string, m message.Message) error {
	p.add(posted{User: user, Kind: "dm", Msg: m})
	return nil
}

func (p *memPoster) modal(t *testing.T, trigger string) message.Modal {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.modals[trigger]
	require.True(t, ok, "no modal opened with trigger %s", trigger)
	return m
}

func (p *memPoster) Respond(_ context.Context, url string, m message.Message) error {
	p.add(posted{User: url, Kind: "respond", Msg: m})
	return nil
}

func (p *memPoster) Upload(_ context.Context, ch, thread, name, title string, content []byte) error {
	p.add(posted{Channel: ch, Thread: thread, Kind: "upload", Msg: message.Message{Text: name + ": " + string(content)}})
	return nil
}

func (p *memPoster) private(user string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, x := range p.log {
		if (x.Kind == "ephemeral" || x.Kind == "respond") && x.User == user {
			out = append(out, x.Msg.Text+" "+strings.Join(x.Msg.Sections, " "))
		}
	}
	return out
}

// last is the newest private answer to user (or sent to a response_url named so).
func (p *memPoster) last(t *testing.T, user string) posted {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.log) - 1; i >= 0; i-- {
		if x := p.log[i]; (x.Kind == "ephemeral" || x.Kind == "respond") && x.User == user {
			return x
		}
	}
	t.Fatalf("no private message to %s", user)
	return posted{}
}

func (p *memPoster) lastPrivate(t *testing.T, user string) string {
	t.Helper()
	all := p.private(user)
	require.NotEmpty(t, all, "no private message to %s", user)
	return all[len(all)-1]
}

// top returns the top-level messages, in order.
func (p *memPoster) top() []posted {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []posted
	for _, x := range p.log {
		if x.Kind == "post" && x.Thread == "" {
			out = append(out, *p.msgs[x.TS])
		}
	}
	return out
}

// newestWithButton finds the newest message whose buttons include label.
func (p *memPoster) newestWithButton(label string) (posted, message.Button, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.log) - 1; i >= 0; i-- {
		x := p.msgs[p.log[i].TS]
		if x == nil || p.log[i].Kind != "post" {
			continue
		}
		for _, b := range x.Msg.Buttons {
			if b.Label == label {
				return *x, b, true
			}
		}
	}
	return posted{}, message.Button{}, false
}

// okExec succeeds at every step; announce steps go through the real announcer.
type okExec struct{ announce handlers.Announcer }

func (e *okExec) Execute(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	if x.Step.Kind == plan.KindAnnounce {
		return e.announce.Announce(ctx, x)
	}
	return engine.Output{Summary: x.Step.ID + " ok", Values: map[string]string{"previous_replicas": "1"}}, nil
}

type fixture struct {
	h        *handlers.Handler
	eng      *engine.Engine
	poster   *memPoster
	ch       string
	triggers int
}

func newFixture(t *testing.T) *fixture { return newFixtureWith(t, fixtureOptions{}) }

// fixtureOptions change the fixture's configuration, clock, group members and executor;
// scheduleClock, when set, gives the handler a scheduler (on a store of its own) with
// that clock.
type fixtureOptions struct {
	config        func(*config.Config)
	clock         func() time.Time
	members       handlers.GroupMembers
	exec          func(announce handlers.Announcer) engine.Executor
	scheduleClock func() time.Time
}

func newFixtureWith(t *testing.T, o fixtureOptions) *fixture {
	cfg := loadConfig(t)
	cfg.Slack.ApprovalTimeout.Duration = time.Hour
	if o.config != nil {
		o.config(cfg)
	}
	if o.clock == nil {
		o.clock = time.Now
	}
	st, err := store.Open(t.TempDir())
	require.NoError(t, err)
	p := newMemPoster()
	policy := handlers.NewMaintainers(cfg.Slack.Maintainers, o.members, time.Minute, o.clock)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	announce := handlers.Announcer{Poster: p, Channel: cfg.Slack.Channel}
	var exec engine.Executor = &okExec{announce}
	if o.exec != nil {
		exec = o.exec(announce)
	}
	// As in the server, the engine's events reach the handler made after it through a
	// value made first: the fixture.
	f := &fixture{poster: p, ch: cfg.Slack.Channel}
	f.eng = engine.New(engine.Options{Store: st, Executor: exec, Policy: policy, Logger: log, Clock: o.clock,
		Build:             func(o, d string) (plan.Plan, error) { return plan.Build(cfg, o, d) },
		ApprovalsRequired: cfg.Slack.ApprovalsRequired, ApprovalTimeout: cfg.Slack.ApprovalTimeout.Duration,
		ReminderEvery: cfg.Slack.ReminderEvery.Duration,
		Observer:      func(ctx context.Context, ev engine.Event) { f.h.Observe(ctx, ev) }})
	t.Cleanup(func() { _ = f.eng.Close(context.Background()); _ = st.Close() })
	var scheduler handlers.Scheduler
	if o.scheduleClock != nil {
		kv, err := store.Open(t.TempDir())
		require.NoError(t, err)
		t.Cleanup(func() { _ = kv.Close() })
		scheduler = schedule.New(kv, handlers.ScheduleHooks(cfg, p, f.eng, log, nil), o.scheduleClock, log)
	}
	f.h = handlers.New(handlers.Options{Config: cfg, Engine: f.eng, Store: st, Scheduler: scheduler, Poster: p, Policy: policy, Logger: log, Clock: o.clock,
		WorkspaceURL: func() string { return "https://nycmesh.slack.com/" }, Version: "cutoverbot v9.9.9 (abcdef012345)"})
	return f
}

func (f *fixture) cmd(user, text string) {
	f.h.HandleCommand(context.Background(), handlers.Command{UserID: user, ChannelID: f.ch, Text: text, ResponseURL: user})
	f.settle()
}

func (f *fixture) settle() {
	f.eng.Wait()
	f.eng.WaitEvents()
}

func (f *fixture) click(t *testing.T, user, label string) {
	t.Helper()
	m, b, ok := f.poster.newestWithButton(label)
	require.True(t, ok, "no %s button", label)
	f.h.HandleClick(context.Background(), handlers.Click{UserID: user, ChannelID: f.ch, MessageTS: m.TS, ActionID: b.ActionID, Value: b.Value, ResponseURL: user})
	f.settle()
}

func TestEveryRefusalIsPrivateAndChangesNothing(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		user, channel, text, want string
	}{
		{"U01ALICE", "C999OTHER", "start prod2 prod1", "cutovers are run from <#C0123MESHDB> only"},
		{"U01ALICE", "", "start prod2 prod9", `unknown cluster "prod9"`},
		{"U01ALICE", "", "start prod1 prod1", `both "prod1"`},
		{"U01ALICE", "", "start prod1", "usage: `/cutover start ORIGIN DEST`"},
		{"U09EVE", "", "start prod2 prod1", "only MeshDB maintainers"},
		{"U01ALICE", "", "abort", "no cutover is running"},
		{"U01ALICE", "", "skip", "no cutover is running"},
		{"U01ALICE", "", "frobnicate", "I don't know `frobnicate`"},
	}
	for _, tc := range cases {
		ch := tc.channel
		if ch == "" {
			ch = f.ch
		}
		f.h.HandleCommand(context.Background(), handlers.Command{UserID: tc.user, ChannelID: ch, Text: tc.text, ResponseURL: tc.user})
		assert.Contains(t, f.poster.lastPrivate(t, tc.user), tc.want, tc.text)
	}
	assert.Nil(t, f.eng.Active())
	assert.Empty(t, f.poster.top(), "nothing was posted in the channel")

	f.cmd("U01ALICE", "start prod2 prod1")
	f.cmd("U02BOB", "start prod1 prod2")
	assert.Contains(t, f.poster.lastPrivate(t, "U02BOB"), "started by <@U01ALICE>", "a run already active names its holder")
}

func TestApprovalFlowInTheThread(t *testing.T) {
	f := newFixture(t)
	f.cmd("U01ALICE", "start prod2 prod1")
	r := f.eng.Active()
	require.NotNil(t, r)
	top := f.poster.top()
	require.Len(t, top, 1, "one header message")
	assert.Contains(t, top[0].Msg.Header, "MeshDB cutover prod2 → prod1")
	header := top[0].TS
	assert.Equal(t, header, f.eng.Active().Note("header"))

	// The initiator's click is refused privately; nothing runs.
	f.click(t, "U01ALICE", "Approve")
	assert.Contains(t, f.poster.lastPrivate(t, "U01ALICE"), "you started this run")
	assert.Equal(t, 1, f.eng.Active().Current)

	// A non-maintainer's click is refused.
	f.click(t, "U09EVE", "Approve")
	assert.Contains(t, f.poster.lastPrivate(t, "U09EVE"), "only MeshDB maintainers")

	// Bob approves step 2: the prompt is edited in place, buttons gone, "Approved by".
	prompt, _, _ := f.poster.newestWithButton("Approve")
	assert.Equal(t, header, prompt.Thread, "prompts go in the run's thread")
	f.click(t, "U02BOB", "Approve")
	edited := f.poster.msgs[prompt.TS].Msg
	assert.Empty(t, edited.Buttons)
	assert.Contains(t, strings.Join(edited.Sections, " "), "Approved by <@U02BOB>")
	assert.Equal(t, 2, f.eng.Active().Current)

	// The stale button (same prompt) is refused with the reason.
	f.h.HandleClick(context.Background(), handlers.Click{UserID: "U03CAROL", ChannelID: f.ch, ActionID: "approve", Value: handlers.ButtonValue(r.ID, 1, 1)})
	assert.Contains(t, f.poster.lastPrivate(t, "U03CAROL"), "no longer waiting")

	// Run the rest; the announcement goes top-level.
	for f.eng.Active() != nil {
		f.click(t, "U03CAROL", "Approve")
	}
	top = f.poster.top()
	var texts []string
	for _, m := range top {
		texts = append(texts, m.Msg.Text)
	}
	require.Len(t, top, 3, "the header and two announcements: %v", texts)
	assert.Contains(t, top[0].Msg.Text, "(completed)", "the header shows the end")
	assert.True(t, strings.HasPrefix(top[1].Msg.Text, "Hey all, we're going to do some work on MeshDB"))
	assert.True(t, strings.HasPrefix(top[2].Msg.Text, "Okay things should be back to normal now"))
	f.cmd("U02BOB", "status")
	assert.Contains(t, f.poster.lastPrivate(t, "U02BOB"), "No cutover is running")
}

func TestStatusSaysWhoItWaitsFor(t *testing.T) {
	f := newFixture(t)
	f.cmd("U01ALICE", "start prod2 prod1")
	f.cmd("U03CAROL", "status")
	got := f.poster.lastPrivate(t, "U03CAROL")
	assert.Contains(t, got, "step 2 of 18")
	assert.Contains(t, got, "awaiting approval")
}

func TestTheSkipCommandNamesItsStep(t *testing.T) {
	f := newFixture(t)
	f.cmd("U01ALICE", "start prod2 prod1")
	for _, tc := range []struct{ text, want string }{
		{"skip celery already scaled down by hand", "name the step and say why: `/cutover skip STEP REASON`"},
		{"skip 2", "skipping needs a reason: `/cutover skip 2 REASON`"},
		{"skip 5 celery already scaled down", "step 5 is not the one waiting: the run is at step 2"},
		{"abort 7 wrong step", "step 7 is not the one waiting"},
	} {
		f.cmd("U02BOB", tc.text)
		assert.Contains(t, f.poster.lastPrivate(t, "U02BOB"), tc.want, tc.text)
		assert.Equal(t, engine.Awaiting, f.eng.Active().Steps[1].State, "%q changed nothing", tc.text)
	}
	f.cmd("U02BOB", "skip 2 celery already scaled down by hand")
	r := f.eng.Active()
	assert.Equal(t, engine.Skipped, r.Steps[1].State)
	assert.Equal(t, "celery already scaled down by hand", r.Steps[1].Reason)
}

// click sends a click with a trigger and returns the trigger.
func (f *fixture) clickWithTrigger(t *testing.T, user, label string) string {
	t.Helper()
	m, b, ok := f.poster.newestWithButton(label)
	require.True(t, ok, "no %s button", label)
	f.triggers++
	trigger := fmt.Sprintf("trigger-%d", f.triggers)
	f.h.HandleClick(context.Background(), handlers.Click{UserID: user, ChannelID: f.ch, MessageTS: m.TS, ThreadTS: m.Thread, ActionID: b.ActionID,
		Value: b.Value, ResponseURL: "url-" + user, TriggerID: trigger})
	f.settle()
	return trigger
}

func (f *fixture) submit(user string, m message.Modal, reason string) {
	f.h.HandleSubmission(context.Background(), handlers.Submission{UserID: user, CallbackID: m.CallbackID, Metadata: m.Metadata,
		Values: map[string]string{handlers.InputReason: reason}})
	f.settle()
}

func TestRejectSkipAndAbortAskForTheReasonInAModal(t *testing.T) {
	f := newFixture(t)
	f.cmd("U01ALICE", "start prod2 prod1")

	// Reject opens a modal; the click alone decides nothing.
	reject := f.poster.modal(t, f.clickWithTrigger(t, "U02BOB", "Reject"))
	assert.Equal(t, "Reject step 2", reject.Title)
	assert.Equal(t, engine.Awaiting, f.eng.Active().Steps[1].State)
	var meta handlers.DecisionMeta
	require.NoError(t, json.Unmarshal([]byte(reject.Metadata), &meta))
	assert.Equal(t, handlers.DecisionMeta{Action: engine.Reject, RunID: f.eng.Active().ID, Step: 1, Attempt: 1, Channel: f.ch,
		Thread: f.eng.Active().Note("header"), ResponseURL: "url-U02BOB"}, meta)

	// Bob approves meanwhile (another client); the reject submitted later is refused,
	// in the thread of the click, and changes nothing.
	f.click(t, "U02BOB", "Approve")
	f.submit("U02BOB", reject, "wrong <!channel> & cluster")
	assert.Contains(t, f.poster.lastPrivate(t, "url-U02BOB"), "no longer waiting; the run is at step 3")
	assert.Equal(t, engine.Active, f.eng.Active().State)
	text, blocks := blockkit.Render(f.poster.last(t, "url-U02BOB").Msg)
	golden(t, "refusal-moved-on", map[string]any{"text": text, "blocks": blocks})

	// The initiator may not skip: told at once, no modal to fill in.
	trigger := f.clickWithTrigger(t, "U01ALICE", "Reject")
	f.poster.modal(t, trigger) // rejecting is open to the initiator
	f.h.HandleClick(context.Background(), handlers.Click{UserID: "U01ALICE", ChannelID: f.ch, ActionID: handlers.ActSkip,
		Value: handlers.ButtonValue(f.eng.Active().ID, 2, 1), ResponseURL: "url-U01ALICE", TriggerID: "trigger-alice-skip"})
	assert.Contains(t, f.poster.lastPrivate(t, "url-U01ALICE"), "another maintainer must decide to skip")
	assert.NotContains(t, f.poster.modals, "trigger-alice-skip")

	// Carol skips step 3 with a reason; the reason is cleaned and recorded.
	skip := f.poster.modal(t, f.clickSkipOf(t, "U03CAROL", 2))
	assert.Equal(t, "Skip step 3", skip.Title)
	f.submit("U03CAROL", skip, "  maintenance already on <@U01ALICE>  ")
	r := f.eng.Active()
	assert.Equal(t, engine.Skipped, r.Steps[2].State)
	assert.Equal(t, "maintenance already on &lt;@U01ALICE&gt;", r.Steps[2].Reason, "nothing typed becomes a mention")

	// Abort through its modal ends in a rollback plan.
	abort := f.poster.modal(t, f.clickSkipOf(t, "U03CAROL", 3, handlers.ActAbort))
	assert.Equal(t, "Abort the run", abort.Title)
	f.submit("U03CAROL", abort, "found a problem")
	r = f.eng.Active()
	require.NotNil(t, r, "step 2 changed something, so a rollback follows")
	assert.True(t, r.InRollback())
	last := r.Decisions[len(r.Decisions)-1]
	assert.Equal(t, engine.Decision{Step: 3, StepID: last.StepID, Attempt: 1, User: "U03CAROL", Action: engine.Abort, Reason: "found a problem", At: last.At}, last)
}

// clickSkipOf clicks the Skip (or another) button of step i's current attempt, as a
// failure message would carry it, and returns the trigger.
func (f *fixture) clickSkipOf(t *testing.T, user string, i int, action ...string) string {
	t.Helper()
	a := handlers.ActSkip
	if len(action) > 0 {
		a = action[0]
	}
	r := f.eng.Active()
	require.Equal(t, i, r.Current)
	f.triggers++
	trigger := fmt.Sprintf("trigger-%d", f.triggers)
	f.h.HandleClick(context.Background(), handlers.Click{UserID: user, ChannelID: f.ch, ThreadTS: r.Note("header"), ActionID: a,
		Value: handlers.ButtonValue(r.ID, i, r.Steps[i].Attempt), ResponseURL: "url-" + user, TriggerID: trigger})
	f.settle()
	return trigger
}

func TestUsergroupMembersAreMaintainers(t *testing.T) {
	calls := 0
	now := time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)
	cfg := loadConfig(t)
	cfg.Slack.Maintainers.Usergroup = "S0MESHDB"
	m := handlers.NewMaintainers(cfg.Slack.Maintainers, func(_ context.Context, g string) ([]string, error) {
		calls++
		assert.Equal(t, "S0MESHDB", g)
		return []string{"U07DAVE"}, nil
	}, time.Minute, func() time.Time { return now })
	ok, err := m.IsMaintainer(context.Background(), "U07DAVE")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, _ = m.IsMaintainer(context.Background(), "U09EVE")
	assert.False(t, ok)
	ok, _ = m.IsMaintainer(context.Background(), "U01ALICE")
	assert.True(t, ok, "configured users need no lookup")
	assert.Equal(t, 1, calls, "cached within the TTL")
	now = now.Add(2 * time.Minute)
	_, _ = m.IsMaintainer(context.Background(), "U07DAVE")
	assert.Equal(t, 2, calls, "looked up again after the TTL")
}

func TestScheduleCommands(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{scheduleClock: func() time.Time { return time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC) }})

	f.cmd("U09EVE", "schedule prod2 prod1 2026-12-01 02:00")
	assert.Contains(t, f.poster.lastPrivate(t, "U09EVE"), "only MeshDB maintainers")
	f.cmd("U01ALICE", "schedule prod2 prod1 next tuesday")
	assert.Contains(t, f.poster.lastPrivate(t, "U01ALICE"), "is not a time")
	f.cmd("U01ALICE", "schedule prod2 prod1 2026-12-01 02:00")
	got := f.poster.lastPrivate(t, "U01ALICE")
	assert.Contains(t, got, "prod2 → prod1 at <!date^1796108400^{date_short_pretty} {time}|Tue 2026-12-01 02:00 EST>", "each reader sees the time in their zone")
	f.cmd("U02BOB", "schedule")
	list := f.poster.lastPrivate(t, "U02BOB")
	assert.Contains(t, list, "prod2 → prod1 at <!date^1796108400^{date_short_pretty} {time}|Tue 2026-12-01 02:00 EST> by <@U01ALICE> (planned)")
	id := strings.Fields(strings.SplitN(list, "`", 3)[1])[0]
	f.cmd("U02BOB", "unschedule "+id)
	assert.Contains(t, f.poster.lastPrivate(t, "U02BOB"), "Removed schedule "+id)
	f.cmd("U02BOB", "schedule")
	assert.Contains(t, f.poster.lastPrivate(t, "U02BOB"), "No cutover is scheduled")
}

// A command is one line of words: a line break, a tab or any other control character
// could make it read differently from what it does (`start prod2⏎prod1` looks like a
// command with one cluster), so it is refused and nothing starts.
func TestCommandsWithLineBreaksTabsOrControlsAreRefused(t *testing.T) {
	f := newFixture(t)
	cases := []struct{ name, text, want string }{
		{"newline between the clusters", "start prod2\nprod1", "line break (U+000A)"},
		{"trailing newline", "start prod2 prod1\n", "line break (U+000A)"},
		{"carriage return", "start prod2\rprod1", "line break (U+000D)"},
		{"CRLF", "start prod2\r\nprod1", "line break (U+000D)"},
		{"tab", "start prod2\tprod1", "tab (U+0009)"},
		{"vertical tab", "start prod2\vprod1", "line break (U+000B)"},
		{"form feed", "start prod2\fprod1", "line break (U+000C)"},
		{"next line", "start prod2\u0085prod1", "line break (U+0085)"},
		{"line separator", "start prod2\u2028prod1", "line break (U+2028)"},
		{"paragraph separator", "start prod2\u2029prod1", "line break (U+2029)"},
		{"escape", "start prod2\x1bprod1", "control character (U+001B)"},
		{"newline in a skip reason", "skip 1 looked fine\nto me", "line break (U+000A)"},
	}
	for _, tc := range cases {
		before := len(f.poster.private("U01ALICE"))
		f.cmd("U01ALICE", tc.text)
		got := f.poster.private("U01ALICE")
		require.Len(t, got, before+1, "%s: one private answer", tc.name)
		assert.Contains(t, got[before], tc.want, tc.name)
		assert.Contains(t, got[before], "Nothing was done", tc.name)
		assert.True(t, f.eng.Active() == nil, "%s: no run started", tc.name)
	}
	assert.Empty(t, f.poster.top(), "nothing was posted in the channel")
	f.cmd("U01ALICE", "start prod2 prod1")
	assert.NotNil(t, f.eng.Active(), "the same command on one line starts the run")
}
