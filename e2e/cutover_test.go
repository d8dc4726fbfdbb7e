package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/bot/slackfake"
	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

func TestE2EWholeCutoverThroughSlack(t *testing.T) {
	w := newWorld(t, worldOptions{})
	var log logs
	w.startBot(&log)
	w.command(alice, "start prod2 prod1")
	w.waitFor("the run header", func() bool { return w.header().TS != "" })

	// The initiator cannot approve; someone who is not a maintainer cannot either.
	w.click(alice, "Approve")
	w.waitPrivate(alice, "you started this run")
	w.click(eve, "Approve")
	w.waitPrivate(eve, "only MeshDB maintainers")

	// A double click and a redelivered envelope run the step once. Both clicks are on
	// the prompt as bob's client showed it: the second may arrive after the bot's edit.
	ts, action, ok := w.button("Approve")
	require.True(t, ok)
	seen, err := w.slack.Render(channel, ts)
	require.NoError(t, err)
	id, err := w.slack.ClickRendering(bob, seen, action)
	require.NoError(t, err)
	_, err = w.slack.ClickRendering(bob, seen, action)
	require.NoError(t, err)
	require.NoError(t, w.slack.Redeliver(id))

	// The WebSocket drops mid-run; the bot reconnects and the run goes on.
	w.waitFor("step 2 to finish", func() bool { return strings.Contains(w.headerText(), "✅ 2.") })
	w.slack.DropConnection()
	w.waitFor("the reconnection", w.slack.Connected)

	w.approveAll(bob, "(completed)")
	rows := w.requireSameData()
	t.Logf("cutover complete; %d rows verified equal on both sides", rows)

	// Announcements went top-level; prompts and results in the thread.
	var top []string
	for _, m := range w.slack.Messages(channel) {
		top = append(top, m.Text)
	}
	require.Len(t, top, 3, "header, start and done announcements: %v", top)
	assert.True(t, strings.HasPrefix(top[1], "Hey all, we're going to do some work on MeshDB"))
	assert.True(t, strings.HasPrefix(top[2], "Okay things should be back to normal now"))
	thread := w.slack.Thread(channel, w.header().TS)
	var approvedBy, results int
	for _, m := range thread {
		text := slackfake.TextOf(m)
		if strings.Contains(text, "Approved by <@U02BOB>") {
			approvedBy++
			assert.NotContains(t, string(m.Blocks), `"Approve"`, "a decided prompt has no buttons")
		}
		if strings.Contains(m.Text, "succeeded in") {
			results++
		}
	}
	assert.Equal(t, 11, approvedBy, "every step but preflight was approved in place")
	assert.Equal(t, 12, results)
	assert.Contains(t, w.headerText(), "✅ 12. Announce done")

	w.command(carol, "status")
	w.waitPrivate(carol, "No cutover is running")

	// Health and metrics answer.
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready",
		"/metrics": `cutoverbot_runs_total{outcome="completed"} 1`} {
		resp, err := http.Get("http://" + w.srv.Addr() + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Contains(t, string(body), want, path)
	}

	w.stopBot()
	run, audit := w.finalRun()
	assert.Equal(t, engine.Completed, run.State)
	for _, s := range run.Steps {
		assert.Equal(t, 1, s.Executions, "%s ran once", s.Step.ID)
	}
	decisions := 0
	for _, a := range audit {
		if strings.HasPrefix(a.Event, "decision.") {
			decisions++
		}
	}
	assert.Equal(t, 11, decisions, "the audit log holds every decision")

	// Secrets never reach Slack, the logs or the store.
	for _, s := range w.slack.Seen() {
		assertNoSecret(t, s)
	}
	assertNoSecret(t, log.String())
	for _, a := range audit {
		assertNoSecret(t, handlers.AuditText(a))
	}
}

func assertNoSecret(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{botToken, appToken, ghToken, "SECRET"} {
		if strings.Contains(s, secret) {
			t.Errorf("a secret appears in %q", s[:min(len(s), 200)])
		}
	}
}

func TestE2EEveryRefusal(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 200})
	w.startBot(nil)
	cases := []struct {
		user, channel, text, want string
	}{
		{alice, "C0RANDOM", "start prod2 prod1", "cutovers are run from <#C0123MESHDB> only"},
		{alice, channel, "start prod2 prod9", `unknown cluster "prod9"`},
		{alice, channel, "start prod1 prod1", `both "prod1"`},
		{eve, channel, "start prod2 prod1", "only MeshDB maintainers"},
		{alice, channel, "frobnicate", "I don't know `frobnicate`"},
		{alice, channel, "", "/cutover start ORIGIN DEST"},
		{alice, channel, "abort", "no cutover is running"},
	}
	for _, tc := range cases {
		_, err := w.slack.SlashCommand(tc.user, tc.channel, tc.text)
		require.NoError(t, err)
		w.waitPrivate(tc.user, tc.want)
	}
	assert.Empty(t, w.slack.Messages(channel), "no refusal changed anything in the channel")

	w.command(alice, "start prod2 prod1")
	w.waitFor("the run header", func() bool { return w.header().TS != "" })
	w.command(bob, "start prod1 prod2")
	w.waitPrivate(bob, "started by <@U01ALICE>")

	// A stale button: approve step 2, then click that prompt's Approve again from an
	// old copy of the message.
	var ts string
	w.waitFor("step 2's prompt", func() bool {
		var ok bool
		ts, _, ok = w.button("Approve")
		return ok
	})
	m, _ := w.slack.Message(channel, ts)
	value := buttonValue(t, m)
	w.click(bob, "Approve")
	w.waitFor("step 2 to finish", func() bool { return strings.Contains(w.headerText(), "✅ 2.") })
	_, err := w.slack.ClickStale(carol, channel, ts, "approve", value)
	require.NoError(t, err)
	w.waitPrivate(carol, "no longer waiting")
	_, err = w.slack.ClickStale(carol, channel, ts, "approve", "20200101-0000-dead|1|1")
	require.NoError(t, err)
	w.waitPrivate(carol, "not to the active run")
	assert.NotContains(t, w.headerText(), "✅ 3.", "no stale click ran anything")
}

func buttonValue(t *testing.T, m slackfake.Message) string {
	t.Helper()
	var blocks []struct {
		Type     string `json:"type"`
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	require.NoError(t, json.Unmarshal(m.Blocks, &blocks))
	for _, b := range blocks {
		for _, e := range b.Elements {
			if e.ActionID == "approve" {
				return e.Value
			}
		}
	}
	t.Fatal("no approve button")
	return ""
}

func TestE2EAbortWithRollback(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 600})
	w.startBot(nil)
	w.command(alice, "start prod2 prod1")
	w.waitFor("the run header", func() bool { return w.header().TS != "" })
	for i := 0; i < 7; i++ { // through the restore
		w.click(bob, "Approve")
		step := i + 2
		w.waitFor("the step to end", func() bool { return strings.Contains(w.headerText(), "✅ "+strconv.Itoa(step)+".") })
	}
	w.command(alice, "abort found a problem")
	w.waitFor("the rollback plan", func() bool { return strings.Contains(w.headerText(), "Rollback") })
	w.approveAll(carol, "(rolled back)")
	head := w.headerText()
	for _, undo := range []string{"Undo (optional): restore the destination from its backup", "Undo: maintenance off, origin", "Undo: restore meshdb-celery-worker replicas, origin",
		"Undo: maintenance off, destination", "Undo: restore meshdb-celery-worker replicas, destination", "Announce done (rolled back)"} {
		assert.Contains(t, head, undo)
	}
	assert.Equal(t, int32(1), w.origin.Kube.SpecReplicas("statefulset", "meshdb", "meshdb-celery-worker"), "celery is back on the origin")
	assert.Equal(t, int32(1), w.dest.Kube.SpecReplicas("statefulset", "meshdb", "meshdb-celery-worker"))
	out, err := w.origin.PG.SQL(t.Context(), "meshdb", "SELECT value FROM flags_flagstate WHERE name='MAINTENANCE_MODE'")
	require.NoError(t, err)
	assert.Equal(t, "False", strings.TrimSpace(out), "maintenance is off on the origin")
	count, err := w.dest.PG.SQL(t.Context(), "meshdb", "SELECT count(*) FROM meshapi_install")
	require.NoError(t, err)
	assert.Equal(t, "200", strings.TrimSpace(count), "the destination's own data is back from its backup")
}
