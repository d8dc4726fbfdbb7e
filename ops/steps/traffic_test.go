package steps_test

import (
	"context"
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
	w.exec.UsePRWords(testPRWords)
	_, err = steps.RegisterTrafficSteps(w.exec, cfg, client)
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
	w := newGitHubWorld(t, terraformWorkflow(), deployWorkflow("dev3", "prod1", "prod2"))
	g := w.cfg.GitHub
	w.gh.FailNextRuns(g.DNS.Repo, g.DNS.Workflow, 1)

	out, err := w.step(t, "pr-dns", 1)
	require.Error(t, err)
	runs := w.gh.WorkflowRuns(g.DNS.Repo, g.DNS.Workflow)
	require.Len(t, runs, 1)
	assert.Equal(t, w.gh.Head(g.DNS.Repo, "main"), runs[0].HeadSHA, "the run of the merge commit")
	assert.Contains(t, err.Error(), `the "SLD Terraform" run `+runs[0].URL)
	assert.Contains(t, err.Error(), "failed")
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
	w := newGitHubWorld(t, terraformWorkflow(), deployWorkflow("dev3", "prod2"))
	out, err := w.step(t, "preflight", 1)
	require.Error(t, err)
	assert.Contains(t, handlers.DetailsText(out), `nycmeshnet/k8s-infra: no job of workflow "Deploy Environments" (deploy_environments.yaml) deploys to environment prod1 (its jobs deploy to only dev3, prod2)`)
	assert.Contains(t, handlers.DetailsText(out), "✓ DNS points at the origin", "the other checks still ran")

	w = newGitHubWorld(t, terraformWorkflow(), deployWorkflow("dev3", "prod1", "prod2"))
	out, err = w.step(t, "preflight", 1)
	require.NoError(t, err, handlers.DetailsText(out))
	assert.Contains(t, handlers.DetailsText(out), "✓ the merges' workflows: sld_terraform.yaml runs on a push to main of nycmeshnet/nycmesh-dns; deploy_environments.yaml deploys to prod1 (deploy_prod1)")

	// A DNS workflow that does not run on main would apply nothing; one that is not
	// there at all is a configuration to check.
	w.gh.Commit(w.cfg.GitHub.DNS.Repo, "main", map[string]string{".github/workflows/sld_terraform.yaml": "on:\n  push:\n    branches: [master]\njobs:\n  terraform:\n    environment: prod\n"}, "master only")
	out, err = w.step(t, "preflight", 1)
	require.Error(t, err)
	assert.Contains(t, handlers.DetailsText(out), "workflow sld_terraform.yaml does not run on a push to main, so the merge would apply nothing")
	w.gh.Commit(w.cfg.GitHub.DNS.Repo, "main", map[string]string{".github/workflows/sld_terraform.yaml": ""}, "removed")
	out, err = w.step(t, "preflight", 1)
	require.Error(t, err)
	assert.Contains(t, handlers.DetailsText(out), ".github/workflows/sld_terraform.yaml is not in nycmeshnet/nycmesh-dns at main")
	assert.Contains(t, handlers.DetailsText(out), "(check github.dns.workflow)")
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
	assert.Equal(t, engine.CheckPassed, deployed.Outcome, deployed.Message)
	assert.Equal(t, engine.CheckFailed, deploying.Outcome)
	assert.Contains(t, deploying.Message, "a "+g.DeployWorkflow+" run is in progress (https://github.com/"+g.Repo+"/actions/runs/")

	// A newer commit on main that is not deployed fails the other check only.
	w.gh.Commit(g.Repo, g.Branch, map[string]string{"docs/x.md": "x"}, "docs")
	out, err = w.step(t, "preflight", 1)
	require.Error(t, err)
	res, derr = engine.Decode[engine.Checks](out)
	require.NoError(t, derr)
	deployed, _ = res.Line("destination-runs-the-newest-meshdb")
	assert.Equal(t, engine.CheckFailed, deployed.Outcome)
	assert.Contains(t, deployed.Message, "1 commit(s) behind")
	assert.NotContains(t, deployed.Message, "in progress", "the running deploy is the other check's")
}
