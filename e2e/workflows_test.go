package e2e

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/bot/slackfake"
	"github.com/nycmeshnet/cutoverbot/sandbox"
)

// threadHas counts the run's thread messages whose rendered text holds s.
func (w *world) threadHas(s string) int {
	n := 0
	for _, m := range w.slack.Thread(channel, w.header().TS) {
		if strings.Contains(slackfake.TextOf(m), s) {
			n++
		}
	}
	return n
}

// promptOf returns the rendered approval prompt of a step ("" until posted).
func (w *world) promptOf(step string) string {
	for _, m := range w.slack.Thread(channel, w.header().TS) {
		if text := slackfake.TextOf(m); strings.Contains(text, "Approval needed: Step "+step+":") {
			return text
		}
	}
	return ""
}

// A push to MeshDB's main during the run deploys it with Helm, which puts back the
// replica counts the cutover set: the bot reports it in the thread at once, and the
// pending prompt and the next ones show it.
func TestE2EAMeshDBDeployDuringTheRunIsReported(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 300})
	w.startBot(nil)
	w.command(alice, "start prod2 prod1")
	w.waitFor("the run header", func() bool { return w.header().TS != "" })
	w.click(bob, "Approve") // step 2: the destination's celery to 0
	w.waitFor("✅ 2.", func() bool { return strings.Contains(w.headerText(), "✅ 2.") })
	require.Equal(t, int32(0), w.dest.Kube.SpecReplicas("statefulset", sandbox.Namespace, sandbox.CeleryStatefulSet))
	w.waitFor("the prompt of step 3", func() bool { return w.promptOf("3") != "" })
	require.NotContains(t, w.promptOf("3"), "MeshDB was deployed")

	app := w.cfg.GitHub.App
	sha := w.traffic.GitHub.Commit(app.Repo, app.Branch, map[string]string{"README.md": "# MeshDB\nA typo fixed.\n"}, "Fix a typo")
	const report = "MeshDB is being deployed during this cutover"
	w.waitFor("the deploy to be reported", func() bool { return w.threadHas(report) > 0 })
	var url string
	for _, r := range w.traffic.GitHub.WorkflowRuns(app.Repo, app.DeployWorkflow) {
		if r.HeadSHA == sha {
			url = r.URL
		}
	}
	require.NotEmpty(t, url, "the push started a run of %s", app.DeployWorkflow)
	assert.Equal(t, 1, w.threadHas(report+": the Publish and Deploy run "+url+" of "+sha[:7]))
	assert.Equal(t, 1, w.threadHas("👉 <@"+alice+"> <@"+bob+"> <@"+carol+">: check the replica counts"),
		"the initiator and the approvers are mentioned: a thread reply notifies only its followers")

	// Helm did put the destination's celery back, as it does on the real clusters.
	w.waitFor("Helm to reset the replicas", func() bool {
		return w.dest.Kube.SpecReplicas("statefulset", sandbox.Namespace, sandbox.CeleryStatefulSet) == sandbox.HelmReplicas
	})
	w.waitFor("the pending prompt to show the deploy", func() bool { return strings.Contains(w.promptOf("3"), "MeshDB was deployed during this run ("+url) })
	w.click(bob, "Approve")
	w.waitFor("the prompt of step 4", func() bool { return w.promptOf("4") != "" })
	assert.Contains(t, w.promptOf("4"), "MeshDB was deployed during this run ("+url, "the next prompt shows it")
	assert.Equal(t, 1, w.threadHas(report), "reported once")
}
