package steps_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cutoverbot "github.com/nycmeshnet/cutoverbot"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/github"
	"github.com/nycmeshnet/cutoverbot/ops/github/githubfake"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
)

// The DNS file as nycmesh-dns holds it while prod2 (sn10) serves MeshDB.
const prRecords = `resource "namedotcom_record" "meshdb_prod_meshdb" {
  domain_name = "nycmesh.net"
  host        = "db"
  record_type = "CNAME"
  answer      = "kubernetes-lb-prod-sn10.nycmesh.net"
}

resource "namedotcom_record" "wiki" {
  domain_name = "nycmesh.net"
  host        = "wiki"
  record_type = "CNAME"
  answer      = "kubernetes-lb-prod-sn10.nycmesh.net"
}
`

// The one line the bot's DNS change makes, and a record nobody approved.
const (
	botLine     = `answer      = "kubernetes-lb-prod-sn3.nycmesh.net"`
	foreignLine = `answer      = "attacker.example.net"`
)

var prSwitched = strings.Replace(prRecords, `"kubernetes-lb-prod-sn10.nycmesh.net"`, `"kubernetes-lb-prod-sn3.nycmesh.net"`, 1)

// prWorld is the pull-request step against a local GitHub, for the default plan from
// prod2 to prod1.
type prWorld struct {
	gh   *githubfake.Server
	cfg  *config.Config
	exec *steps.Executor
	run  *engine.Run
	mu   sync.Mutex
	said []string
}

func newPRWorld(t *testing.T) *prWorld { return newPRWorldWords(t, testPRWords) }

// newPRWorldWords is newPRWorld with the pull requests worded by words.
func newPRWorldWords(t *testing.T, words steps.PRWords) *prWorld {
	t.Helper()
	fake, err := githubfake.Start()
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	cfg, problems := config.Parse(cutoverbot.ExampleConfig, config.Options{Getenv: func(string) string { return "" }})
	require.Empty(t, problems.Criticals())
	cfg.GitHub.APIURL = fake.URL()
	cfg.DNS.PollEvery.Duration = 5 * time.Millisecond // how often a waiting PR is read
	cfg.State.Dir = t.TempDir()
	// The workflow runs a merge starts are followed by tests of their own.
	cfg.GitHub.DNS.Workflow, cfg.GitHub.Certs.Workflow = "", ""
	fake.CreateRepo(cfg.GitHub.DNS.Repo, cfg.GitHub.DNS.Branch, map[string]string{cfg.GitHub.DNS.File: prRecords, "README.md": "records"})
	client, err := github.New(fake.URL(), fake.Token(), nil)
	require.NoError(t, err)
	client.SetCallTimeout(5 * time.Second)
	exec := steps.New(cfg)
	_, err = steps.RegisterTrafficSteps(exec, cfg, client, words)
	require.NoError(t, err)
	p, err := plan.Build(cfg, "prod2", "prod1")
	require.NoError(t, err)
	run := &engine.Run{ID: "20261207-0300-abcd", Origin: "prod2", Destination: "prod1", Initiator: "U01ALICE", State: engine.Active, Plan: p}
	for _, s := range p.Steps {
		run.Steps = append(run.Steps, engine.StepRun{Step: s})
	}
	return &prWorld{gh: fake, cfg: cfg, exec: exec, run: run}
}

func (w *prWorld) repo() string { return w.cfg.GitHub.DNS.Repo }

func (w *prWorld) mainFile() string {
	return w.gh.File(w.repo(), w.cfg.GitHub.DNS.Branch, w.cfg.GitHub.DNS.File)
}

// step runs attempt of the run's step id and records its outcome in the run, as the
// engine would.
func (w *prWorld) step(t *testing.T, ctx context.Context, id string, attempt int) (engine.Output, error) {
	t.Helper()
	i := -1
	for j, s := range w.run.Steps {
		if s.Step.ID == id {
			i = j
		}
	}
	require.GreaterOrEqual(t, i, 0, "no step %s", id)
	x := engine.StepContext{Run: w.run, Index: i, Step: w.run.Steps[i].Step, Attempt: attempt,
		ProgressReport: func(v engine.Reported) {
			r := engine.ReportOf(v)
			w.mu.Lock()
			w.said = append(w.said, r.Kind+" "+string(r.Facts))
			w.mu.Unlock()
		},
		Record: func(any) error { return nil }, OnlyWaiting: func() {}}
	out, err := w.exec.Execute(ctx, x)
	s := &w.run.Steps[i]
	s.Attempt, s.Output, s.State, s.Error = attempt, out, engine.Succeeded, ""
	if err != nil {
		s.State, s.Error = engine.Failed, err.Error()
	}
	return out, err
}

// rollback appends the undo steps of what ran, as an abort does.
func (w *prWorld) rollback(ran map[string]plan.Ran) {
	for _, s := range plan.Rollback(w.run.Plan, ran) {
		w.run.Steps = append(w.run.Steps, engine.StepRun{Step: s, Rollback: true})
	}
}

func (w *prWorld) progress() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.said, "\n")
}

// pushForeign commits a change nobody approved to branch: the bot's line stays, and a
// record of its own is added.
func (w *prWorld) pushForeign(branch, base string) string {
	return w.gh.Commit(w.repo(), branch, map[string]string{w.cfg.GitHub.DNS.File: strings.Replace(base, `answer      = "kubernetes-lb-prod-sn10.nycmesh.net"
}
`, foreignLine+"\n}\n", 1)}, "a commit nobody approved")
}

func dnsBranch(run *engine.Run) string { return fmt.Sprintf("cutoverbot/%s-dns", run.ID) }

func TestThePullRequestStepMergesTheHeadItCompared(t *testing.T) {
	w := newPRWorld(t)
	out, err := w.step(t, context.Background(), "pr-dns", 1)
	require.NoError(t, err)
	assert.Equal(t, prSwitched, w.mainFile())
	res, ok, err := engine.ResultOf[steps.PullRequestResult](w.run, "pr-dns")
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, res.Merged)
	pulls := w.gh.Pulls(w.repo())
	require.Len(t, pulls, 1)
	assert.Equal(t, pulls[0].HeadSHA, res.HeadSHA, "the result names the head that was compared and merged")
	assert.Equal(t, report.Merged{URL: res.URL}, reported[report.Merged](t, out))
	assert.True(t, strings.HasSuffix(res.URL, "/pull/1"), res.URL)
}

// A push lands on the PR's branch between the bot's last read and its merge: the bot's
// merge names the head it compared, GitHub refuses it, and the bot, reading the branch
// again, finds a change it did not make and stops with both versions.
func TestAPushBeforeTheMergeIsNotMerged(t *testing.T) {
	w := newPRWorld(t)
	pushed := ""
	w.gh.OnMergeRequest(func(repo string, number int) {
		if pushed == "" {
			pushed = w.pushForeign(dnsBranch(w.run), prSwitched)
		}
	})
	_, err := w.step(t, context.Background(), "pr-dns", 1)
	require.NotEmpty(t, pushed, "the merge was requested")
	assert.Equal(t, prRecords, w.mainFile(), "main holds nothing of the pushed commit, nor the unchecked PR")
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "https://github.com/"+w.repo()+"/pull/1")
	assert.Contains(t, msg, "not merged")
	assert.Contains(t, msg, botLine, "the bot's version is shown")
	assert.Contains(t, msg, foreignLine, "the PR's version is shown")
	assert.Contains(t, msg, pushed[:7], "the head compared is named")
	assert.Equal(t, "open", w.gh.Pulls(w.repo())[0].State)
}

// A push that changes nothing the PR shows (an empty commit, a rebase) moves the head
// but not the change: the bot compares again and merges the new head.
func TestAPushThatKeepsTheChangeIsMergedAtItsNewHead(t *testing.T) {
	w := newPRWorld(t)
	pushed := ""
	w.gh.OnMergeRequest(func(repo string, number int) {
		if pushed == "" {
			pushed = w.gh.Commit(w.repo(), dnsBranch(w.run), map[string]string{}, "an empty commit")
		}
	})
	_, err := w.step(t, context.Background(), "pr-dns", 1)
	require.NoError(t, err)
	assert.Equal(t, prSwitched, w.mainFile())
	res, _, err := engine.ResultOf[steps.PullRequestResult](w.run, "pr-dns")
	require.NoError(t, err)
	assert.Equal(t, pushed, res.HeadSHA)
}

// A retry finds the PR an earlier attempt opened; someone has pushed to it since. The
// bot does not merge it.
func TestARetryDoesNotMergeAPRSomeoneChanged(t *testing.T) {
	w := newPRWorld(t)
	ctx := context.Background()
	w.gh.FailNext("PUT /repos/"+w.repo()+"/pulls/1/merge", 1, http.StatusBadGateway)
	_, err := w.step(t, ctx, "pr-dns", 1)
	require.ErrorContains(t, err, "502")
	require.Len(t, w.gh.Pulls(w.repo()), 1, "attempt 1 opened the PR")
	pushed := w.pushForeign(dnsBranch(w.run), prSwitched)

	_, err = w.step(t, ctx, "pr-dns", 2)
	require.Error(t, err)
	assert.Contains(t, err.Error(), foreignLine)
	assert.Contains(t, err.Error(), botLine)
	assert.Contains(t, err.Error(), pushed[:7])
	assert.Equal(t, prRecords, w.mainFile(), "nothing was merged")
	assert.Len(t, w.gh.Pulls(w.repo()), 1, "no second PR")
}

// The revert PR of the rollback is compared and merged by its head the same way.
func TestARevertPRSomeoneChangedIsNotMerged(t *testing.T) {
	w := newPRWorld(t)
	ctx := context.Background()
	_, err := w.step(t, ctx, "pr-dns", 1)
	require.NoError(t, err)
	require.Equal(t, prSwitched, w.mainFile())
	w.rollback(map[string]plan.Ran{"pr-dns": plan.Done})
	revert := w.run.Steps[len(w.run.Plan.Steps)].Step
	require.Equal(t, "pr-dns", revert.PullRequest.RevertOf)

	pushed := ""
	w.gh.OnMergeRequest(func(repo string, number int) {
		if pushed == "" && number == 2 {
			pushed = w.pushForeign(dnsBranch(w.run)+"-revert", prRecords)
		}
	})
	_, err = w.step(t, ctx, revert.ID, 1)
	require.NotEmpty(t, pushed, "the revert's merge was requested")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/pull/2")
	assert.Contains(t, err.Error(), foreignLine)
	assert.Equal(t, prSwitched, w.mainFile(), "the revert was not merged")

	// Without the foreign commit the retried revert merges.
	w.gh.Commit(w.repo(), dnsBranch(w.run)+"-revert", map[string]string{w.cfg.GitHub.DNS.File: prRecords}, "drop the commit nobody approved")
	_, err = w.step(t, ctx, revert.ID, 2)
	require.NoError(t, err)
	assert.Equal(t, prRecords, w.mainFile(), "DNS points back at the origin")
}

// When GitHub refuses the bot's merge, a person merges; if what they merged is not the
// change the bot compared, the step says so instead of reporting success.
func TestAPersonMergingAChangedPRFailsTheStep(t *testing.T) {
	w := newPRWorld(t)
	w.gh.RefuseMerges(w.repo(), "At least 1 approving review is required by reviewers with write access.")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := w.step(t, ctx, "pr-dns", 1)
		errc <- err
	}()
	require.Eventually(t, func() bool { return strings.Contains(w.progress(), "awaiting_merge {") }, 20*time.Second, 5*time.Millisecond)
	w.pushForeign(dnsBranch(w.run), prSwitched)
	require.NoError(t, w.gh.MergePR(w.repo(), 1))
	err := <-errc
	require.Error(t, err)
	assert.Contains(t, err.Error(), "was merged")
	assert.Contains(t, err.Error(), foreignLine)
	assert.Contains(t, err.Error(), botLine)
}
