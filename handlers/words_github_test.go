package handlers_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// The pull requests the bot opens read on GitHub word for word as ops/steps and
// ops/github wrote them before they passed data.
func TestPullRequestsAreWorded(t *testing.T) {
	run := report.PullRequest{Run: "20261124-2000-ab12", Origin: "prod2", Destination: "prod1", Initiator: "U01ALICE"}
	body := "Opened by cutoverbot for cutover run 20261124-2000-ab12 (prod2 → prod1), started by Slack user U01ALICE in #meshdb; each step approved there."
	thread := "https://nycmesh.slack.com/archives/C0123MESHDB/p1764014400000100"
	with := func(f func(*report.PullRequest)) report.PullRequest {
		pr := run
		f(&pr)
		return pr
	}
	for _, tc := range []struct {
		name                 string
		pr                   report.PullRequest
		title, commit, words string
	}{
		{"dns", with(func(p *report.PullRequest) {
			p.Change, p.Name, p.To = "dns", "db.nycmesh.net", "kubernetes-lb-prod-sn3.nycmesh.net"
		}),
			"Point db.nycmesh.net at kubernetes-lb-prod-sn3.nycmesh.net (MeshDB cutover prod2 → prod1)",
			"Point db.nycmesh.net at kubernetes-lb-prod-sn3.nycmesh.net (MeshDB cutover prod2 → prod1)", body},
		{"certs, with the thread", with(func(p *report.PullRequest) {
			p.Change, p.Host, p.To, p.Thread = "certs", "db.nycmesh.net", "prod1", thread
		}),
			"Serve db.nycmesh.net from prod1 (MeshDB cutover)", "Serve db.nycmesh.net from prod1 (MeshDB cutover)",
			body + "\n\nThe run's thread: " + thread},
		{"revert", with(func(p *report.PullRequest) {
			p.Change, p.Name, p.To = "dns", "db.nycmesh.net", "kubernetes-lb-prod-sn3.nycmesh.net"
			p.Thread, p.Reverts = thread, &report.Reverted{Number: 41, URL: "https://github.com/nycmeshnet/nycmesh-dns/pull/41"}
		}),
			"Revert #41", "Revert #41 (https://github.com/nycmeshnet/nycmesh-dns/pull/41)",
			body + "\n\nThe run's thread: " + thread + "\n\nRollback: reverts https://github.com/nycmeshnet/nycmesh-dns/pull/41"},
		{"revert, no thread", with(func(p *report.PullRequest) {
			p.Change, p.Reverts = "certs", &report.Reverted{Number: 7, URL: "https://github.com/nycmeshnet/k8s-infra/pull/7"}
		}),
			"Revert #7", "Revert #7 (https://github.com/nycmeshnet/k8s-infra/pull/7)", body + "\n\nRollback: reverts https://github.com/nycmeshnet/k8s-infra/pull/7"},
	} {
		assert.Equal(t, tc.title, handlers.PRTitle(tc.pr), tc.name)
		assert.Equal(t, tc.commit, handlers.PRCommitMessage(tc.pr), tc.name)
		assert.Equal(t, tc.words, handlers.PRBody(tc.pr), tc.name)
	}
}

// A deploy's state reads as github.Run.StateText wrote it before handlers.Deploy
// carried GitHub's status and conclusion.
func TestDeployStatesAreWorded(t *testing.T) {
	for _, tc := range []struct{ status, conclusion, want string }{
		{"queued", "", "queued"},
		{"in_progress", "", "in progress"},
		{"completed", "success", "succeeded"},
		{"completed", "failure", "failed"},
		{"completed", "", "completed"},
		{"completed", "timed_out", "timed out"},
		{"completed", "cancelled", "cancelled"},
	} {
		assert.Equal(t, tc.want, handlers.Deploy{Status: tc.status, Conclusion: tc.conclusion}.State(), tc.status+" "+tc.conclusion)
	}
}
