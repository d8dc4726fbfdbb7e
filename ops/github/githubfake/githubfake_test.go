package githubfake_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	gh "github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/github/githubfake"
)

const repo = "nycmeshnet/nycmesh-dns"

func start(t *testing.T) (*githubfake.Server, *gh.Client) {
	t.Helper()
	s, err := githubfake.Start()
	require.NoError(t, err)
	t.Cleanup(s.Close)
	c := gh.NewClient(nil).WithAuthToken(s.Token())
	c.BaseURL, err = url.Parse(s.URL())
	require.NoError(t, err)
	return s, c
}

func status(t *testing.T, resp *gh.Response) int {
	t.Helper()
	require.NotNil(t, resp)
	return resp.StatusCode
}

func TestAuthorization(t *testing.T) {
	s, _ := start(t)
	s.CreateRepo(repo, "main", map[string]string{"a": "1"})
	for _, tc := range []struct {
		header string
		want   int
	}{{"", 401}, {"Bearer nope", 401}, {"Bearer " + s.Token(), 200}, {"token " + s.Token(), 200}} {
		req, err := http.NewRequest(http.MethodGet, s.URL()+"repos/"+repo, nil)
		require.NoError(t, err)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, tc.want, resp.StatusCode, tc.header)
	}
}

func TestBranchesRefsAndContents(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	base := s.CreateRepo(repo, "main", map[string]string{"dir/f.tf": "one\n"})
	_, _, err := c.Git.CreateRef(ctx, "nycmeshnet", "nycmesh-dns", &gh.Reference{Ref: gh.String("refs/heads/cutoverbot/run-1"), Object: &gh.GitObject{SHA: gh.String(base)}})
	require.NoError(t, err)
	_, resp, err := c.Git.CreateRef(ctx, "nycmeshnet", "nycmesh-dns", &gh.Reference{Ref: gh.String("refs/heads/cutoverbot/run-1"), Object: &gh.GitObject{SHA: gh.String(base)}})
	require.Error(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, status(t, resp), "a branch cannot be made twice")

	b, _, err := c.Repositories.GetBranch(ctx, "nycmeshnet", "nycmesh-dns", "cutoverbot/run-1", 1)
	require.NoError(t, err, "a branch name with / arrives path-escaped")
	assert.Equal(t, base, b.GetCommit().GetSHA())
	ref, _, err := c.Git.GetRef(ctx, "nycmeshnet", "nycmesh-dns", "heads/cutoverbot/run-1")
	require.NoError(t, err)
	assert.Equal(t, base, ref.GetObject().GetSHA())

	fc, _, _, err := c.Repositories.GetContents(ctx, "nycmeshnet", "nycmesh-dns", "dir/f.tf", &gh.RepositoryContentGetOptions{Ref: "cutoverbot/run-1"})
	require.NoError(t, err)
	text, err := fc.GetContent()
	require.NoError(t, err)
	assert.Equal(t, "one\n", text)

	put := func(sha string) (*gh.Response, error) {
		_, resp, err := c.Repositories.UpdateFile(ctx, "nycmeshnet", "nycmesh-dns", "dir/f.tf", &gh.RepositoryContentFileOptions{
			Message: gh.String("edit"), Content: []byte("two\n"), SHA: gh.String(sha), Branch: gh.String("cutoverbot/run-1")})
		return resp, err
	}
	resp, err = put("")
	require.Error(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, status(t, resp), "an existing file needs its sha")
	resp, err = put("0000000000000000000000000000000000000000")
	require.Error(t, err)
	assert.Equal(t, http.StatusConflict, status(t, resp), "a stale sha is refused")
	_, err = put(fc.GetSHA())
	require.NoError(t, err)
	assert.Equal(t, "two\n", s.File(repo, "cutoverbot/run-1", "dir/f.tf"))
	assert.Equal(t, "one\n", s.File(repo, "main", "dir/f.tf"))

	// Moving a branch: fast-forward only unless forced.
	other := s.Commit(repo, "side", map[string]string{"x": "1"}, "side")
	_, resp, err = c.Git.UpdateRef(ctx, "nycmeshnet", "nycmesh-dns", &gh.Reference{Ref: gh.String("refs/heads/cutoverbot/run-1"), Object: &gh.GitObject{SHA: gh.String(other)}}, false)
	require.Error(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, status(t, resp))
	_, _, err = c.Git.UpdateRef(ctx, "nycmeshnet", "nycmesh-dns", &gh.Reference{Ref: gh.String("refs/heads/cutoverbot/run-1"), Object: &gh.GitObject{SHA: gh.String(other)}}, true)
	require.NoError(t, err)
	assert.Equal(t, other, s.Head(repo, "cutoverbot/run-1"))
}

func TestPullRequestsAndMerges(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	s.CreateRepo(repo, "main", map[string]string{"a": "1", "b": "1"})
	s.Commit(repo, "feature", map[string]string{"a": "2"}, "a=2")
	_, resp, err := c.PullRequests.Create(ctx, "nycmeshnet", "nycmesh-dns", &gh.NewPullRequest{Title: gh.String("t"), Head: gh.String("main"), Base: gh.String("main")})
	require.Error(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, status(t, resp), "no commits between")
	pr, _, err := c.PullRequests.Create(ctx, "nycmeshnet", "nycmesh-dns", &gh.NewPullRequest{Title: gh.String("t"), Head: gh.String("feature"), Base: gh.String("main")})
	require.NoError(t, err)
	_, resp, err = c.PullRequests.Create(ctx, "nycmeshnet", "nycmesh-dns", &gh.NewPullRequest{Title: gh.String("t"), Head: gh.String("feature"), Base: gh.String("main")})
	require.Error(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, status(t, resp), "one open PR per branch")

	list, _, err := c.PullRequests.List(ctx, "nycmeshnet", "nycmesh-dns", &gh.PullRequestListOptions{Head: "nycmeshnet:feature", State: "all"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	list, _, err = c.PullRequests.List(ctx, "nycmeshnet", "nycmesh-dns", &gh.PullRequestListOptions{Head: "nycmeshnet:other"})
	require.NoError(t, err)
	assert.Empty(t, list)

	s.RefuseMerges(repo, "At least 1 approving review is required by reviewers with write access.")
	_, resp, err = c.PullRequests.Merge(ctx, "nycmeshnet", "nycmesh-dns", pr.GetNumber(), "", nil)
	require.Error(t, err)
	assert.Equal(t, http.StatusMethodNotAllowed, status(t, resp))
	assert.Contains(t, err.Error(), "approving review")
	s.RefuseMerges(repo, "")

	// A change of the same file on main meanwhile: a conflict, as on GitHub.
	s.Commit(repo, "main", map[string]string{"a": "3"}, "a=3")
	_, resp, err = c.PullRequests.Merge(ctx, "nycmeshnet", "nycmesh-dns", pr.GetNumber(), "", nil)
	require.Error(t, err)
	assert.Equal(t, http.StatusMethodNotAllowed, status(t, resp))
	s.Commit(repo, "main", map[string]string{"a": "1", "b": "2"}, "a back, b=2")

	_, resp, err = c.PullRequests.Merge(ctx, "nycmeshnet", "nycmesh-dns", pr.GetNumber(), "", &gh.PullRequestOptions{SHA: "stale"})
	require.Error(t, err)
	assert.Equal(t, http.StatusConflict, status(t, resp), "head moved")
	res, _, err := c.PullRequests.Merge(ctx, "nycmeshnet", "nycmesh-dns", pr.GetNumber(), "", nil)
	require.NoError(t, err)
	assert.True(t, res.GetMerged())
	assert.Equal(t, "2", s.File(repo, "main", "a"))
	assert.Equal(t, "2", s.File(repo, "main", "b"), "main's own change is kept")

	got, _, err := c.PullRequests.Get(ctx, "nycmeshnet", "nycmesh-dns", pr.GetNumber())
	require.NoError(t, err)
	assert.True(t, got.GetMerged())
	assert.Equal(t, "closed", got.GetState())
	list, _, err = c.PullRequests.List(ctx, "nycmeshnet", "nycmesh-dns", &gh.PullRequestListOptions{State: "closed"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Nil(t, list[0].Merged, "list answers carry no merged flag, as on GitHub")
	assert.NotNil(t, list[0].MergedAt)
	files, _, err := c.PullRequests.ListFiles(ctx, "nycmeshnet", "nycmesh-dns", pr.GetNumber(), nil)
	require.NoError(t, err)
	require.Len(t, files, 1)
	assert.Equal(t, "a", files[0].GetFilename())
}

func TestCompareDeploymentsAndRuns(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	first := s.CreateRepo(repo, "main", map[string]string{"a": "1"})
	side := s.Commit(repo, "fix/x", map[string]string{"b": "1"}, "side") // branches off first
	s.Commit(repo, "main", map[string]string{"a": "2"}, "2")
	head := s.Commit(repo, "main", map[string]string{"a": "3"}, "3")
	for _, tc := range []struct {
		base, head, status string
		ahead, behind      int
	}{
		{first, head, "ahead", 2, 0},
		{head, first, "behind", 0, 2},
		{head, head, "identical", 0, 0},
		{"fix/x", "main", "diverged", 2, 1},
		{side, "main", "diverged", 2, 1},
	} {
		cmp, _, err := c.Repositories.CompareCommits(ctx, "nycmeshnet", "nycmesh-dns", tc.base, tc.head, nil)
		require.NoError(t, err)
		assert.Equal(t, tc.status, cmp.GetStatus())
		assert.Equal(t, tc.ahead, cmp.GetAheadBy())
		assert.Equal(t, tc.behind, cmp.GetBehindBy())
	}
	assert.Equal(t, first, mustCompare(t, c, side, head).GetMergeBaseCommit().GetSHA())

	s.AddDeployment(repo, "prod1", first, "success")
	id := s.AddDeployment(repo, "prod1", head, "in_progress")
	s.AddDeployment(repo, "prod2", head, "success")
	deps, _, err := c.Repositories.ListDeployments(ctx, "nycmeshnet", "nycmesh-dns", &gh.DeploymentsListOptions{Environment: "prod1"})
	require.NoError(t, err)
	require.Len(t, deps, 2)
	assert.Equal(t, head, deps[0].GetSHA(), "newest first")
	s.SetDeploymentState(repo, id, "success")
	sts, _, err := c.Repositories.ListDeploymentStatuses(ctx, "nycmeshnet", "nycmesh-dns", id, nil)
	require.NoError(t, err)
	require.Len(t, sts, 3)
	assert.Equal(t, "success", sts[0].GetState(), "newest first")

	run := s.AddWorkflowRun(repo, "publish-and-deploy.yaml", "in_progress")
	runs, _, err := c.Actions.ListWorkflowRunsByFileName(ctx, "nycmeshnet", "nycmesh-dns", "publish-and-deploy.yaml", &gh.ListWorkflowRunsOptions{Status: "in_progress"})
	require.NoError(t, err)
	assert.Equal(t, 1, runs.GetTotalCount())
	s.SetWorkflowRun(repo, run, "completed")
	runs, _, err = c.Actions.ListWorkflowRunsByFileName(ctx, "nycmeshnet", "nycmesh-dns", "publish-and-deploy.yaml", &gh.ListWorkflowRunsOptions{Status: "in_progress"})
	require.NoError(t, err)
	assert.Zero(t, runs.GetTotalCount())
}

func mustCompare(t *testing.T, c *gh.Client, base, head string) *gh.CommitsComparison {
	t.Helper()
	cmp, _, err := c.Repositories.CompareCommits(context.Background(), "nycmeshnet", "nycmesh-dns", base, head, nil)
	require.NoError(t, err)
	return cmp
}

func TestFailNext(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	s.CreateRepo(repo, "main", map[string]string{"a": "1"})
	s.FailNext("POST /repos/"+repo+"/git/refs", 1, http.StatusInternalServerError)
	s.FailNext("/repos/"+repo+"/branches", 2, http.StatusBadGateway)
	for _, want := range []int{502, 502, 200} {
		_, resp, _ := c.Repositories.GetBranch(ctx, "nycmeshnet", "nycmesh-dns", "main", 1)
		assert.Equal(t, want, status(t, resp))
	}
	_, _, err := c.Git.GetRef(ctx, "nycmeshnet", "nycmesh-dns", "heads/main")
	assert.NoError(t, err, "a rule for POST leaves GET alone")
	s.FailNext("", 0, 0)
	_, _, err = c.Git.CreateRef(ctx, "nycmeshnet", "nycmesh-dns", &gh.Reference{Ref: gh.String("refs/heads/x"), Object: &gh.GitObject{SHA: gh.String(s.Head(repo, "main"))}})
	assert.NoError(t, err, "the rules were dropped")
}

// A push can land between what a client read and its merge request. Without "sha" the
// merge takes whatever the branch holds then; with the sha the client read, it is
// refused with 409 and nothing is merged, as on GitHub.
func TestAPushBeforeTheMergeLandsUnlessTheMergeNamesItsHead(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	s.CreateRepo(repo, "main", map[string]string{"a": "1"})
	var pushes int
	s.OnMergeRequest(func(fullName string, number int) {
		assert.Equal(t, repo, fullName)
		pushes++
		s.Commit(repo, fmt.Sprintf("change-%d", number), map[string]string{"pushed": fmt.Sprint(number)}, "pushed meanwhile")
	})
	for _, withSHA := range []bool{false, true} {
		branch := fmt.Sprintf("change-%d", pushes+1)
		s.Commit(repo, branch, map[string]string{"a": branch}, "a="+branch)
		pr, _, err := c.PullRequests.Create(ctx, "nycmeshnet", "nycmesh-dns", &gh.NewPullRequest{Title: gh.String("t"), Head: gh.String(branch), Base: gh.String("main")})
		require.NoError(t, err)
		read, _, err := c.PullRequests.Get(ctx, "nycmeshnet", "nycmesh-dns", pr.GetNumber())
		require.NoError(t, err)
		opts := &gh.PullRequestOptions{MergeMethod: "merge"}
		if withSHA {
			opts.SHA = read.GetHead().GetSHA()
		}
		mainBefore := s.Head(repo, "main")
		res, resp, err := c.PullRequests.Merge(ctx, "nycmeshnet", "nycmesh-dns", pr.GetNumber(), "", opts)
		if !withSHA {
			require.NoError(t, err)
			assert.True(t, res.GetMerged())
			assert.Equal(t, fmt.Sprint(pr.GetNumber()), s.File(repo, "main", "pushed"), "the commit pushed after the read was merged")
			continue
		}
		require.Error(t, err)
		assert.Equal(t, http.StatusConflict, status(t, resp))
		assert.Contains(t, err.Error(), "Head branch was modified")
		assert.Equal(t, mainBefore, s.Head(repo, "main"), "nothing was merged")
		assert.NotEqual(t, read.GetHead().GetSHA(), s.Head(repo, branch), "the push landed")
	}
	assert.Equal(t, 2, pushes)

	// Compare lists what head changed since the merge base, as GitHub does.
	cmp := mustCompare(t, c, "main", "change-2")
	var files []string
	for _, f := range cmp.Files {
		files = append(files, f.GetFilename()+" "+f.GetStatus())
	}
	assert.Equal(t, []string{"a modified", "pushed modified"}, files, "main holds the first PR's pushed file")
}
