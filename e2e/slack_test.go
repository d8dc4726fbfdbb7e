package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/bot/slackfake"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/kube/kubefake"
	"github.com/nycmeshnet/cutoverbot/server"
)

// openModal clicks the newest button labelled label as user and returns the modal the
// bot opened for that click.
func (w *world) openModal(user, label string) slackfake.View {
	w.t.Helper()
	before := len(w.slack.Views(user))
	w.click(user, label)
	w.waitFor("the "+label+" modal", func() bool { return len(w.slack.Views(user)) > before })
	views := w.slack.Views(user)
	return views[len(views)-1]
}

// submit sends the modal with a reason, as user pressing its submit button.
func (w *world) submit(user string, v slackfake.View, reason string) {
	w.t.Helper()
	id, err := w.slack.Submit(user, v.ID, map[string]string{"reason": reason})
	require.NoError(w.t, err)
	w.waitFor("the submission to be acknowledged", func() bool { _, ok := w.slack.AckFor(id); return ok })
}

// waitStep waits until the run stands at step n (1-based) in state.
func (w *world) waitStep(n int, state engine.StepState) {
	w.t.Helper()
	w.waitFor(fmt.Sprintf("step %d %s", n, state), func() bool {
		r := w.srv.Engine.Active()
		return r != nil && r.Current == n-1 && r.Steps[n-1].State == state
	})
}

// asks are the messages in the run's thread, as posted, that ask for a decision.
func (w *world) asks() []slackfake.Message {
	var out []slackfake.Message
	for _, m := range w.slack.Thread(channel, w.header().TS) {
		if strings.HasPrefix(m.Text, "Approval needed") || strings.Contains(m.Text, "failed") {
			out = append(out, m)
		}
	}
	return out
}

func TestE2ERejectSkipAndAbortThroughModals(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 200})
	w.startBot(nil)
	w.command(alice, "start prod2 prod1")
	w.waitStep(2, engine.Awaiting)

	// The first prompt names the approvers, not the initiator, and shows in the channel.
	w.waitFor("the first prompt", func() bool { return len(w.asks()) == 1 })
	first := w.asks()[0]
	assert.Contains(t, first.Text, "<@U02BOB> <@U03CAROL>")
	assert.NotContains(t, slackfake.TextOf(first), "<@U01ALICE>")
	assert.True(t, first.Broadcast)
	var shown []string
	for _, m := range w.slack.Channel(channel) {
		shown = append(shown, m.TS)
	}
	assert.Contains(t, shown, first.TS, "the first prompt is in the channel, not only in the thread")
	assert.Contains(t, notified(w.slack, bob), first.TS)
	assert.Contains(t, notified(w.slack, carol), first.TS)
	assert.NotContains(t, notified(w.slack, alice), first.TS)

	// Bob opens Reject's modal; meanwhile Carol approves and step 2 runs. Bob's reject,
	// submitted after the step moved on, is refused in the thread and changes nothing.
	reject := w.openModal(bob, "Reject")
	assert.Equal(t, "Reject step 2", reject.Title)
	w.click(carol, "Approve")
	w.waitStep(3, engine.Awaiting)
	w.submit(bob, reject, "the destination is not ready")
	w.waitPrivate(bob, "no longer waiting")
	refusal := w.slack.Ephemerals(bob)[len(w.slack.Ephemerals(bob))-1]
	assert.True(t, refusal.ViaResponseURL, "through the click's response_url")
	assert.Equal(t, w.header().TS, refusal.ThreadTS, "in the thread of the clicked prompt")
	assert.Equal(t, engine.Awaiting, w.srv.Engine.Active().Steps[2].State)

	// Step 3 fails (exec is forbidden in prod1); Carol skips it through its modal.
	w.dest.Kube.Deny(kubefake.Permission{Verb: "create", Resource: "pods", Subresource: "exec"})
	w.click(bob, "Approve")
	w.waitStep(3, engine.Failed)
	w.waitFor("the failure message", func() bool { _, _, ok := w.button("Skip"); return ok })
	failure := w.asks()[len(w.asks())-1]
	assert.Contains(t, failure.Text, "<@U02BOB> <@U03CAROL>", "a failure names who can act")
	skip := w.openModal(carol, "Skip")
	assert.Equal(t, "Skip step 3", skip.Title)
	w.submit(carol, skip, "maintenance was turned on by hand")
	w.waitStep(4, engine.Awaiting)

	// A typed skip names its step: step 3 is no longer the one waiting.
	w.command(bob, "skip 3 again")
	w.waitPrivate(bob, "step 3 is not the one waiting")

	// Step 4 announces; step 5 fails (scaling is forbidden in prod2); Carol aborts.
	w.click(bob, "Approve")
	w.waitStep(5, engine.Awaiting)
	w.origin.Kube.Deny(kubefake.Permission{Verb: "patch", Group: "apps", Resource: "statefulsets", Subresource: "scale"})
	w.origin.Kube.Deny(kubefake.Permission{Verb: "update", Group: "apps", Resource: "statefulsets", Subresource: "scale"})
	w.click(bob, "Approve")
	w.waitStep(5, engine.Failed)
	w.waitFor("the failure message", func() bool {
		ts, _, ok := w.button("Abort")
		return ok && ts != failure.TS
	})
	abort := w.openModal(carol, "Abort")
	assert.Equal(t, "Abort the run", abort.Title)
	w.submit(carol, abort, "prod2 refuses to scale")
	w.waitFor("the rollback plan", func() bool {
		r := w.srv.Engine.Active()
		return r != nil && r.InRollback() && r.Steps[r.Current].State == engine.Awaiting
	})

	// Bob rejects the first rollback step through its modal: the run ends.
	rollback := w.openModal(bob, "Reject")
	w.submit(bob, rollback, "will restore prod2 by hand")
	w.waitFor("the end of the run", func() bool { return w.srv.Engine.Active() == nil })

	w.stopBot()
	run, audit := w.finalRun()
	assert.Equal(t, engine.Aborted, run.State)
	var got []string
	for _, d := range run.Decisions {
		if d.Action != engine.Approve {
			got = append(got, fmt.Sprintf("%s %s step %d: %s", d.User, d.Action, d.Step+1, d.Reason))
		}
	}
	assert.Equal(t, []string{
		carol + " skip step 3: maintenance was turned on by hand",
		carol + " abort step 5: prod2 refuses to scale",
	}, got[:2], "the refused reject is not recorded")
	assert.Len(t, got, 3)
	assert.Contains(t, got[2], bob+" reject")
	assert.Contains(t, got[2], "will restore prod2 by hand")
	for _, a := range audit {
		assert.NotContains(t, a.Reason, "the destination is not ready", "the refused reject left no trace in the audit log")
	}
}

func notified(s *slackfake.Server, user string) []string {
	var out []string
	for _, m := range s.NotificationsOf(user) {
		out = append(out, m.TS)
	}
	return out
}

func TestE2EDirectMessagesHomeTabAndHistoryLinks(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 200, mutate: func(c *config.Config) {
		c.Slack.Maintainers.Usergroup = group
		c.Slack.Notify = config.Notify{config.NotifyMention, config.NotifyDM}
	}})
	w.startBot(nil)
	w.command(alice, "start prod2 prod1")
	w.waitStep(2, engine.Awaiting)

	// Each approver, through the list or the group, gets a direct message linking to
	// the prompt; the initiator does not. The prompt mentions the group.
	for _, u := range []string{bob, carol, dave} {
		w.waitFor("a direct message to "+u, func() bool { return len(w.slack.DMs(u)) == 1 })
		dm := w.slack.DMs(u)[0]
		assert.Contains(t, dm.Text, "Step 2: Scale meshdb-celery-worker to 0, destination waits for you to approve or reject it")
		assert.Contains(t, dm.Text, w.slack.APIURL()[:len(w.slack.APIURL())-len("api/")]+"archives/"+channel+"/p")
	}
	assert.Empty(t, w.slack.DMs(alice))
	prompt := w.asks()[0]
	assert.Contains(t, prompt.Text, "<!subteam^S0MAINT>")
	assert.Contains(t, notified(w.slack, dave), prompt.TS, "the group mention notifies its members")
	assert.False(t, prompt.Broadcast, "broadcast is not in slack.notify here")

	// Dave, a maintainer through the group only, approves.
	w.click(dave, "Approve")
	w.waitStep(3, engine.Awaiting)

	// The Home tab shows the run, where it stands and its thread.
	_, err := w.slack.OpenHome(carol)
	require.NoError(t, err)
	w.waitFor("carol's Home tab", func() bool { _, ok := w.slack.Home(carol); return ok })
	home, _ := w.slack.Home(carol)
	text := slackfake.BlocksText(home)
	assert.Contains(t, text, "Step 3 of 12: Maintenance on, destination (awaiting approval)")
	thread := "archives/" + channel + "/p" + strings.Replace(w.header().TS, ".", "", 1)
	assert.Contains(t, text, thread+"|MeshDB cutover prod2 → prod1>")

	// `/cutover history` links each run to its thread.
	w.command(carol, "history")
	w.waitPrivate(carol, "Recent cutovers")
	assert.Contains(t, strings.Join(w.private(carol), "\n"), thread+"|"+w.srv.Engine.Active().ID+">")
}

func TestCheckSlackChannelMembershipAndScopes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		slack func(*slackfake.Options)
		want  string
	}{
		{"bot not in the channel", func(o *slackfake.Options) { o.Outside = []string{channel} }, "the bot is not a member of #meshdb"},
		{"private channel, bot not in it", func(o *slackfake.Options) { o.Outside, o.Private = []string{channel}, []string{channel} }, "invite the bot"},
		{"no channels:read", func(o *slackfake.Options) {
			var s []string
			for _, x := range o.Scopes {
				if x != "channels:read" {
					s = append(s, x)
				}
			}
			o.Scopes = s
		}, "channels:read for a public channel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, worldOptions{installs: 100, slack: tc.slack})
			for _, r := range server.Check(context.Background(), w.cfg) {
				if r.Name == "slack channel" {
					assert.False(t, r.OK)
					assert.Contains(t, r.Msg, tc.want)
					return
				}
			}
			t.Fatal("no slack channel check")
		})
	}
}
