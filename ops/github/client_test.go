package github_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/github"
	"github.com/nycmeshnet/cutoverbot/ops/github/githubfake"
)

const token = "ghp_test_token"

func fake(t *testing.T) (*githubfake.Server, *github.Client) {
	s, err := githubfake.Start(token)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	c, err := github.New(s.URL(), token, nil)
	require.NoError(t, err)
	return s, c
}

func TestDeployedLatest(t *testing.T) {
	s, c := fake(t)
	ctx := context.Background()
	first := s.CreateRepo("nycmeshnet/meshdb", "main", map[string]string{"README.md": "MeshDB"})
	s.AddDeployment("nycmeshnet/meshdb", "prod", first, "success")
	st, err := c.DeployedLatest(ctx, "nycmeshnet/meshdb", "main", "prod", "publish-and-deploy.yaml")
	require.NoError(t, err)
	assert.True(t, st.OK, st.Problem)

	s.Commit("nycmeshnet/meshdb", "main", map[string]string{"a": "1"}, "one")
	head := s.Commit("nycmeshnet/meshdb", "main", map[string]string{"a": "2"}, "two")
	s.AddDeployment("nycmeshnet/meshdb", "prod", head, "failure") // a newer deploy that failed does not count
	st, err = c.DeployedLatest(ctx, "nycmeshnet/meshdb", "main", "prod", "publish-and-deploy.yaml")
	require.NoError(t, err)
	assert.False(t, st.OK)
	assert.Equal(t, 2, st.Behind)
	assert.Contains(t, st.Problem, "2 commit(s) behind")

	s.AddDeployment("nycmeshnet/meshdb", "prod", head, "success")
	s.AddWorkflowRun("nycmeshnet/meshdb", "publish-and-deploy.yaml", "in_progress")
	st, err = c.DeployedLatest(ctx, "nycmeshnet/meshdb", "main", "prod", "publish-and-deploy.yaml")
	require.NoError(t, err)
	assert.False(t, st.OK)
	assert.Contains(t, st.Problem, "in progress")

	bad, err := github.New(s.URL(), "wrong", nil)
	require.NoError(t, err)
	_, err = bad.DeployedLatest(ctx, "nycmeshnet/meshdb", "main", "prod", "publish-and-deploy.yaml")
	assert.ErrorContains(t, err, "401")
}

func dnsChange(branch string) github.ChangeRequest {
	return github.ChangeRequest{Repo: "nycmeshnet/nycmesh-dns", Base: "main", Branch: branch, Title: "db.nycmesh.net -> sn3", Body: "run 1", CommitMessage: "Point db at sn3",
		Files: map[string]func([]byte) ([]byte, error){"sld/records.nycmesh.net.tf": func(b []byte) ([]byte, error) {
			return github.EditDNSAnswer(b, "meshdb_prod_meshdb", sn10, sn3)
		}}}
}

func TestDNSPullRequestIsIdempotentAndRevertible(t *testing.T) {
	s, c := fake(t)
	ctx := context.Background()
	s.CreateRepo("nycmeshnet/nycmesh-dns", "main", map[string]string{"sld/records.nycmesh.net.tf": records})
	pr, err := c.OpenChange(ctx, dnsChange("cutoverbot/run-1-dns"))
	require.NoError(t, err)
	assert.Equal(t, 1, pr.Number)
	assert.Contains(t, pr.URL, "/pull/1")
	again, err := c.OpenChange(ctx, dnsChange("cutoverbot/run-1-dns"))
	require.NoError(t, err)
	assert.Equal(t, pr.Number, again.Number, "a retry finds the same PR")
	assert.Len(t, s.Pulls("nycmeshnet/nycmesh-dns"), 1)
	assert.Equal(t, []string{"cutoverbot/run-1-dns", "main"}, s.Branches("nycmeshnet/nycmesh-dns"))

	// Branch protection refuses the API merge; a person merges; the bot sees it.
	s.RefuseMerges("nycmeshnet/nycmesh-dns", "Required status check \"plan\" is expected.")
	merged, reason, err := c.Merge(ctx, pr, "merge")
	require.NoError(t, err)
	assert.False(t, merged)
	assert.Contains(t, reason, "Required status check")
	go func() { time.Sleep(100 * time.Millisecond); _ = s.MergePR("nycmeshnet/nycmesh-dns", pr.Number) }()
	done, err := c.WaitMerged(ctx, pr, 20*time.Millisecond, nil)
	require.NoError(t, err)
	assert.True(t, done.Merged)
	assert.Contains(t, s.File("nycmeshnet/nycmesh-dns", "main", "sld/records.nycmesh.net.tf"), `answer      = "`+sn3+`"`)

	// The rollback: a revert PR restores the file.
	s.RefuseMerges("nycmeshnet/nycmesh-dns", "")
	rev, err := c.Revert(ctx, done, "main", "cutoverbot/run-1-dns-revert", []string{"sld/records.nycmesh.net.tf"}, "rollback")
	require.NoError(t, err)
	assert.Equal(t, "Revert #1", s.Pulls("nycmeshnet/nycmesh-dns")[1].Title)
	ok, _, err := c.Merge(ctx, rev, "revert")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, records, s.File("nycmeshnet/nycmesh-dns", "main", "sld/records.nycmesh.net.tf"), "byte for byte as before")
}

func TestRefusedEditOpensNothing(t *testing.T) {
	s, c := fake(t)
	s.CreateRepo("nycmeshnet/nycmesh-dns", "main", map[string]string{"sld/records.nycmesh.net.tf": "# nothing here\n"})
	_, err := c.OpenChange(context.Background(), dnsChange("cutoverbot/run-2-dns"))
	require.ErrorContains(t, err, "meshdb_prod_meshdb is not in the file")
	assert.Empty(t, s.Pulls("nycmeshnet/nycmesh-dns"))
}

func TestServerErrorsSurface(t *testing.T) {
	s, c := fake(t)
	s.CreateRepo("nycmeshnet/nycmesh-dns", "main", map[string]string{"sld/records.nycmesh.net.tf": records})
	s.FailNext("/repos/nycmeshnet/nycmesh-dns/pulls", 1, 502)
	_, err := c.OpenChange(context.Background(), dnsChange("cutoverbot/run-3-dns"))
	require.Error(t, err)
	pr, err := c.OpenChange(context.Background(), dnsChange("cutoverbot/run-3-dns"))
	require.NoError(t, err, "the retry goes through")
	assert.Equal(t, 1, pr.Number)
}
