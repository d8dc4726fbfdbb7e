package steps_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot"
	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/dns/dnsfake"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/github"
	"github.com/nycmeshnet/cutoverbot/ops/github/githubfake"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
)

// githubWorld is the GitHub side of the traffic steps, with nothing but GitHub (and a
// resolver for preflight): the shipped example configuration pointed at githubfake.
type githubWorld struct {
	cfg  *config.Config
	gh   *githubfake.Server
	exec *steps.Executor
	run  *engine.Run
	mu   sync.Mutex
	said []string
	// reported is the progress reported as data, in order.
	reported []engine.Reported
}

const ghToken = "ghp_steps_test"

func newGitHubWorld(t *testing.T, dnsWorkflow, certWorkflow githubfake.Workflow) *githubWorld {
	t.Helper()
	cfg, problems := config.Parse(cutoverbot.ExampleConfig, config.Options{Getenv: func(string) string { return "" }})
	require.Empty(t, problems.Criticals())
	s, err := githubfake.Start(ghToken)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	r, err := dnsfake.Start()
	require.NoError(t, err)
	t.Cleanup(r.Close)
	r.SetCNAME(cfg.DNS.Name, cfg.Clusters["prod2"].LBHostname)
	cfg.GitHub.APIURL = s.URL()
	cfg.DNS.Resolvers = []string{r.Addr()}
	cfg.DNS.PollEvery = config.Duration{Duration: 20 * time.Millisecond}
	cfg.GitHub.RunPollEvery = config.Duration{Duration: 10 * time.Millisecond}
	cfg.State.Dir = t.TempDir()
	g := cfg.GitHub

	s.CreateRepo(g.App.Repo, g.App.Branch, map[string]string{"README.md": "MeshDB"})
	for _, c := range cfg.Clusters {
		s.AddDeployment(g.App.Repo, c.GitHubEnvironment, s.Head(g.App.Repo, g.App.Branch), "success")
	}
	s.CreateRepo(g.DNS.Repo, g.DNS.Branch, map[string]string{g.DNS.File: "resource \"namedotcom_record\" \"meshdb_prod_meshdb\" {\n  answer = \"" + cfg.Clusters["prod2"].LBHostname + "\"\n}\n"})
	s.AddWorkflow(g.DNS.Repo, dnsWorkflow)
	s.CreateRepo(g.Certs.Repo, g.Certs.Branch, map[string]string{
		"terraform/prod1.tfvars": "meshdb_fqdn = [\n  \"sn10temp.nycmesh.net\",\n]\n",
		"terraform/prod2.tfvars": "meshdb_fqdn = [\n  \"db.nycmesh.net\",\n]\n"})
	s.AddWorkflow(g.Certs.Repo, certWorkflow)

	client, err := github.New(s.URL(), ghToken, nil)
	require.NoError(t, err)
	w := &githubWorld{cfg: cfg, gh: s, exec: steps.New(cfg)}
	_, err = steps.RegisterTrafficSteps(w.exec, cfg, client, testPRWords)
	require.NoError(t, err)
	p, err := plan.Build(cfg, "prod2", "prod1")
	require.NoError(t, err)
	w.run = &engine.Run{ID: "20261207-1200-gh", Origin: "prod2", Destination: "prod1", Initiator: "U01ALICE", State: engine.Active, Plan: p}
	for _, st := range p.Steps {
		w.run.Steps = append(w.run.Steps, engine.StepRun{Step: st, State: engine.Pending})
	}
	return w
}

func (w *githubWorld) step(t *testing.T, id string, attempt int) (engine.Output, error) {
	t.Helper()
	i := w.run.Plan.Index(id)
	require.GreaterOrEqual(t, i, 0, id)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return w.exec.Execute(ctx, engine.StepContext{Run: w.run.Clone(), Index: i, Step: w.run.Plan.Steps[i], Attempt: attempt,
		OnlyWaiting: func() {},
		ProgressReport: func(v engine.Reported) {
			r := engine.ReportOf(v)
			w.mu.Lock()
			w.said = append(w.said, r.Kind+" "+string(r.Facts))
			w.reported = append(w.reported, v)
			w.mu.Unlock()
		}})
}

func (w *githubWorld) progress() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.said, "\n")
}

func terraformWorkflow() githubfake.Workflow {
	return githubfake.Workflow{File: "sld_terraform.yaml", Name: "SLD Terraform", Branch: "main", Environments: []string{"prod"},
		Appear: 20 * time.Millisecond, Queued: 20 * time.Millisecond, Running: 20 * time.Millisecond}
}

func deployWorkflow(envs ...string) githubfake.Workflow {
	return githubfake.Workflow{File: "deploy_environments.yaml", Name: "Deploy Environments", Branch: "main", Environments: envs,
		Appear: 20 * time.Millisecond, Queued: 20 * time.Millisecond, Running: 20 * time.Millisecond}
}

// After the merge the step follows the workflow run the merge commit started, in its
// progress message, and fails with the run's link when the run fails; re-run in
// GitHub, a Retry waits for the same run and succeeds.
func TestPullRequestWaitsForTheRunItsMergeStarts(t *testing.T) {
	// The run is timed from the merge, as GitHub's is, so the states it passes through
	// must outlast what the step does between the merge and its first poll on a loaded
	// machine: 20 ms each lost "queued" once in a helper's parallel run.
	tf := terraformWorkflow()
	tf.Queued, tf.Running = 400*time.Millisecond, 200*time.Millisecond
	w := newGitHubWorld(t, tf, deployWorkflow("dev3", "prod1", "prod2"))
	g := w.cfg.GitHub
	w.gh.FailNextRuns(g.DNS.Repo, g.DNS.Workflow, 1)

	out, err := w.step(t, "pr-dns", 1)
	require.Error(t, err)
	runs := w.gh.WorkflowRuns(g.DNS.Repo, g.DNS.Workflow)
	require.Len(t, runs, 1)
	assert.Equal(t, w.gh.Head(g.DNS.Repo, "main"), runs[0].HeadSHA, "the run of the merge commit")
	var f *report.Failed
	require.ErrorAs(t, err, &f)
	wait, ok := f.Facts.(report.RunWait)
	require.True(t, ok, "%T", f.Facts)
	assert.Equal(t, report.RunFailed, wait.How)
	assert.Equal(t, "SLD Terraform", wait.Workflow)
	assert.Equal(t, runs[0].URL, wait.URL)
	assert.Equal(t, "failure", wait.Conclusion)
	res, err := engine.Decode[steps.PullRequestResult](out)
	require.NoError(t, err)
	assert.True(t, res.Merged)
	require.NotNil(t, res.Run)
	assert.Equal(t, "failure", res.Run.Conclusion)
	// The run is followed in the progress message: "… merged; the SLD Terraform run … is queued", then "in progress".
	var states []string
	w.mu.Lock()
	for _, v := range w.reported {
		if r, ok := v.(report.RunState); ok {
			assert.True(t, strings.HasSuffix(r.URL, "/pull/1"), r.URL)
			assert.Equal(t, "SLD Terraform", r.Workflow)
			assert.Equal(t, runs[0].URL, r.RunURL)
			states = append(states, r.Status)
		}
	}
	w.mu.Unlock()
	assert.Contains(t, states, "queued")
	assert.Contains(t, states, "in_progress")

	w.gh.RerunWorkflowRun(g.DNS.Repo, runs[0].ID)
	out, err = w.step(t, "pr-dns", 2)
	require.NoError(t, err)
	assert.Equal(t, report.Merged{URL: "https://github.com/nycmeshnet/nycmesh-dns/pull/1", Workflow: "SLD Terraform", RunURL: runs[0].URL}, reported[report.Merged](t, out))
	assert.Len(t, w.gh.Pulls(g.DNS.Repo), 1, "the retry found the merged PR")
}

// Preflight reads the certificate workflow: a destination it never deploys to means a
// certificate that never comes.
func TestPreflightChecksTheCertificateWorkflowDeploysToTheDestination(t *testing.T) {
	const certs, dnsRepo = "nycmeshnet/k8s-infra", "nycmeshnet/nycmesh-dns"
	w := newGitHubWorld(t, terraformWorkflow(), deployWorkflow("dev3", "prod2"))
	out, err := w.step(t, "preflight", 1)
	require.Error(t, err)
	assert.Equal(t, report.Workflows{Problems: []report.WorkflowProblem{{How: report.WorkflowNoJob, Repo: certs, Change: "certs",
		Workflow: "deploy_environments.yaml", Name: "Deploy Environments", Branch: "main", Environment: "prod1", Elsewhere: []string{"dev3", "prod2"}}}},
		checkFailed[report.Workflows](t, checkLineOf(t, out, "the-merges-workflows")))
	assert.Equal(t, engine.CheckPassed, checkLineOf(t, out, "dns-points-at-the-origin").Outcome, "the other checks still ran")

	w = newGitHubWorld(t, terraformWorkflow(), deployWorkflow("dev3", "prod1", "prod2"))
	out, err = w.step(t, "preflight", 1)
	require.NoError(t, err, handlers.DetailsText(out))
	assert.Equal(t, report.CheckWorkflows{Workflows: []report.WorkflowFound{{Repo: dnsRepo, Workflow: "sld_terraform.yaml", Branch: "main"},
		{Repo: certs, Workflow: "deploy_environments.yaml", Branch: "main", Environment: "prod1", Jobs: []string{"deploy_prod1"}}}},
		checkFound[report.CheckWorkflows](t, checkLineOf(t, out, "the-merges-workflows")))

	// A DNS workflow that does not run on main would apply nothing; one that is not
	// there at all is a configuration to check.
	w.gh.Commit(w.cfg.GitHub.DNS.Repo, "main", map[string]string{".github/workflows/sld_terraform.yaml": "on:\n  push:\n    branches: [master]\njobs:\n  terraform:\n    environment: prod\n"}, "master only")
	out, err = w.step(t, "preflight", 1)
	require.Error(t, err)
	assert.Equal(t, report.Workflows{Problems: []report.WorkflowProblem{{How: report.WorkflowNoPush, Repo: dnsRepo, Change: "dns", Workflow: "sld_terraform.yaml", Branch: "main"}}},
		checkFailed[report.Workflows](t, checkLineOf(t, out, "the-merges-workflows")))
	w.gh.Commit(w.cfg.GitHub.DNS.Repo, "main", map[string]string{".github/workflows/sld_terraform.yaml": ""}, "removed")
	out, err = w.step(t, "preflight", 1)
	require.Error(t, err)
	bad := checkFailed[report.Workflows](t, checkLineOf(t, out, "the-merges-workflows"))
	require.Len(t, bad.Problems, 1)
	assert.Equal(t, report.WorkflowUnread, bad.Problems[0].How)
	assert.Equal(t, "dns", bad.Problems[0].Change, "the configuration to check")
	assert.Contains(t, bad.Problems[0].Err, ".github/workflows/sld_terraform.yaml is not in nycmeshnet/nycmesh-dns at main")
}

// checkLineOf is the line of the check id in preflight's result.
func checkLineOf(t *testing.T, out engine.Output, id string) engine.CheckLine {
	t.Helper()
	res, err := engine.Decode[engine.Checks](out)
	require.NoError(t, err)
	l, ok := res.Line(id)
	require.True(t, ok, "check %s ran", id)
	return l
}

// checkFound is what a check that passed found, of the type T its kind must have.
func checkFound[T report.Facts](t *testing.T, l engine.CheckLine) T {
	t.Helper()
	require.Equal(t, engine.CheckPassed, l.Outcome, l.Message)
	return reported[T](t, engine.Output{Report: l.Report})
}

// checkFailed reads a failed check's failure back from its line, where preflight keeps
// the error's text (report.Failed's form: the kind, then its facts as JSON).
func checkFailed[T report.Facts](t *testing.T, l engine.CheckLine) T {
	t.Helper()
	var f T
	require.Equal(t, engine.CheckFailed, l.Outcome)
	kind, facts, _ := strings.Cut(l.Message, " ")
	require.Equal(t, f.ReportKind(), kind, l.Message)
	require.NoError(t, json.NewDecoder(strings.NewReader(facts)).Decode(&f), l.Message)
	return f
}

// A MeshDB deploy in progress is a check of its own, apart from what the destination
// runs: overriding one leaves the other enforced.
func TestPreflightChecksDeployedAndDeployingApart(t *testing.T) {
	w := newGitHubWorld(t, terraformWorkflow(), deployWorkflow("dev3", "prod1", "prod2"))
	g := w.cfg.GitHub.App
	w.gh.AddWorkflowRun(g.Repo, g.DeployWorkflow, "in_progress")
	out, err := w.step(t, "preflight", 1)
	require.Error(t, err)
	res, derr := engine.Decode[engine.Checks](out)
	require.NoError(t, derr)
	deployed, _ := res.Line("destination-runs-the-newest-meshdb")
	deploying, _ := res.Line("no-meshdb-deploy-in-progress")
	assert.Equal(t, report.CheckDeployed{Environment: w.cfg.Clusters[w.run.Destination].GitHubEnvironment, Repo: g.Repo, Branch: g.Branch, SHA: w.gh.Head(g.Repo, g.Branch)}, checkFound[report.CheckDeployed](t, deployed))
	running := checkFailed[report.DeployRunning](t, deploying)
	assert.Equal(t, g.DeployWorkflow, running.Workflow)
	require.Len(t, running.URLs, 1)
	assert.Contains(t, running.URLs[0], "https://github.com/"+g.Repo+"/actions/runs/")

	// A newer commit on main that is not deployed fails the other check only.
	w.gh.Commit(g.Repo, g.Branch, map[string]string{"docs/x.md": "x"}, "docs")
	out, err = w.step(t, "preflight", 1)
	require.Error(t, err)
	res, derr = engine.Decode[engine.Checks](out)
	require.NoError(t, derr)
	deployed, _ = res.Line("destination-runs-the-newest-meshdb")
	behind := checkFailed[report.NotDeployed](t, deployed)
	assert.Equal(t, report.NotDeployedBehind, behind.How)
	assert.Equal(t, 1, behind.Ahead, "one commit behind")
	assert.Equal(t, w.gh.Head(g.Repo, g.Branch), behind.Head)
	deploying, _ = res.Line("no-meshdb-deploy-in-progress")
	assert.Equal(t, report.DeployRunning{}.ReportKind(), strings.Fields(deploying.Message)[0], "the running deploy is the other check's")
}
