package handlers_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// asks returns the messages posted (as first posted, not as edited) that ask for a
// decision: prompts and failures.
func (p *memPoster) asks() []posted {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []posted
	for _, x := range p.log {
		if x.Kind != "post" {
			continue
		}
		for _, b := range x.Msg.Buttons {
			if b.Label == "Approve" || b.Label == "Retry" {
				out = append(out, x)
				break
			}
		}
	}
	return out
}

func (p *memPoster) kinds(kind string) []posted {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []posted
	for _, x := range p.log {
		if x.Kind == kind {
			out = append(out, x)
		}
	}
	return out
}

func all(m posted) string {
	return m.Msg.Text + "\n" + strings.Join(m.Msg.Sections, "\n") + "\n" + strings.Join(m.Msg.Context, "\n")
}

func TestPromptsNameTheApproversNeverTheInitiatorAndTheFirstIsBroadcast(t *testing.T) {
	f := newFixture(t)
	f.cmd("U01ALICE", "start prod2 prod1")
	f.click(t, "U02BOB", "Approve")
	asks := f.poster.asks()
	require.Len(t, asks, 2)
	for i, m := range asks {
		assert.Contains(t, m.Msg.Text, "<@U02BOB> <@U03CAROL>", "prompt %d names the approvers where notifications read", i)
		assert.NotContains(t, all(m), "<@U01ALICE>", "prompt %d never mentions the initiator", i)
		assert.Equal(t, f.eng.Active().Note("header"), m.Thread, "prompts go in the run's thread")
	}
	assert.True(t, asks[0].Msg.Broadcast, "the run's first prompt is shown in the channel too")
	assert.False(t, asks[1].Msg.Broadcast, "later prompts stay in the thread")
}

func TestNotifyModes(t *testing.T) {
	for _, tc := range []struct {
		name               string
		notify             config.Notify
		mention, broadcast bool
		dms                []string
	}{
		{"mention only", config.Notify{config.NotifyMention}, true, false, nil},
		{"broadcast only", config.Notify{config.NotifyBroadcast}, false, true, nil},
		{"dm", config.Notify{config.NotifyDM}, false, false, []string{"U02BOB", "U03CAROL", "U07DAVE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureWith(t, fixtureOptions{
				config: func(c *config.Config) { c.Slack.Notify = tc.notify; c.Slack.Maintainers.Usergroup = "S0MESHDB" },
				members: func(context.Context, string) ([]string, error) {
					return []string{"U01ALICE", "U07DAVE"}, nil // the initiator is in the group too
				}})
			f.cmd("U01ALICE", "start prod2 prod1")
			asks := f.poster.asks()
			require.Len(t, asks, 1)
			assert.Equal(t, tc.mention, strings.Contains(asks[0].Msg.Text, "<!subteam^S0MESHDB> <@U02BOB> <@U03CAROL>"))
			assert.Equal(t, tc.broadcast, asks[0].Msg.Broadcast)
			var to []string
			for _, d := range f.poster.kinds("dm") {
				to = append(to, d.User)
				assert.Contains(t, d.Msg.Text, "Step 2: Scale destination celery to 0 waits for you to approve or reject it")
				assert.Contains(t, d.Msg.Text, "https://nycmesh.slack.com/archives/C0123MESHDB/p", "a DM links to the prompt")
			}
			assert.Equal(t, tc.dms, to, "each approver but the initiator gets a direct message")
		})
	}
}

// clock is a settable time for expiry and reminders.
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

func TestAPromptWaitingPastHalfItsExpiryIsBroadcastOnce(t *testing.T) {
	c := &clock{t: t0}
	f := newFixtureWith(t, fixtureOptions{clock: c.now})
	f.cmd("U01ALICE", "start prod2 prod1")
	var broadcast []bool
	for i := 0; i < 3; i++ { // 15, 30 and 45 minutes of the hour
		c.advance(15 * time.Minute)
		require.NoError(t, f.eng.Tick(context.Background()))
		f.settle()
		reminders := f.poster.kinds("post")
		last := reminders[len(reminders)-1]
		require.Contains(t, last.Msg.Text, "⏰ Step 2")
		assert.Contains(t, last.Msg.Text, "<@U02BOB> <@U03CAROL>", "a reminder names the approvers")
		assert.NotContains(t, last.Msg.Text, "<@U01ALICE>")
		assert.Contains(t, last.Msg.Text, "It expires <!date^", "each reader sees the expiry in their own zone")
		broadcast = append(broadcast, last.Msg.Broadcast)
	}
	assert.Equal(t, []bool{false, true, false}, broadcast, "broadcast once, when half the hour has passed")
}

// diffExec fails (or passes) the snapshot step that diffs, as ops/steps reports it:
// the summary of counts and changes, the whole diff as details.
type diffExec struct {
	okExec
	fail bool
}

func (e *diffExec) Execute(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	if x.Step.Kind != plan.KindSnapshot || x.Step.Snapshot.DiffAgainst == "" {
		return e.okExec.Execute(ctx, x)
	}
	out := engine.Output{Summary: "nodes: 3 before, 3 after, 0 added, 0 removed, 1 changed\n• nodes 7: status \"Active\" → \"Inactive\"",
		Details: "== nodes: 3 before, 3 after\n~ 7\n    status: \"Active\" -> \"Inactive\"\n"}
	if e.fail {
		return out, errors.New("the post snapshot differs from the prior one")
	}
	out.Summary = "no difference: nodes 3 before, 3 after"
	out.Details = "== nodes: 3 before, 3 after\n"
	return out, nil
}

func TestTheWholeDiffIsUploadedWhetherTheStepFailsOrNot(t *testing.T) {
	for _, fail := range []bool{true, false} {
		f := newFixtureWith(t, fixtureOptions{exec: func(a handlers.Announcer) engine.Executor { return &diffExec{okExec: okExec{a}, fail: fail} }})
		f.cmd("U01ALICE", "start prod2 prod1")
		for f.eng.Active() != nil && f.eng.Active().Current < 11 {
			f.click(t, "U02BOB", "Approve")
		}
		require.Equal(t, 11, f.eng.Active().Current)
		f.click(t, "U02BOB", "Approve") // the post snapshot and diff
		uploads := f.poster.kinds("upload")
		require.Len(t, uploads, 1, "fail=%v", fail)
		assert.Contains(t, uploads[0].Msg.Text, "step-12-attempt-1-diff.txt: == nodes: 3 before, 3 after")
		if !fail {
			continue
		}
		asks := f.poster.asks()
		failure := asks[len(asks)-1]
		assert.Contains(t, failure.Msg.Text, "Step 12: Post snapshot and diff: the snapshots differ")
		body := strings.Join(failure.Msg.Sections, "\n")
		assert.Contains(t, body, "*nodes*: 3 before, 3 after, 0 added, 0 removed, 1 changed", "counts per endpoint")
		assert.Contains(t, body, `• nodes 7: status "Active" → "Inactive"`, "the first changes, field by field")
		assert.Contains(t, body, "The whole diff is in the file above")
	}
}

func TestTheHomeTabShowsTheRunAndLinksItsThread(t *testing.T) {
	f := newFixture(t)
	f.h.HandleHomeOpened(context.Background(), "U03CAROL")
	homes := f.poster.kinds("home")
	require.Len(t, homes, 1)
	assert.Contains(t, all(homes[0]), "no cutover is running")

	f.cmd("U01ALICE", "start prod2 prod1")
	f.h.HandleHomeOpened(context.Background(), "U03CAROL")
	homes = f.poster.kinds("home")
	got := all(homes[len(homes)-1])
	assert.Contains(t, got, "Step 2 of 18: Scale destination celery to 0 (awaiting approval)")
	header := strings.ReplaceAll(f.eng.Active().Note("header"), ".", "")
	assert.Contains(t, got, "<https://nycmesh.slack.com/archives/C0123MESHDB/p"+header+"|MeshDB cutover prod2 → prod1>")
}

// progressExec reports progress of the second step, as data.
type progressExec struct{ okExec }

func (e *progressExec) Execute(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	if x.Index == 1 {
		x.ProgressReport(report.Copying{Size: 13841203, Pod: "meshdb-postgres-0"})
	}
	return e.okExec.Execute(ctx, x)
}

// Progress a step reports as data is worded from the templates.
func TestProgressAsDataIsWorded(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{exec: func(a handlers.Announcer) engine.Executor { return &progressExec{okExec{a}} }})
	f.cmd("U01ALICE", "start prod2 prod1")
	f.click(t, "U02BOB", "Approve")
	var texts []string
	for _, kind := range []string{"post", "update"} {
		for _, p := range f.poster.kinds(kind) {
			if strings.HasPrefix(p.Msg.Text, "🔄 Step 2:") {
				texts = append(texts, p.Msg.Text)
			}
		}
	}
	assert.Contains(t, texts, "🔄 Step 2: Scale destination celery to 0 — copying 13.2 MiB into pod meshdb-postgres-0")
}
