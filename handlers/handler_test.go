package handlers_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/handlers"
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
	mu   sync.Mutex
	n    int
	log  []posted
	msgs map[string]*posted
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

func (p *memPoster) Ephemeral(_ context.Context, ch, user string, m message.Message) error {
	p.add(posted{Channel: ch, User: user, Kind: "ephemeral", Msg: m})
	return nil
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
type okExec struct{ h *handlers.Handler }

func (e *okExec) Execute(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	if x.Step.Kind == plan.KindAnnounce {
		return e.h.Announce(ctx, x)
	}
	return engine.Output{Summary: x.Step.ID + " ok", Values: map[string]string{"previous_replicas": "1"}}, nil
}

type fixture struct {
	h      *handlers.Handler
	eng    *engine.Engine
	poster *memPoster
	ch     string
}

func newFixture(t *testing.T) *fixture {
	cfg := loadConfig(t)
	st, err := store.Open(t.TempDir())
	require.NoError(t, err)
	p := newMemPoster()
	policy := handlers.NewMaintainers(cfg.Slack.Maintainers, nil, time.Minute, nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := handlers.New(handlers.Options{Config: cfg, Store: st, Poster: p, Policy: policy, Logger: log, Version: "cutoverbot v9.9.9 (abcdef012345)"})
	eng := engine.New(engine.Options{Store: st, Executor: &okExec{h}, Policy: policy, Logger: log,
		Build:             func(o, d string) (plan.Plan, error) { return plan.Build(cfg, o, d) },
		ApprovalsRequired: 1, ApprovalTimeout: time.Hour, Observer: h.Observe})
	h.SetEngine(eng)
	t.Cleanup(func() { _ = eng.Close(context.Background()); _ = st.Close() })
	return &fixture{h: h, eng: eng, poster: p, ch: cfg.Slack.Channel}
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
		{"U01ALICE", "", "skip", "needs a reason"},
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

func TestSkipButtonAsksForAReasonAndTheCommandSkips(t *testing.T) {
	f := newFixture(t)
	f.cmd("U01ALICE", "start prod2 prod1")
	r := f.eng.Active()
	f.h.HandleClick(context.Background(), handlers.Click{UserID: "U02BOB", ChannelID: f.ch, ActionID: "skip", Value: handlers.ButtonValue(r.ID, 1, 1), ResponseURL: "U02BOB"})
	assert.Contains(t, f.poster.lastPrivate(t, "U02BOB"), "/cutover skip <reason>")
	assert.Equal(t, 1, f.eng.Active().Current, "the click alone skips nothing")
	f.cmd("U02BOB", "skip celery already scaled down by hand")
	r = f.eng.Active()
	assert.Equal(t, engine.Skipped, r.Steps[1].State)
	assert.Equal(t, "celery already scaled down by hand", r.Steps[1].Reason)
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
	f := newFixture(t)
	st, err := store.Open(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	hooks := f.h.ScheduleHooks()
	f.h.SetScheduler(schedule.New(st, hooks, func() time.Time { return time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC) }, nil))

	f.cmd("U09EVE", "schedule prod2 prod1 2026-12-01 02:00")
	assert.Contains(t, f.poster.lastPrivate(t, "U09EVE"), "only MeshDB maintainers")
	f.cmd("U01ALICE", "schedule prod2 prod1 next tuesday")
	assert.Contains(t, f.poster.lastPrivate(t, "U01ALICE"), "is not a time")
	f.cmd("U01ALICE", "schedule prod2 prod1 2026-12-01 02:00")
	got := f.poster.lastPrivate(t, "U01ALICE")
	assert.Contains(t, got, "prod2 → prod1 at Tue 2026-12-01 02:00 EST")
	f.cmd("U02BOB", "schedule")
	list := f.poster.lastPrivate(t, "U02BOB")
	assert.Contains(t, list, "prod2 → prod1 at Tue 2026-12-01 02:00 EST by <@U01ALICE> (planned)")
	id := strings.Fields(strings.SplitN(list, "`", 3)[1])[0]
	f.cmd("U02BOB", "unschedule "+id)
	assert.Contains(t, f.poster.lastPrivate(t, "U02BOB"), "Removed schedule "+id)
	f.cmd("U02BOB", "schedule")
	assert.Contains(t, f.poster.lastPrivate(t, "U02BOB"), "No cutover is scheduled")
}
