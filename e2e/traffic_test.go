package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/dns"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/snapshot"
	"github.com/nycmeshnet/cutoverbot/ops/tlswait"
	"github.com/nycmeshnet/cutoverbot/sandbox"
)

// TestE2EDefaultPlanEndsWithDNSAndTLSAtTheDestination runs all 18 steps with every
// local server, a DNS merge refused by branch protection and merged by a person.
func TestE2EDefaultPlanEndsWithDNSAndTLSAtTheDestination(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 1200, traffic: true})
	w.traffic.GitHub.RefuseMerges(w.cfg.GitHub.DNS.Repo, "At least 1 approving review is required by reviewers with write access.")
	w.startBot(nil)
	w.command(alice, "start prod2 prod1")
	w.waitFor("the run header", func() bool { return w.header().TS != "" })
	// Approve through the DNS PR step, then merge by hand as GitHub refused the bot.
	for step := 2; step <= 13; step++ {
		w.click(bob, "Approve")
		if step < 13 {
			want := "✅ " + strconv.Itoa(step) + "."
			w.waitFor(want, func() bool { return strings.Contains(w.headerText(), want) })
		}
	}
	w.waitFor("the bot to wait for a person", func() bool {
		for _, m := range w.slack.Thread(channel, w.header().TS) {
			if strings.Contains(m.Text, "waiting for a person to merge") {
				return true
			}
		}
		return false
	})
	require.NoError(t, w.traffic.GitHub.MergePR(w.cfg.GitHub.DNS.Repo, 1))
	w.approveAll(bob, "(completed)")
	w.requireSameData()

	ctx := context.Background()
	for _, r := range w.traffic.Resolvers {
		a := dns.Query(ctx, r.Addr(), w.cfg.DNS.Name)
		assert.Equal(t, w.cfg.Clusters["prod1"].LBHostname, a.CNAME, "DNS points at the destination")
	}
	roots, err := snapshot.LoadRoots(w.traffic.CAFile)
	require.NoError(t, err)
	_, err = tlswait.Check(ctx, w.cfg.Clusters["prod1"].LBAddress, sandbox.ServiceHost, roots)
	assert.NoError(t, err, "the destination's LB presents a valid certificate")
	assert.Contains(t, w.traffic.GitHub.File(w.cfg.GitHub.Certs.Repo, "main", "terraform/prod2.tfvars"), w.cfg.GitHub.Certs.Placeholder, "the origin's list keeps the placeholder")

	pulls := w.traffic.GitHub.Pulls(w.cfg.GitHub.DNS.Repo)
	require.Len(t, pulls, 1)
	assert.Contains(t, pulls[0].Body, "/archives/"+channel+"/p"+strings.Replace(w.header().TS, ".", "", 1), "the PR links the run's thread")
	assert.Equal(t, "Point "+w.cfg.DNS.Name+" at "+w.cfg.Clusters["prod1"].LBHostname+" (MeshDB cutover prod2 → prod1)", pulls[0].Title,
		"the PR is worded by the transport's words, which the wiring passes")

	w.stopBot()
	run, _ := w.finalRun()
	assert.Equal(t, engine.Completed, run.State)
	assert.Len(t, run.Steps, 18)
	assert.Contains(t, handlers.OutputText(run.Steps[12].Output), "/pull/1 merged")
	// Each merge waited for the workflow run it started, linked in the summary.
	for i, want := range map[int]struct{ repo, file, name string }{
		12: {w.cfg.GitHub.DNS.Repo, w.cfg.GitHub.DNS.Workflow, "SLD Terraform"},
		14: {w.cfg.GitHub.Certs.Repo, w.cfg.GitHub.Certs.Workflow, "Deploy Environments"},
	} {
		runs := w.traffic.GitHub.WorkflowRuns(want.repo, want.file)
		require.Len(t, runs, 1, "one merge, one run of %s", want.file)
		assert.Contains(t, handlers.OutputText(run.Steps[i].Output), "merged; the "+want.name+" run "+runs[0].URL+" succeeded")
	}
	assert.Contains(t, handlers.DetailsText(run.Steps[0].Output), "deploy_environments.yaml deploys to prod1 (deploy_prod1)", "preflight read the certificate workflow")
	assert.Contains(t, handlers.OutputText(run.Steps[11].Output), "no difference")
	assert.Contains(t, handlers.OutputText(run.Steps[11].Output), "keys held by more than one entry", "the map data repeats keys, as MeshDB's does")
	assert.Contains(t, handlers.OutputText(run.Steps[11].Output), fmt.Sprintf("meshweb answered 200 on attempt %d", sandbox.RestartingRequests+1),
		"the post snapshot waited out the LB's 502/503 after maintenance")
}

// TestE2EWaitsEndWithoutKillingThePod: a pull request the bot may not merge waits for
// a person; the wait ends after github.merge_timeout (Retry, Skip, Abort), a Cancel
// button on the progress message ends it at once, and Abort goes on to the rollback.
func TestE2EWaitsEndWithoutKillingThePod(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 300, traffic: true, mutate: func(c *config.Config) {
		c.GitHub.MergeTimeout = config.Duration{Duration: 3 * time.Second}
	}})
	w.traffic.GitHub.RefuseMerges(w.cfg.GitHub.DNS.Repo, "At least 1 approving review is required by reviewers with write access.")
	w.startBot(nil)
	w.command(alice, "start prod2 prod1")
	w.waitFor("the run header", func() bool { return w.header().TS != "" })
	for step := 2; ; step++ {
		id := w.currentStepID(step)
		w.click(bob, "Approve")
		if id == "pr-dns" {
			break
		}
		done := "✅ " + strconv.Itoa(step) + "."
		w.waitFor(done, func() bool { return strings.Contains(w.headerText(), done) })
	}
	w.waitFor("the merge timeout to fail the step", func() bool { _, _, ok := w.button("Retry"); return ok })
	assert.Contains(t, w.threadText(), "was not merged within 3s (github.merge_timeout)")

	w.click(carol, "Retry")
	w.waitFor("the Cancel button on the wait", func() bool { _, _, ok := w.button("Cancel"); return ok })
	w.click(carol, "Cancel")
	w.waitFor("the cancelled wait to offer Retry again", func() bool {
		return strings.Contains(w.threadText(), "the wait was ended by "+carol)
	})
	w.command(carol, "abort the DNS change waits for a review we cannot get tonight")
	w.waitFor("the rollback plan", func() bool { return strings.Contains(w.headerText(), "Rollback") })
	w.approveAll(bob, "(rolled back)")
	w.stopBot()
	run, audit := w.finalRun()
	assert.Equal(t, engine.RolledBack, run.State)
	var pr engine.StepRun
	for _, s := range run.Steps {
		if s.Step.ID == "pr-dns" {
			pr = s
		}
	}
	assert.Equal(t, engine.Failed, pr.State)
	assert.Equal(t, 2, pr.Executions, "once to the timeout, once to the Cancel")
	var cancels int
	for _, a := range audit {
		if a.Event == "decision.cancel" {
			cancels++
			assert.Equal(t, carol, a.User)
		}
	}
	assert.Equal(t, 1, cancels)
}
