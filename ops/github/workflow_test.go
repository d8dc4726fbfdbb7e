package github_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/github"
	"github.com/nycmeshnet/cutoverbot/ops/github/githubfake"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// The shape of k8s-infra's "Deploy Environments": one call of a reusable workflow per
// cluster, each given its environment, prod1 after dev3; prod2's job commented out.
const deployEnvironments = `name: Deploy Environments
permissions: read-all

on:
  push:
    branches:
      - main
  workflow_dispatch:

jobs:
  deploy_dev3:
    name: Deploy dev3
    uses: ./.github/workflows/deploy_k8s_cluster.yaml
    with:
      environment: dev3
    secrets: inherit
    if: github.ref == 'refs/heads/main'

  deploy_prod1:
    name: Deploy prod1
    needs: deploy_dev3
    uses: ./.github/workflows/deploy_k8s_cluster.yaml
    with:
      environment: prod1
    secrets: inherit
    if: github.ref == 'refs/heads/main'

  # deploy_prod2:
  #   name: Deploy prod2
  #   uses: ./.github/workflows/deploy_k8s_cluster.yaml
  #   with:
  #     environment: prod2
`

func TestWorkflowDeploysTo(t *testing.T) {
	const file = "deploy_environments.yaml"
	uncommented := strings.ReplaceAll(deployEnvironments, "  # ", "  ")
	uncommented = strings.ReplaceAll(uncommented, "  #   ", "    ")
	cases := []struct {
		name, yaml, env, branch string
		ok                      bool
		jobs                    []string
		problem                 *report.WorkflowProblem
	}{
		{name: "prod1 after dev3", yaml: deployEnvironments, env: "prod1", branch: "main", ok: true, jobs: []string{"deploy_prod1"}},
		{name: "environment names ignore case", yaml: deployEnvironments, env: "PROD1", branch: "main", ok: true, jobs: []string{"deploy_prod1"}},
		{name: "prod2's job commented out", yaml: deployEnvironments, env: "prod2", branch: "main",
			problem: &report.WorkflowProblem{How: report.WorkflowNoJob, Workflow: file, Name: "Deploy Environments", Branch: "main", Environment: "prod2", Elsewhere: []string{"dev3", "prod1"}}},
		{name: "prod2's job back", yaml: uncommented, env: "prod2", branch: "main", ok: true, jobs: []string{"deploy_prod2"}},
		{name: "a push to another branch", yaml: deployEnvironments, env: "prod1", branch: "master",
			problem: &report.WorkflowProblem{How: report.WorkflowCertNoPush, Workflow: file, Name: "Deploy Environments", Branch: "master", Environment: "prod1"}},
		{name: "a job kept to another branch", yaml: strings.Replace(uncommented, "      environment: prod2\n", "      environment: prod2\n    if: github.ref == 'refs/heads/james/sn10'\n", 1), env: "prod2", branch: "main",
			problem: &report.WorkflowProblem{How: report.WorkflowBlocked, Workflow: file, Name: "Deploy Environments", Branch: "main", Environment: "prod2",
				Blocked: []report.BlockedJob{{Job: "deploy_prod2", Why: "its condition `if: github.ref == 'refs/heads/james/sn10'` is false on a push to main"}}}},
		{name: "needing a job that never runs", yaml: strings.Replace(deployEnvironments, "    if: github.ref == 'refs/heads/main'\n\n  deploy_prod1", "    if: github.ref == 'refs/heads/dev'\n\n  deploy_prod1", 1), env: "prod1", branch: "main",
			problem: &report.WorkflowProblem{How: report.WorkflowBlocked, Workflow: file, Name: "Deploy Environments", Branch: "main", Environment: "prod1",
				Blocked: []report.BlockedJob{{Job: "deploy_prod1", Why: "it needs deploy_dev3, which never runs (its condition"}}}},
		{name: "a plain job with its environment", yaml: "name: Apply\non: push\njobs:\n  apply:\n    runs-on: ubuntu-latest\n    environment: prod\n    steps: [{run: make}]\n", env: "prod", branch: "main", ok: true, jobs: []string{"apply"}},
		{name: "an environment with a URL", yaml: "on: [push]\njobs:\n  apply:\n    environment:\n      name: prod2\n      url: https://db.nycmesh.net\n", env: "prod2", branch: "main", ok: true, jobs: []string{"apply"}},
		{name: "a matrix of environments", yaml: "on:\n  push:\n    branches: ['**']\njobs:\n  deploy:\n    strategy:\n      matrix:\n        env: [prod1, prod2]\n    environment: ${{ matrix.env }}\n", env: "prod2", branch: "main", ok: true, jobs: []string{"deploy"}},
		{name: "a condition the bot cannot judge may be true", yaml: "on: push\njobs:\n  deploy:\n    if: contains(github.event.head_commit.message, 'deploy')\n    environment: prod2\n", env: "prod2", branch: "main", ok: true, jobs: []string{"deploy"}},
		{name: "branches-ignore", yaml: "on:\n  push:\n    branches-ignore: [main]\njobs:\n  deploy:\n    environment: prod2\n", env: "prod2", branch: "main", problem: &report.WorkflowProblem{How: report.WorkflowCertNoPush, Workflow: file, Branch: "main", Environment: "prod2"}},
		{name: "not on push", yaml: "on:\n  workflow_dispatch:\njobs:\n  deploy:\n    environment: prod2\n", env: "prod2", branch: "main", problem: &report.WorkflowProblem{How: report.WorkflowCertNoPush, Workflow: file, Branch: "main", Environment: "prod2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := github.ParseWorkflow([]byte(tc.yaml))
			require.NoError(t, err)
			c := w.DeploysTo(file, tc.env, tc.branch)
			assert.Equal(t, tc.ok, c.OK, "%+v", c.Problem)
			assert.Equal(t, tc.jobs, c.Jobs)
			if tc.problem != nil && c.Problem != nil && tc.problem.How == report.WorkflowBlocked && len(c.Problem.Blocked) == 1 {
				// Why a job never runs is ops/github's own sentence; its start is enough here.
				want, got := tc.problem.Blocked[0].Why, c.Problem.Blocked[0].Why
				if strings.HasPrefix(got, want) {
					c.Problem.Blocked[0].Why = want
				}
			}
			assert.Equal(t, tc.problem, c.Problem)
		})
	}
	_, err := github.ParseWorkflow([]byte("jobs: [not, a, map]\n"))
	assert.ErrorContains(t, err, "not a workflow file")
}

func TestWorkflowIsReadFromTheBranch(t *testing.T) {
	s, c := fake(t)
	ctx := context.Background()
	s.CreateRepo(certRepo, "main", map[string]string{".github/workflows/deploy_environments.yaml": deployEnvironments})
	w, err := c.Workflow(ctx, certRepo, "main", "deploy_environments.yaml")
	require.NoError(t, err)
	assert.Equal(t, "Deploy Environments", w.Name)
	assert.False(t, w.DeploysTo("deploy_environments.yaml", "prod2", "main").OK)
	_, err = c.Workflow(ctx, certRepo, "main", "deploy.yaml")
	assert.ErrorContains(t, err, ".github/workflows/deploy.yaml is not in nycmeshnet/k8s-infra at main")

	// The fake's own workflows write a file that says what they deploy.
	s.AddWorkflow(certRepo, githubfake.Workflow{File: "gen.yaml", Name: "Gen", Branch: "main", Environments: []string{"prod1", "prod2"}, Manual: true})
	w, err = c.Workflow(ctx, certRepo, "main", "gen.yaml")
	require.NoError(t, err)
	assert.Equal(t, []string{"deploy_prod2"}, w.DeploysTo("gen.yaml", "prod2", "main").Jobs)
}
