package github_test

import (
	"context"
	"strconv"
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

const terraform = "sld_terraform.yaml"

// mergeDNS opens and merges the DNS change and returns the merged PR.
func mergeDNS(t *testing.T, c *github.Client, branch string) github.PR {
	t.Helper()
	ctx := context.Background()
	pr, err := c.OpenChange(ctx, dnsChange(branch))
	require.NoError(t, err)
	merged, reason, err := c.Merge(ctx, pr, pr.HeadSHA, "Merged by cutoverbot")
	require.NoError(t, err)
	require.True(t, merged, reason)
	done, err := c.Get(ctx, dnsRepo, pr.Number)
	require.NoError(t, err)
	require.NotEmpty(t, done.MergeSHA)
	return done
}

// runStates collects what WaitRun's progress hears.
type runStates struct {
	mu   sync.Mutex
	seen []string
	last github.Run
}

func (r *runStates) hear(run github.Run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, strings.TrimSuffix(run.Status+"/"+run.Conclusion, "/"))
	r.last = run
}

func (r *runStates) has(state string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.seen {
		if s == state {
			return true
		}
	}
	return false
}

// A merge starts the workflow's run for the merge commit; the wait follows it from
// queued to in progress to success, telling each change.
func TestWaitRunFollowsTheMergesRun(t *testing.T) {
	s, c := fake(t)
	ctx := context.Background()
	s.CreateRepo(dnsRepo, "main", map[string]string{dnsFile: records})
	s.AddWorkflow(dnsRepo, githubfake.Workflow{File: terraform, Name: "SLD Terraform", Branch: "main", Manual: true})
	pr := mergeDNS(t, c, "cutoverbot/run-1-dns")

	runs := s.WorkflowRuns(dnsRepo, terraform)
	require.Len(t, runs, 1, "the merge, a push to main, started one run")
	assert.Equal(t, pr.MergeSHA, runs[0].HeadSHA)
	assert.Equal(t, "push", runs[0].Event)
	id := runs[0].ID

	states := &runStates{}
	done := make(chan error, 1)
	var got github.Run
	go func() {
		var err error
		got, err = c.WaitRun(ctx, dnsRepo, terraform, pr.MergeSHA, github.WaitRunOptions{Every: 10 * time.Millisecond, Appear: time.Minute, Timeout: time.Minute, Progress: states.hear})
		done <- err
	}()
	require.Eventually(t, func() bool { return states.has("queued") }, 10*time.Second, 10*time.Millisecond)
	s.SetWorkflowRun(dnsRepo, id, "in_progress")
	require.Eventually(t, func() bool { return states.has("in_progress") }, 10*time.Second, 10*time.Millisecond)
	s.FinishWorkflowRun(dnsRepo, id, "success")
	require.NoError(t, <-done)
	assert.Equal(t, []string{"queued", "in_progress", "completed/success"}, states.seen)
	assert.Equal(t, "SLD Terraform", got.Workflow)
	assert.Equal(t, "https://github.com/"+dnsRepo+"/actions/runs/"+strconv.FormatInt(id, 10), got.URL)
	assert.True(t, got.Succeeded())
}

// A run that fails fails the wait with its link; re-run in GitHub, the same wait
// follows the new attempt of the same run to its success.
func TestWaitRunFailsWithTheRunsLinkAndFollowsARerun(t *testing.T) {
	s, c := fake(t)
	ctx := context.Background()
	s.CreateRepo(dnsRepo, "main", map[string]string{dnsFile: records})
	s.AddWorkflow(dnsRepo, githubfake.Workflow{File: terraform, Name: "SLD Terraform", Branch: "main",
		Appear: 30 * time.Millisecond, Queued: 20 * time.Millisecond, Running: 30 * time.Millisecond})
	s.FailNextRuns(dnsRepo, terraform, 1)
	pr := mergeDNS(t, c, "cutoverbot/run-1-dns")
	assert.Empty(t, s.WorkflowRuns(dnsRepo, terraform), "GitHub shows the run a moment after the push")

	opts := github.WaitRunOptions{Every: 10 * time.Millisecond, Appear: time.Minute, Timeout: time.Minute}
	run, err := c.WaitRun(ctx, dnsRepo, terraform, pr.MergeSHA, opts)
	require.Error(t, err)
	assert.Equal(t, report.RunWait{How: report.RunFailed, Repo: dnsRepo, File: terraform, Workflow: "SLD Terraform", SHA: pr.MergeSHA,
		URL: run.URL, Status: "completed", Conclusion: "failure"}, runWaitOf(t, err))
	assert.Equal(t, "failure", run.Conclusion)

	s.RerunWorkflowRun(dnsRepo, run.ID)
	states := &runStates{}
	opts.Progress = states.hear
	again, err := c.WaitRun(ctx, dnsRepo, terraform, pr.MergeSHA, opts)
	require.NoError(t, err)
	assert.Equal(t, run.ID, again.ID)
	assert.Equal(t, 2, again.Attempt)
	assert.Equal(t, "completed/success", states.seen[len(states.seen)-1])
}

// No run for the merge commit (a workflow that does not run on that branch) fails
// once the appear bound passes; a run that never finishes fails at the timeout.
func TestWaitRunIsBounded(t *testing.T) {
	s, c := fake(t)
	ctx := context.Background()
	s.CreateRepo(dnsRepo, "main", map[string]string{dnsFile: records})
	s.AddWorkflow(dnsRepo, githubfake.Workflow{File: terraform, Name: "SLD Terraform", Branch: "master", Manual: true})
	pr := mergeDNS(t, c, "cutoverbot/run-1-dns")
	_, err := c.WaitRun(ctx, dnsRepo, terraform, pr.MergeSHA, github.WaitRunOptions{Every: 10 * time.Millisecond, Appear: 50 * time.Millisecond, Timeout: time.Minute, Branch: "main"})
	require.Error(t, err)
	assert.Equal(t, report.RunWait{How: report.RunNotAppeared, Repo: dnsRepo, File: terraform, SHA: pr.MergeSHA, Branch: "main", Within: 50 * time.Millisecond},
		runWaitOf(t, err))

	s.AddWorkflow(dnsRepo, githubfake.Workflow{File: "apply.yaml", Name: "Apply", Branch: "main", Manual: true})
	head := s.Commit(dnsRepo, "main", map[string]string{"README.md": "x"}, "a push")
	run, err := c.WaitRun(ctx, dnsRepo, "apply.yaml", head, github.WaitRunOptions{Every: 10 * time.Millisecond, Appear: time.Minute, Timeout: 500 * time.Millisecond})
	require.Error(t, err)
	assert.Equal(t, report.RunWait{How: report.RunStill, Repo: dnsRepo, File: "apply.yaml", Workflow: "Apply", SHA: head, URL: run.URL, Status: "queued",
		Within: 500 * time.Millisecond}, runWaitOf(t, err))

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.WaitRun(cctx, dnsRepo, "apply.yaml", head, github.WaitRunOptions{Timeout: time.Minute})
	assert.ErrorIs(t, err, context.Canceled, "a cancelled step says so")
}

func TestRunsSince(t *testing.T) {
	s, c := fake(t)
	ctx := context.Background()
	s.CreateRepo(app, "main", map[string]string{"README.md": "MeshDB"})
	s.AddWorkflow(app, githubfake.Workflow{File: workflow, Name: "Publish and Deploy", Branch: "main", Manual: true})
	before := time.Now().Add(-time.Hour)
	s.Commit(app, "main", map[string]string{"a": "1"}, "one")
	s.Commit(app, "feature", map[string]string{"a": "2"}, "not main: no deploy")
	s.Commit(app, "main", map[string]string{"a": "3"}, "three")
	runs, err := c.RunsSince(ctx, app, workflow, before)
	require.NoError(t, err)
	require.Len(t, runs, 2)
	assert.Equal(t, s.Head(app, "main"), runs[0].HeadSHA, "newest first")
	assert.Equal(t, "queued", runs[0].Status)
	runs, err = c.RunsSince(ctx, app, workflow, time.Now().Add(time.Hour))
	require.NoError(t, err)
	assert.Empty(t, runs)
}

// The fake's timed runs go through every state by themselves and tell hooks.
func TestFakeRunsProgressAfterAPush(t *testing.T) {
	s, _ := fake(t)
	s.CreateRepo(certRepo, "main", map[string]string{"terraform/prod1.tfvars": "x"})
	s.AddWorkflow(certRepo, githubfake.Workflow{File: "deploy_environments.yaml", Name: "Deploy Environments", Branch: "main",
		Environments: []string{"dev3", "prod1"}, Appear: 10 * time.Millisecond, Queued: 10 * time.Millisecond, Running: 10 * time.Millisecond})
	var mu sync.Mutex
	var heard []string
	s.OnWorkflowRun(func(repo string, run githubfake.WorkflowRun) {
		mu.Lock()
		defer mu.Unlock()
		heard = append(heard, run.Status+"/"+run.Conclusion)
		assert.Equal(t, []string{"dev3", "prod1"}, run.Environments)
	})
	sha := s.Commit(certRepo, "main", map[string]string{"terraform/prod1.tfvars": "y"}, "push")
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(heard) == 3
	}, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"queued/", "in_progress/", "completed/success"}, heard)
	runs := s.WorkflowRuns(certRepo, "deploy_environments.yaml")
	require.Len(t, runs, 1)
	assert.Equal(t, sha, runs[0].HeadSHA)
	assert.Contains(t, s.File(certRepo, "main", ".github/workflows/deploy_environments.yaml"), "environment: prod1", "the workflow's file is in the repository")
}

// runWaitOf is how a wait for a run ended, as its failure says.
func runWaitOf(t *testing.T, err error) report.RunWait {
	t.Helper()
	var f *report.Failed
	require.ErrorAs(t, err, &f)
	w, ok := f.Facts.(report.RunWait)
	require.True(t, ok, "%T", f.Facts)
	return w
}
