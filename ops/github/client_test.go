package github_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/github"
	"github.com/nycmeshnet/cutoverbot/ops/github/githubfake"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

const (
	token    = "ghp_test_token_do_not_print"
	app      = "nycmeshnet/meshdb"
	dnsRepo  = "nycmeshnet/nycmesh-dns"
	certRepo = "nycmeshnet/k8s-infra"
	dnsFile  = "sld/records.nycmesh.net.tf"
	workflow = "publish-and-deploy.yaml"
)

func fake(t *testing.T) (*githubfake.Server, *github.Client) {
	t.Helper()
	s, err := githubfake.Start(token)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	c, err := github.New(s.URL(), token, nil)
	require.NoError(t, err)
	c.SetCallTimeout(5 * time.Second)
	return s, c
}

func TestNew(t *testing.T) {
	for _, tc := range []struct{ url, msg string }{
		{"", ""},
		{"https://ghe.example/api/v3/", ""},
		{"https://ghe.example/api/v3", ""},
		{"ftp://ghe.example/", "must be an http(s) URL"},
		{"ghe.example", "must be an http(s) URL"},
		{"http://[::1", "github.api_url"},
	} {
		_, err := github.New(tc.url, token, nil)
		if tc.msg == "" {
			assert.NoError(t, err, tc.url)
		} else {
			assert.ErrorContains(t, err, tc.msg, tc.url)
		}
	}
	// The REST root is used as given, without a trailing slash too.
	s, _ := fake(t)
	s.CreateRepo(app, "main", map[string]string{"README.md": "MeshDB"})
	c, err := github.New(strings.TrimSuffix(s.URL(), "/"), token, nil)
	require.NoError(t, err)
	pull, push, err := c.Access(context.Background(), app)
	require.NoError(t, err)
	assert.True(t, pull && push)
}

func TestDeployedLatest(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		prepare func(s *githubfake.Server, first string)
		ok      bool
		behind  int
		running int
		how     report.NotDeployedHow // "": the environment runs the head
	}{
		{name: "head deployed", ok: true, prepare: func(s *githubfake.Server, first string) {
			s.AddDeployment(app, "prod1", first, "success")
			s.AddWorkflowRun(app, workflow, "completed")
			s.AddWorkflowRun(app, "tests.yaml", "in_progress") // another workflow does not count
		}},
		{name: "behind by two, a newer failed deploy does not count", behind: 2, how: report.NotDeployedBehind, prepare: func(s *githubfake.Server, first string) {
			s.AddDeployment(app, "prod1", first, "success")
			s.Commit(app, "main", map[string]string{"a": "1"}, "one")
			head := s.Commit(app, "main", map[string]string{"a": "2"}, "two")
			s.AddDeployment(app, "prod1", head, "failure")
			s.AddDeployment(app, "prod2", head, "success") // another environment does not count
		}},
		{name: "deploy running", running: 2, prepare: func(s *githubfake.Server, first string) {
			s.AddDeployment(app, "prod1", first, "success")
			s.AddWorkflowRun(app, workflow, "in_progress")
			s.AddWorkflowRun(app, workflow, "queued")
		}},
		{name: "never deployed", how: report.NotDeployedNone, prepare: func(s *githubfake.Server, first string) {
			s.AddDeployment(app, "prod1", first, "error")
		}},
		{name: "deployed a sha not on main", behind: 1, how: report.NotDeployedDiverged, prepare: func(s *githubfake.Server, first string) {
			side := s.Commit(app, "hotfix", map[string]string{"b": "1"}, "hotfix")
			s.Commit(app, "main", map[string]string{"a": "1"}, "one")
			s.AddDeployment(app, "prod1", side, "success")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := fake(t)
			first := s.CreateRepo(app, "main", map[string]string{"README.md": "MeshDB"})
			tc.prepare(s, first)
			st, err := c.DeployedLatest(ctx, app, "main", "prod1", workflow)
			require.NoError(t, err)
			assert.Equal(t, tc.ok, st.OK, "%+v", st)
			assert.Equal(t, s.Head(app, "main"), st.HeadSHA)
			assert.Equal(t, tc.behind, st.Behind)
			assert.Len(t, st.RunningDeploys, tc.running)
			if tc.ok {
				assert.Equal(t, st.HeadSHA, st.DeployedSHA)
			}
			// What the environment runs is a problem of its own, running deploys aside.
			if tc.how == "" {
				assert.Nil(t, st.NotDeployed)
			} else if assert.NotNil(t, st.NotDeployed) {
				want := report.NotDeployed{How: tc.how, Repo: app, Branch: "main", Environment: "prod1", Head: st.HeadSHA, Deployed: st.DeployedSHA, Ahead: tc.behind}
				if tc.how == report.NotDeployedDiverged {
					want.Behind = 1 // the hotfix commit, not on main
				}
				assert.Equal(t, want, *st.NotDeployed)
			}
			for _, u := range st.RunningDeploys {
				assert.Contains(t, u, "https://github.com/"+app+"/actions/runs/")
			}
		})
	}
}

func TestBadTokenIsRefusedAndNeverPrinted(t *testing.T) {
	s, _ := fake(t)
	s.CreateRepo(app, "main", map[string]string{"README.md": "MeshDB"})
	const wrong = "ghp_wrong_secret_value"
	bad, err := github.New(s.URL(), wrong, nil)
	require.NoError(t, err)
	_, err = bad.DeployedLatest(context.Background(), app, "main", "prod1", workflow)
	require.ErrorContains(t, err, "401")
	assert.NotContains(t, err.Error(), wrong)
	assert.NotContains(t, err.Error(), token)
}

func dnsChange(branch string) github.ChangeRequest {
	return github.ChangeRequest{Repo: dnsRepo, Base: "main", Branch: branch, Title: "Point db.nycmesh.net at sn3", Body: "run 1", CommitMessage: "Point db at sn3",
		Files: map[string]func([]byte) ([]byte, error){dnsFile: func(b []byte) ([]byte, error) {
			return github.EditDNSAnswer(b, "meshdb_prod_meshdb", sn10, sn3)
		}}}
}

func TestDNSPullRequest(t *testing.T) {
	s, c := fake(t)
	ctx := context.Background()
	s.CreateRepo(dnsRepo, "main", map[string]string{dnsFile: records, "README.md": "records"})
	pr, err := c.OpenChange(ctx, dnsChange("cutoverbot/run-1-dns"))
	require.NoError(t, err)
	assert.Equal(t, 1, pr.Number)
	assert.Equal(t, "https://github.com/"+dnsRepo+"/pull/1", pr.URL)
	assert.Equal(t, "open", pr.State)
	assert.False(t, pr.Merged)
	assert.Equal(t, "cutoverbot/run-1-dns", pr.Branch)
	assert.Equal(t, s.Head(dnsRepo, "cutoverbot/run-1-dns"), pr.HeadSHA)
	assert.Equal(t, switched, s.File(dnsRepo, "cutoverbot/run-1-dns", dnsFile), "the branch holds the one-line change")
	assert.Equal(t, records, s.File(dnsRepo, "main", dnsFile), "main is untouched until the merge")

	var hooked []int
	var mu sync.Mutex
	s.OnMerge(func(repo string, p githubfake.PR) {
		mu.Lock()
		defer mu.Unlock()
		hooked = append(hooked, p.Number)
	})
	merged, reason, err := c.Merge(ctx, pr, pr.HeadSHA, "Merged by cutoverbot")
	require.NoError(t, err)
	assert.True(t, merged, reason)
	assert.Equal(t, switched, s.File(dnsRepo, "main", dnsFile))
	assert.Equal(t, "records", s.File(dnsRepo, "main", "README.md"))
	mu.Lock()
	assert.Equal(t, []int{1}, hooked)
	mu.Unlock()
	got, err := c.PRState(ctx, dnsRepo, 1)
	require.NoError(t, err)
	assert.True(t, got.Merged)
	assert.True(t, got.Merged)
	assert.Equal(t, s.Head(dnsRepo, "main"), got.MergeSHA)
}

func TestOpenChangeIsIdempotent(t *testing.T) {
	s, c := fake(t)
	ctx := context.Background()
	s.CreateRepo(dnsRepo, "main", map[string]string{dnsFile: records})
	pr, err := c.OpenChange(ctx, dnsChange("cutoverbot/run-1-dns"))
	require.NoError(t, err)
	again, err := c.OpenChange(ctx, dnsChange("cutoverbot/run-1-dns"))
	require.NoError(t, err)
	assert.Equal(t, pr, again, "a retry finds the same PR")
	assert.Len(t, s.Pulls(dnsRepo), 1)
	assert.Equal(t, []string{"cutoverbot/run-1-dns", "main"}, s.Branches(dnsRepo))

}

func TestOpenChangeResumesABranchWithoutPR(t *testing.T) {
	s, c := fake(t)
	ctx := context.Background()
	s.CreateRepo(dnsRepo, "main", map[string]string{dnsFile: records})
	// An attempt that dies after committing but before opening the PR.
	first := dnsChange("cutoverbot/run-3-dns")
	s.FailNext("POST /repos/"+dnsRepo+"/pulls", 1, http.StatusBadGateway)
	_, err := c.OpenChange(ctx, first)
	require.ErrorContains(t, err, "open the pull request")
	require.Contains(t, s.Branches(dnsRepo), "cutoverbot/run-3-dns", "the branch was made")
	head := s.Head(dnsRepo, "cutoverbot/run-3-dns")
	assert.Empty(t, s.Pulls(dnsRepo))

	pr, err := c.OpenChange(ctx, first)
	require.NoError(t, err)
	assert.Equal(t, 1, pr.Number)
	assert.Equal(t, head, s.Head(dnsRepo, "cutoverbot/run-3-dns"), "no second commit on the branch")
	assert.Equal(t, switched, s.File(dnsRepo, "cutoverbot/run-3-dns", dnsFile))
}

func TestRefusedEditOpensNothing(t *testing.T) {
	s, c := fake(t)
	s.CreateRepo(dnsRepo, "main", map[string]string{dnsFile: "# nothing here\n"})
	_, err := c.OpenChange(context.Background(), dnsChange("cutoverbot/run-2-dns"))
	require.ErrorContains(t, err, "meshdb_prod_meshdb is not in the file")
	assert.Empty(t, s.Pulls(dnsRepo))
	assert.Equal(t, []string{"main"}, s.Branches(dnsRepo), "no branch is left behind")

	_, err = c.OpenChange(context.Background(), github.ChangeRequest{Repo: dnsRepo, Base: "main", Branch: "x", Title: "t",
		Files: map[string]func([]byte) ([]byte, error){"missing.tf": func(b []byte) ([]byte, error) { return b, nil }}})
	assert.ErrorContains(t, err, "missing.tf is not in "+dnsRepo)
}

func TestMergeRefusedThenAPersonMerges(t *testing.T) {
	s, c := fake(t)
	ctx := context.Background()
	s.CreateRepo(dnsRepo, "main", map[string]string{dnsFile: records})
	pr, err := c.OpenChange(ctx, dnsChange("cutoverbot/run-1-dns"))
	require.NoError(t, err)

	s.RefuseMerges(dnsRepo, "Required status check \"terraform plan\" is expected.")
	merged, reason, err := c.Merge(ctx, pr, pr.HeadSHA, "Merged by cutoverbot")
	require.NoError(t, err, "a refusal is an answer, not a failure")
	assert.False(t, merged)
	assert.Equal(t, "Required status check \"terraform plan\" is expected.", reason)
	assert.Equal(t, records, s.File(dnsRepo, "main", dnsFile))

	// The wait sees the PR open, then a person merges it in the web UI.
	polls := 0
	done, err := c.WaitMerged(ctx, pr, time.Millisecond, func(p github.PR) {
		polls++
		assert.Equal(t, "open", p.State)
		if polls == 3 {
			require.NoError(t, s.MergePR(dnsRepo, pr.Number))
		}
	})
	require.NoError(t, err)
	assert.Equal(t, 3, polls)
	assert.True(t, done.Merged)
	assert.Equal(t, switched, s.File(dnsRepo, "main", dnsFile))

	// Merging again (a retried step) counts as merged.
	merged, reason, err = c.Merge(ctx, done, done.HeadSHA, "again")
	require.NoError(t, err)
	assert.True(t, merged, reason)
}

func TestWaitMergedEnds(t *testing.T) {
	s, c := fake(t)
	s.CreateRepo(dnsRepo, "main", map[string]string{dnsFile: records})
	pr, err := c.OpenChange(context.Background(), dnsChange("cutoverbot/run-1-dns"))
	require.NoError(t, err)

	// GitHub failing throughout: the wait ends with the context and tells the last error.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	s.FailNext("GET /repos/"+dnsRepo+"/pulls/1", 1<<30, http.StatusServiceUnavailable)
	_, err = c.WaitMerged(ctx, pr, 5*time.Millisecond, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "503", "the last read error is told")
	s.FailNext("", 0, 0) // clears the failures

	s.ClosePR(dnsRepo, pr.Number)
	_, err = c.WaitMerged(context.Background(), pr, time.Millisecond, nil)
	assert.ErrorContains(t, err, "closed without merging")
}

func TestCertsPullRequest(t *testing.T) {
	s, c := fake(t)
	ctx := context.Background()
	prod1 := "cluster = \"prod1\"\nmeshdb_fqdn = [\n  \"sn10temp.nycmesh.net\",\n]\n"
	prod2 := "cluster = \"prod2\"\nmeshdb_fqdn = [\"db.nycmesh.net\", \"devdb.nycmesh.net\"]\n"
	s.CreateRepo(certRepo, "main", map[string]string{"terraform/prod1.tfvars": prod1, "terraform/prod2.tfvars": prod2})
	pr, err := c.OpenChange(ctx, github.ChangeRequest{Repo: certRepo, Base: "main", Branch: "cutoverbot/run-1-certs", Title: "Serve db.nycmesh.net from prod1",
		Files: map[string]func([]byte) ([]byte, error){
			"terraform/prod1.tfvars": func(b []byte) ([]byte, error) {
				return github.EditFQDNList(b, "meshdb_fqdn", "db.nycmesh.net", "sn10temp.nycmesh.net", true)
			},
			"terraform/prod2.tfvars": func(b []byte) ([]byte, error) {
				return github.EditFQDNList(b, "meshdb_fqdn", "db.nycmesh.net", "sn10temp.nycmesh.net", false)
			},
		}})
	require.NoError(t, err)
	merged, _, err := c.Merge(ctx, pr, pr.HeadSHA, "")
	require.NoError(t, err)
	require.True(t, merged)
	assert.Equal(t, "cluster = \"prod1\"\nmeshdb_fqdn = [\n  \"db.nycmesh.net\",\n]\n", s.File(certRepo, "main", "terraform/prod1.tfvars"))
	assert.Equal(t, "cluster = \"prod2\"\nmeshdb_fqdn = [\"devdb.nycmesh.net\"]\n", s.File(certRepo, "main", "terraform/prod2.tfvars"))
}

// revertText is how the caller words a revert (the transport's words, in production).
var revertText = github.Text{Title: "Revert #1", Body: "Rollback of run 1", CommitMessage: "Revert #1 (the merged PR)"}

func TestRevertRestoresTheFilesBeforeTheMerge(t *testing.T) {
	s, c := fake(t)
	ctx := context.Background()
	s.CreateRepo(dnsRepo, "main", map[string]string{dnsFile: records, "README.md": "records"})
	s.DeleteBranchOnMerge(dnsRepo, true) // the revert must not need the PR's branch
	pr, err := c.OpenChange(ctx, dnsChange("cutoverbot/run-1-dns"))
	require.NoError(t, err)
	s.Commit(dnsRepo, "main", map[string]string{"README.md": "records, edited meanwhile"}, "docs")
	merged, _, err := c.Merge(ctx, pr, pr.HeadSHA, "")
	require.NoError(t, err)
	require.True(t, merged)
	done, err := c.Get(ctx, dnsRepo, pr.Number)
	require.NoError(t, err)
	require.NotContains(t, s.Branches(dnsRepo), "cutoverbot/run-1-dns")

	rev, err := c.Revert(ctx, done, "main", "cutoverbot/run-1-dns-revert", nil, revertText)
	require.NoError(t, err)
	assert.Equal(t, 2, rev.Number)
	assert.Equal(t, "Revert #1", s.Pulls(dnsRepo)[1].Title)
	again, err := c.Revert(ctx, done, "main", "cutoverbot/run-1-dns-revert", nil, revertText)
	require.NoError(t, err)
	assert.Equal(t, rev.Number, again.Number, "a retried rollback finds its PR")
	assert.Len(t, s.Pulls(dnsRepo), 2)

	ok, _, err := c.Merge(ctx, rev, rev.HeadSHA, "revert")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, records, s.File(dnsRepo, "main", dnsFile), "byte for byte as before")
	assert.Equal(t, "records, edited meanwhile", s.File(dnsRepo, "main", "README.md"), "other files are not touched")
}

func TestRevertRefusesToOverwriteALaterChange(t *testing.T) {
	s, c := fake(t)
	ctx := context.Background()
	s.CreateRepo(dnsRepo, "main", map[string]string{dnsFile: records})
	pr, err := c.OpenChange(ctx, dnsChange("cutoverbot/run-1-dns"))
	require.NoError(t, err)
	_, _, err = c.Merge(ctx, pr, pr.HeadSHA, "")
	require.NoError(t, err)
	done, err := c.Get(ctx, dnsRepo, pr.Number)
	require.NoError(t, err)

	_, err = c.Revert(ctx, pr, "main", "cutoverbot/run-1-dns-revert", []string{dnsFile}, revertText)
	require.ErrorContains(t, err, "is not merged", "the PR as it was when opened is not the merged one")

	s.Commit(dnsRepo, "main", map[string]string{dnsFile: switched + "# and a new record\n"}, "someone else")
	_, err = c.Revert(ctx, done, "main", "cutoverbot/run-1-dns-revert", []string{dnsFile}, revertText)
	assert.ErrorContains(t, err, dnsFile+" changed on main since https://github.com/"+dnsRepo+"/pull/1 was merged")

	s.Commit(dnsRepo, "main", map[string]string{dnsFile: records}, "reverted by hand")
	_, err = c.Revert(ctx, done, "main", "cutoverbot/run-1-dns-revert", []string{dnsFile}, revertText)
	assert.ErrorContains(t, err, "nothing to revert")
	assert.Len(t, s.Pulls(dnsRepo), 1)
}

func TestServerErrorsSurfaceAndRetriesGoThrough(t *testing.T) {
	s, c := fake(t)
	s.CreateRepo(dnsRepo, "main", map[string]string{dnsFile: records})
	s.FailNext("/repos/"+dnsRepo+"/pulls", 1, http.StatusBadGateway)
	_, err := c.OpenChange(context.Background(), dnsChange("cutoverbot/run-3-dns"))
	require.ErrorContains(t, err, "502")
	pr, err := c.OpenChange(context.Background(), dnsChange("cutoverbot/run-3-dns"))
	require.NoError(t, err, "the retry goes through")
	assert.Equal(t, 1, pr.Number)
}
