package handlers_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// What preflight's GitHub and DNS checks found and why they failed, each with the
// format ops/steps/traffic.go and ops/github wrote before they were data.

const (
	headSHA     = "5d2e8f1a9b3c4d5e6f708192a3b4c5d6e7f80912"
	deployedSHA = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
)

func trafficCheckReportCases() map[string][]reportCase {
	return map[string][]reportCase{
		"check_deployed": {{report.CheckDeployed{Environment: "prod1", Repo: "nycmeshnet/meshdb", Branch: "main", SHA: headSHA},
			fmt.Sprintf("%s runs %s@%s (%s)", "prod1", "nycmeshnet/meshdb", "main", headSHA[:12])}},
		"check_no_deploy": {{report.CheckNoDeploy{Workflow: "publish-and-deploy.yaml", Repo: "nycmeshnet/meshdb"},
			fmt.Sprintf("no %s run of %s is queued or in progress", "publish-and-deploy.yaml", "nycmeshnet/meshdb")}},
		"check_dns": {
			{report.CheckDNS{NoChange: true}, "not needed: this plan changes no DNS"},
			{report.CheckDNS{Name: "db.nycmesh.net", Target: "kubernetes-lb-prod-sn3.nycmesh.net", Resolvers: 3},
				fmt.Sprintf("%s → %s on all %d resolvers", "db.nycmesh.net", "kubernetes-lb-prod-sn3.nycmesh.net", 3)},
		},
		"check_permissions": {{report.CheckPermissions{Count: 12, Clusters: []string{"prod2", "prod1"}},
			fmt.Sprintf("all %d the plan needs in %s", 12, "prod2 and prod1")}},
		"check_workflows": {
			{report.CheckWorkflows{}, "not needed: no merge in this plan waits for a workflow"},
			{report.CheckWorkflows{Workflows: []report.WorkflowFound{
				{Repo: "nycmeshnet/nycmesh-dns", Workflow: "sld_terraform.yaml", Branch: "main"},
				{Repo: "nycmeshnet/k8s-infra", Workflow: "deploy_environments.yaml", Branch: "main", Environment: "prod1", Jobs: []string{"deploy_prod1", "deploy_all"}}}},
				strings.Join([]string{fmt.Sprintf("%s runs on a push to %s of %s", "sld_terraform.yaml", "main", "nycmeshnet/nycmesh-dns"),
					fmt.Sprintf("%s deploys to %s (%s)", "deploy_environments.yaml", "prod1", "deploy_prod1, deploy_all")}, "; ")},
		},
	}
}

func trafficFailureCases() map[string][]failureCase {
	const (
		app   = "nycmeshnet/meshdb"
		certs = "nycmeshnet/k8s-infra"
		file  = "deploy_environments.yaml"
	)
	named := fmt.Sprintf("%q (%s)", "Deploy Environments", file)
	nd := func(how report.NotDeployedHow) report.NotDeployed {
		return report.NotDeployed{How: how, Repo: app, Branch: "main", Environment: "prod1", Head: headSHA, Deployed: deployedSHA, Ahead: 3, Behind: 1}
	}
	unknown := nd(report.NotDeployedUnknown)
	unknown.CompareErr = "GET .../compare: 404 Not Found []"
	return map[string][]failureCase{
		"failed_not_deployed": {
			{report.NotDeployed{How: report.NotDeployedNone, Repo: app, Branch: "main", Environment: "prod1", Head: headSHA}, "",
				fmt.Sprintf("no successful deployment of %s to environment %s: deploy %s first", app, "prod1", "main")},
			{unknown, "", fmt.Sprintf("%s runs %s, not the head of %s@%s (%s), and comparing them failed (%v): deploy %s first",
				"prod1", deployedSHA[:7], app, "main", headSHA[:7], unknown.CompareErr, "main")},
			{nd(report.NotDeployedDiverged), "", fmt.Sprintf("%s runs %s, which is not on %s@%s (%d commit(s) behind, %d not on %s): deploy %s first",
				"prod1", deployedSHA[:7], app, "main", 3, 1, "main", "main")},
			{report.NotDeployed{How: report.NotDeployedBehind, Repo: app, Branch: "main", Environment: "prod1", Head: "v2", Deployed: "v1", Ahead: 2}, "",
				fmt.Sprintf("%s runs %s, %d commit(s) behind %s@%s (%s): deploy %s first", "prod1", "v1", 2, app, "main", "v2", "main")},
		},
		"failed_deploy_running": {{report.DeployRunning{Workflow: "publish-and-deploy.yaml", URLs: []string{"https://github.com/nycmeshnet/meshdb/actions/runs/1", "https://github.com/nycmeshnet/meshdb/actions/runs/2"}}, "",
			fmt.Sprintf("a %s run is in progress (%s); wait for it to finish: a deploy resets the celery and meshweb replica counts",
				"publish-and-deploy.yaml", "https://github.com/nycmeshnet/meshdb/actions/runs/1, https://github.com/nycmeshnet/meshdb/actions/runs/2")}},
		"failed_run_wait": runWaitCases(),
		"failed_permissions": {{report.Permissions{Clusters: []report.ClusterPermissions{
			{Cluster: "prod3", Err: report.Fail(report.NoCluster{Cluster: "prod3"}, nil).Error()},
			{Cluster: "prod2", Err: report.Fail(report.AccessReview{Cluster: "prod2", Namespace: "meshdb", Access: "get pods"}, errors.New("connection refused")).Error()},
			{Cluster: "prod1", Namespace: "meshdb", Missing: []string{"create pods/exec", "patch apps/statefulsets/scale"}}}}, "",
			strings.Join([]string{fmt.Sprintf("no connection to cluster %q is configured", "prod3"),
				"prod2/meshdb: ask whether it may get pods: connection refused",
				fmt.Sprintf("%s: the bot may not %s in namespace %s (apply deploy/target-cluster/rbac.yaml)", "prod1", "create pods/exec, patch apps/statefulsets/scale", "meshdb")}, "; ")}},
		"failed_workflows": {
			{report.Workflows{Problems: []report.WorkflowProblem{
				{How: report.WorkflowUnread, Repo: "nycmeshnet/nycmesh-dns", Change: "dns", Workflow: "sld_terraform.yaml", Err: "read .github/workflows/sld_terraform.yaml: 404 Not Found"},
				{How: report.WorkflowNoPush, Repo: "nycmeshnet/nycmesh-dns", Change: "dns", Workflow: "sld_terraform.yaml", Branch: "main"},
			}}, "", strings.Join([]string{
				fmt.Sprintf("%s: %v (check github.%s.workflow)", "nycmeshnet/nycmesh-dns", "read .github/workflows/sld_terraform.yaml: 404 Not Found", "dns"),
				fmt.Sprintf("%s: workflow %s does not run on a push to %s, so the merge would apply nothing: fix its `on: push` or github.%s.workflow", "nycmeshnet/nycmesh-dns", "sld_terraform.yaml", "main", "dns"),
			}, "; ")},
			{report.Workflows{Problems: []report.WorkflowProblem{{How: report.WorkflowCertNoPush, Repo: certs, Change: "certs", Workflow: file, Name: "Deploy Environments", Branch: "master", Environment: "prod1"}}}, "",
				certs + ": " + fmt.Sprintf("workflow %s does not run on a push to %s: add %s to its `on: push: branches:`", named, "master", "master")},
			{report.Workflows{Problems: []report.WorkflowProblem{{How: report.WorkflowCertNoPush, Repo: certs, Change: "certs", Workflow: file, Branch: "master", Environment: "prod1"}}}, "",
				certs + ": " + fmt.Sprintf("workflow %s does not run on a push to %s: add %s to its `on: push: branches:`", file, "master", "master")},
			{report.Workflows{Problems: []report.WorkflowProblem{{How: report.WorkflowBlocked, Repo: certs, Change: "certs", Workflow: file, Name: "Deploy Environments", Branch: "main", Environment: "prod2",
				Blocked: []report.BlockedJob{{Job: "deploy_prod2", Why: "its condition `if: github.ref == 'refs/heads/dev'` is false on a push to main"}, {Job: "deploy_all", Why: "it needs deploy_prod2, which never runs"}}}}}, "",
				certs + ": " + fmt.Sprintf("workflow %s: %s; change that before the certificate pull request, or no certificate comes", named, strings.Join([]string{
					fmt.Sprintf("job %s deploys to %s but never runs: %s", "deploy_prod2", "prod2", "its condition `if: github.ref == 'refs/heads/dev'` is false on a push to main"),
					fmt.Sprintf("job %s deploys to %s but never runs: %s", "deploy_all", "prod2", "it needs deploy_prod2, which never runs")}, "; "))},
			{report.Workflows{Problems: []report.WorkflowProblem{{How: report.WorkflowNoJob, Repo: certs, Change: "certs", Workflow: file, Name: "Deploy Environments", Branch: "main", Environment: "prod1", Elsewhere: []string{"dev3", "prod2"}}}}, "",
				certs + ": " + fmt.Sprintf("no job of workflow %s deploys to environment %s (its jobs deploy to %s): add one (or uncomment it) with `environment: %s` that runs on a push to %s, and merge that before the certificate pull request, or no certificate comes",
					named, "prod1", "only dev3, prod2", "prod1", "main")},
			{report.Workflows{Problems: []report.WorkflowProblem{{How: report.WorkflowNoJob, Repo: certs, Change: "certs", Workflow: file, Branch: "main", Environment: "prod1"}}}, "",
				certs + ": " + fmt.Sprintf("no job of workflow %s deploys to environment %s (its jobs deploy to %s): add one (or uncomment it) with `environment: %s` that runs on a push to %s, and merge that before the certificate pull request, or no certificate comes",
					file, "prod1", "no environment", "prod1", "main")},
		},
	}
}

// runWaitCases are the ends of a wait for a workflow run, as ops/github's WaitRun
// wrote them (with github.Run.StateText) before they were data.
func runWaitCases() []failureCase {
	const (
		repo = "nycmeshnet/nycmesh-dns"
		file = "sld_terraform.yaml"
		url  = "https://github.com/nycmeshnet/nycmesh-dns/actions/runs/9"
	)
	sha := headSHA
	w := func(how report.RunWaitHow, f func(*report.RunWait)) report.RunWait {
		r := report.RunWait{How: how, Repo: repo, File: file, SHA: sha}
		f(&r)
		return r
	}
	return []failureCase{
		{w(report.RunFailed, func(r *report.RunWait) {
			r.Workflow, r.URL, r.Status, r.Conclusion = "SLD Terraform", url, "completed", "failure"
		}), "",
			fmt.Sprintf("the %s run %s for %s %s: read its log there, fix the cause and re-run it in GitHub, then Retry (the step waits for the same run again)",
				`"SLD Terraform"`, url, sha[:7], "failed")},
		{w(report.RunFailed, func(r *report.RunWait) { r.URL, r.Status, r.Conclusion = url, "completed", "timed_out" }), "",
			fmt.Sprintf("the %s run %s for %s %s: read its log there, fix the cause and re-run it in GitHub, then Retry (the step waits for the same run again)",
				file, url, sha[:7], "timed out")},
		{w(report.RunNotAppeared, func(r *report.RunWait) { r.Branch, r.Within = "main", 2*time.Minute }), "",
			fmt.Sprintf("no run of workflow %s in %s for %s appeared within %s: check that the workflow is enabled and runs on pushes to %s (https://github.com/%s/actions/workflows/%s), then Retry; or Skip with a reason once the change is applied by hand",
				file, repo, sha[:7], 2*time.Minute, "main", repo, file)},
		{w(report.RunNotAppeared, func(r *report.RunWait) { r.Within = 2 * time.Minute }), "",
			fmt.Sprintf("no run of workflow %s in %s for %s appeared within %s: check that the workflow is enabled and runs on pushes to %s (https://github.com/%s/actions/workflows/%s), then Retry; or Skip with a reason once the change is applied by hand",
				file, repo, sha[:7], 2*time.Minute, "the branch", repo, file)},
		{w(report.RunNotFound, func(r *report.RunWait) { r.Within, r.LastErr = 30*time.Minute, "GET .../runs: 502 Bad Gateway []" }), "",
			fmt.Sprintf("no run of workflow %s in %s for %s within %s%s: look at https://github.com/%s/actions/workflows/%s, then Retry",
				file, repo, sha[:7], 30*time.Minute, fmt.Sprintf(" (the last read failed: %v)", "GET .../runs: 502 Bad Gateway []"), repo, file)},
		{w(report.RunStill, func(r *report.RunWait) {
			r.Workflow, r.URL, r.Status, r.Within = "Apply", url, "in_progress", 30*time.Minute
		}), "",
			fmt.Sprintf("the %s run %s is still %s after %s%s: Retry to wait for it again", `"Apply"`, url, "in progress", 30*time.Minute, "")},
	}
}
