package steps_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
)

// testPRWords stand in for the transport's words (handlers words them from the same
// facts, tested there): each text is its kind and the facts as JSON, so a test reads
// back what the step passed.
var testPRWords = steps.PRWords{
	Title:         func(pr report.PullRequest) string { return "title " + factsJSON(pr) },
	Body:          func(pr report.PullRequest) string { return factsJSON(pr) },
	CommitMessage: func(pr report.PullRequest) string { return "commit " + factsJSON(pr) },
}

func factsJSON(pr report.PullRequest) string {
	b, err := json.Marshal(pr)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// The pull requests the steps open are worded by the words the wiring passes, from
// the facts of the run and the change: a revert names the merged PR it puts back.
func TestPullRequestsAreWordedFromTheirFacts(t *testing.T) {
	w := newPRWorld(t)
	ctx := context.Background()
	_, err := w.step(t, ctx, "pr-dns", 1)
	require.NoError(t, err)
	w.rollback(map[string]plan.Ran{"pr-dns": plan.Done})
	_, err = w.step(t, ctx, w.run.Steps[len(w.run.Plan.Steps)].Step.ID, 1)
	require.NoError(t, err)

	pulls := w.gh.Pulls(w.repo())
	require.Len(t, pulls, 2)
	want := report.PullRequest{Change: "dns", Run: w.run.ID, Origin: "prod2", Destination: "prod1", Initiator: "U01ALICE",
		Name: w.cfg.DNS.Name, To: w.cfg.Clusters["prod1"].LBHostname}
	var got report.PullRequest
	require.NoError(t, json.Unmarshal([]byte(pulls[0].Body), &got))
	assert.Equal(t, want, got)
	assert.Equal(t, "title "+pulls[0].Body, pulls[0].Title)

	rev := w.run.Steps[len(w.run.Plan.Steps)].Step.PullRequest
	want.To = rev.To
	want.Reverts = &report.Reverted{Number: 1, URL: "https://github.com/" + w.repo() + "/pull/1"}
	got = report.PullRequest{}
	require.NoError(t, json.Unmarshal([]byte(pulls[1].Body), &got))
	assert.Equal(t, want, got)
}

// Without words the step opens nothing and says why.
func TestAPullRequestWithoutWordsIsNotOpened(t *testing.T) {
	w := newPRWorldWords(t, steps.PRWords{})
	_, err := w.step(t, context.Background(), "pr-dns", 1)
	var f *report.Failed
	require.ErrorAs(t, err, &f)
	assert.Equal(t, report.NoPRWords{}, f.Facts)
	assert.Empty(t, w.gh.Pulls(w.repo()))
}
