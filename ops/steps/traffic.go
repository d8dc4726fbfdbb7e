package steps

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/dns"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/github"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/ops/snapshot"
	"github.com/nycmeshnet/cutoverbot/ops/tlswait"
)

// TrafficSteps runs the second half of the runbook: snapshots and their diff, the DNS
// and certificate pull requests, and the waits for DNS and TLS.
type TrafficSteps struct {
	cfg    *config.Config
	words  PRWords // word the pull requests
	gh     *github.Client
	roots  *x509.CertPool
	mergeE time.Duration // how often a waiting PR is checked
}

// RegisterTrafficSteps wires snapshot, pull-request, wait-dns and wait-tls, and
// preflight's GitHub and DNS checks; words word the pull requests.
func RegisterTrafficSteps(e *Executor, cfg *config.Config, gh *github.Client, words PRWords) (*TrafficSteps, error) {
	roots, err := snapshot.LoadRoots(cfg.Service.CAFile)
	if err != nil {
		return nil, err
	}
	t := &TrafficSteps{cfg: cfg, words: words, gh: gh, roots: roots, mergeE: cfg.DNS.PollEvery.Duration}
	e.Register(plan.KindSnapshot, t.snapshot)
	e.Register(plan.KindPullRequest, t.pullRequest)
	e.Register(plan.KindWaitDNS, t.waitDNS)
	e.Register(plan.KindWaitTLS, t.waitTLS)
	e.AddReportingCheck("destination runs the newest MeshDB", t.checkDeployed)
	e.AddReportingCheck("no MeshDB deploy in progress", t.checkNoDeploy)
	e.AddReportingCheck("DNS points at the origin", t.checkDNS)
	e.AddReportingCheck("the merges' workflows", t.checkWorkflows)
	return t, nil
}

func (t *TrafficSteps) snapshot(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	s := x.Step.Snapshot
	target := snapshot.Target{ServiceURL: s.URL, Roots: t.roots, Timeout: t.cfg.Service.Timeout.Duration, Where: "the public URL " + s.URL}
	if s.Via == "lb" {
		target.LBAddress = s.LBAddress
		target.Where = fmt.Sprintf("%s LB %s", x.Step.Cluster, s.LBAddress)
	}
	where := report.Where{URL: s.URL}
	if s.Via == "lb" {
		where = report.Where{Cluster: x.Step.Cluster, LB: s.LBAddress}
	}
	dir := SpoolPath(t.cfg, x.Run.ID, x.Step.ID+fmt.Sprintf("-attempt-%d", x.Attempt))
	ready := 0
	if len(s.Paths) > 0 {
		// Maintenance mode fails meshweb's probes: after it, pods may still be coming back.
		x.ProgressReport(report.WaitingReady{Where: where})
		n, err := snapshot.WaitReady(ctx, target, s.Paths[0], t.cfg.Service.ReadyPollEvery.Duration, t.cfg.Service.ReadyTimeout.Duration, func(n int, err error) {
			x.ProgressReport(report.WaitingReady{Where: where, Attempt: n, Err: err.Error()})
		})
		if err != nil {
			return engine.Output{}, err
		}
		if n > 1 {
			ready = n
		}
	}
	x.ProgressReport(report.Fetching{Paths: s.Paths, Where: where})
	snap, err := snapshot.Fetch(ctx, target, s.Paths, dir)
	if err != nil {
		return engine.Output{}, err
	}
	out := engine.Output{}.WithResult(SnapshotResult{Dir: dir})
	got := report.Snapshot{Where: where, ReadyAttempt: ready}
	for _, f := range snap.Files {
		got.Files = append(got.Files, report.SnapshotFile{Name: f.Name, Entries: f.Entries, Bytes: f.Size})
	}
	out = out.WithReport(got)
	if s.DiffAgainst == "" {
		return out, nil
	}
	prior, ok, err := engine.ResultOf[SnapshotResult](x.Run, s.DiffAgainst)
	if !ok || err != nil || prior.Dir == "" {
		return out, report.Fail(report.NoPrior{Step: s.DiffAgainst}, nil)
	}
	before, err := snapshot.Load(prior.Dir)
	if err != nil {
		return out, report.Fail(report.PriorGone{}, err)
	}
	rep, err := snapshot.DiffSnapshots(before, snap)
	if err != nil {
		return out, err
	}
	out.Details = rep.Full()
	if !rep.Empty() {
		// The transport lays the differences out per endpoint (handlers' diffSummary).
		out.Report = nil
		return out, report.Fail(rep.Facts(5), nil)
	}
	same := report.NoDiff{ReadyAttempt: ready}
	for _, r := range rep.Results {
		same.Endpoints = append(same.Endpoints, report.Endpoint{Name: r.Name, Before: r.Before, After: r.After, Repeated: len(r.Repeated)})
	}
	return out.WithReport(same), nil
}

func (t *TrafficSteps) serviceHost() string {
	u, err := url.Parse(t.cfg.Service.URL)
	if err != nil {
		return t.cfg.DNS.Name
	}
	return u.Hostname()
}

func (t *TrafficSteps) pullRequest(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	p := x.Step.PullRequest
	g := t.cfg.GitHub
	branch := fmt.Sprintf("cutoverbot/%s-%s", x.Run.ID, p.Change)
	facts := report.PullRequest{Change: p.Change, Run: x.Run.ID, Origin: x.Run.Origin, Destination: x.Run.Destination,
		Initiator: x.Run.Initiator, Thread: x.Run.Note("thread_url"), To: p.To}
	switch p.Change {
	case "dns":
		facts.Name = t.cfg.DNS.Name
	case "certs":
		facts.Host = t.serviceHost()
	}
	// open opens the PR, or finds the one an earlier attempt opened, and compares it
	// with the bot's change: the PR it returns holds exactly that change at its HeadSHA.
	var open func() (github.PR, error)
	if p.RevertOf != "" {
		prev, _, err := engine.ResultOf[PullRequestResult](x.Run, p.RevertOf)
		if err != nil && !errors.Is(err, engine.ErrNoResult) {
			return engine.Output{}, report.Fail(report.StepResult{Step: p.RevertOf}, err)
		}
		if prev.Number == 0 {
			return engine.Output{}.WithReport(report.RevertNone{Step: p.RevertOf}), nil
		}
		orig, err := t.gh.Get(ctx, prev.Repo, prev.Number)
		if err != nil {
			return engine.Output{}, err
		}
		if !orig.Merged {
			return engine.Output{}.WithReport(report.RevertUnmerged{URL: orig.URL}), nil
		}
		facts.Reverts = &report.Reverted{Number: orig.Number, URL: orig.URL}
		title, body, commit, err := t.prText(facts)
		if err != nil {
			return engine.Output{}, err
		}
		open = func() (github.PR, error) {
			return t.gh.Revert(ctx, orig, p.Base, branch+"-revert", p.Files, github.Text{Title: title, Body: body, CommitMessage: commit})
		}
	} else {
		title, body, commit, err := t.prText(facts)
		if err != nil {
			return engine.Output{}, err
		}
		req := github.ChangeRequest{Repo: p.Repo, Base: p.Base, Branch: branch, Title: title, Body: body, CommitMessage: commit}
		switch p.Change {
		case "dns":
			req.Files = map[string]func([]byte) ([]byte, error){p.Files[0]: func(b []byte) ([]byte, error) {
				return github.EditDNSAnswer(b, g.DNS.Resource, p.From, p.To)
			}}
		case "certs":
			host := facts.Host
			req.Files = map[string]func([]byte) ([]byte, error){
				p.Files[0]: func(b []byte) ([]byte, error) {
					return github.EditFQDNList(b, g.Certs.ListVariable, host, g.Certs.Placeholder, true)
				},
				p.Files[1]: func(b []byte) ([]byte, error) {
					return github.EditFQDNList(b, g.Certs.ListVariable, host, g.Certs.Placeholder, false)
				},
			}
		}
		open = func() (github.PR, error) { return t.gh.OpenChange(ctx, req) }
	}
	pr, err := open()
	res := PullRequestResult{Number: pr.Number, URL: pr.URL, Repo: pr.Repo, BaseSHA: pr.BaseSHA, HeadSHA: pr.HeadSHA}
	out := engine.Output{}
	if pr.Number != 0 {
		out = out.WithResult(res) // a PR that does not hold the change is still one the rollback must know
	}
	if err != nil {
		return out, err
	}
	x.ProgressReport(report.PRState{URL: pr.URL, State: pr.State, Merged: pr.Merged, Head: pr.HeadSHA})
	if !pr.Merged && p.Merge == "auto" {
		// Merge only the head that was compared; a push after the comparison makes
		// GitHub refuse, and the PR is compared again.
		for tries := 1; ; tries++ {
			merged, reason, err := t.gh.Merge(ctx, pr, pr.HeadSHA, "Merged by cutoverbot after approval in Slack")
			if errors.Is(err, github.ErrHeadMoved) && tries < 3 {
				x.ProgressReport(report.HeadMoved{URL: pr.URL, Reason: reason})
				if pr, err = open(); err != nil {
					return out, err
				}
				res.HeadSHA = pr.HeadSHA
				out = out.WithResult(res)
				continue
			}
			if err != nil {
				return out, err
			}
			// The change is proposed (and merged, when the bot may): from here the
			// step only waits, and Abort or Cancel may end it.
			x.OnlyWaiting()
			if !merged {
				x.ProgressReport(report.AwaitingMerge{URL: pr.URL, Refused: true, Reason: reason})
			}
			break
		}
	} else if !pr.Merged {
		x.OnlyWaiting()
		x.ProgressReport(report.AwaitingMerge{URL: pr.URL})
	} else {
		x.OnlyWaiting()
	}
	mctx, cancel := context.WithTimeout(ctx, t.cfg.GitHub.MergeTimeout.Duration)
	defer cancel()
	done, err := t.gh.WaitMerged(mctx, pr, t.mergeE, nil)
	if err != nil && mctx.Err() != nil && ctx.Err() == nil {
		return out, report.Fail(report.NotMerged{URL: pr.URL, Timeout: t.cfg.GitHub.MergeTimeout.Duration}, nil)
	}
	if err != nil {
		return out, err
	}
	if done.HeadSHA != pr.HeadSHA {
		// A person merged a head the bot did not compare: compare what was merged.
		if _, err := open(); err != nil {
			return out, err
		}
	}
	res.HeadSHA = done.HeadSHA
	res.Merged, res.BaseSHA = true, done.BaseSHA
	out = out.WithResult(res)
	merged := report.Merged{URL: done.URL}
	if p.Workflow == "" {
		return out.WithReport(merged), nil
	}
	run, err := t.waitRun(ctx, x, p, done)
	if run.ID != 0 {
		res.Run = &WorkflowRun{ID: run.ID, Workflow: run.Workflow, URL: run.URL, HeadSHA: run.HeadSHA, Conclusion: run.Conclusion}
		out = out.WithResult(res)
	}
	if err != nil {
		return out, err
	}
	merged.Workflow, merged.RunURL = runLabel(run), run.URL
	return out.WithReport(merged), nil
}

// waitRun follows the workflow run that the merge of pr started, in the step's
// progress message, until it finishes.
func (t *TrafficSteps) waitRun(ctx context.Context, x engine.StepContext, p *plan.PullRequest, pr github.PR) (github.Run, error) {
	if pr.MergeSHA == "" {
		return github.Run{}, report.Fail(report.NoMergeCommit{URL: pr.URL, Workflow: p.Workflow}, nil)
	}
	g := t.cfg.GitHub
	x.ProgressReport(report.AwaitingRun{URL: pr.URL, MergeSHA: pr.MergeSHA, Workflow: p.Workflow})
	return t.gh.WaitRun(ctx, pr.Repo, p.Workflow, pr.MergeSHA, github.WaitRunOptions{
		Every: g.RunPollEvery.Duration, Appear: g.RunAppearTimeout.Duration, Timeout: g.RunTimeout.Duration, Branch: p.Base,
		Progress: func(r github.Run) {
			x.ProgressReport(report.RunState{URL: pr.URL, Workflow: runLabel(r), RunURL: r.URL, Status: r.Status, Conclusion: r.Conclusion})
		}})
}

func runLabel(r github.Run) string {
	if r.Workflow != "" {
		return r.Workflow
	}
	return r.File
}

func (t *TrafficSteps) waitDNS(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	x.OnlyWaiting()
	w := x.Step.WaitDNS
	answers, err := dns.Wait(ctx, dns.WaitOptions{Name: w.Name, Want: w.Want, Resolvers: w.Resolvers, Every: t.cfg.DNS.PollEvery.Duration, Timeout: t.cfg.DNS.Timeout.Duration,
		Progress: func(as []dns.Answer) {
			x.ProgressReport(report.WaitingDNS{Name: w.Name, Want: w.Want, Answers: dns.Reports(as)})
		}})
	if err != nil {
		return engine.Output{}, err // the failure holds each resolver's last answer
	}
	return engine.Output{}.WithReport(report.DNS{Name: w.Name, Want: w.Want, Resolvers: len(answers), Answers: dns.Reports(answers)}), nil
}

func (t *TrafficSteps) waitTLS(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	x.OnlyWaiting()
	w := x.Step.WaitTLS
	cert, err := tlswait.Wait(ctx, w.Address, w.ServerName, t.roots, t.cfg.TLS.PollEvery.Duration, t.cfg.TLS.Timeout.Duration, func(n int, err error) {
		x.ProgressReport(report.TLSAttempt{Attempt: n, Err: err.Error()})
	})
	if err != nil {
		return engine.Output{}, err
	}
	return engine.Output{}.WithReport(report.TLS{Address: w.Address, ServerName: w.ServerName, SANs: cert.SANs, Issuer: cert.Issuer, NotAfter: cert.NotAfter}), nil
}

// planHas reports whether the run's plan has a step of one of the kinds.
func planHas(run *engine.Run, kinds ...plan.Kind) bool {
	for _, s := range run.Plan.Steps {
		for _, k := range kinds {
			if s.Kind == k {
				return true
			}
		}
	}
	return false
}

func (t *TrafficSteps) checkDeployed(ctx context.Context, run *engine.Run) (report.Facts, error) {
	g := t.cfg.GitHub.App
	env := t.cfg.Clusters[run.Destination].GitHubEnvironment
	st, err := t.gh.DeployedLatest(ctx, g.Repo, g.Branch, env, g.DeployWorkflow)
	if err != nil {
		return nil, err
	}
	if st.NotDeployed != nil {
		return nil, report.Fail(*st.NotDeployed, nil)
	}
	return report.CheckDeployed{Environment: env, Repo: g.Repo, Branch: g.Branch, SHA: st.HeadSHA}, nil
}

// checkNoDeploy is a check of its own: a deploy resets the replica counts the cutover
// sets, whatever the destination runs.
func (t *TrafficSteps) checkNoDeploy(ctx context.Context, run *engine.Run) (report.Facts, error) {
	g := t.cfg.GitHub.App
	urls, err := t.gh.DeploysInProgress(ctx, g.Repo, g.DeployWorkflow)
	if err != nil {
		return nil, err
	}
	if len(urls) > 0 {
		return nil, report.Fail(report.DeployRunning{Workflow: g.DeployWorkflow, URLs: urls}, nil)
	}
	return report.CheckNoDeploy{Workflow: g.DeployWorkflow, Repo: g.Repo}, nil
}

func (t *TrafficSteps) checkDNS(ctx context.Context, run *engine.Run) (report.Facts, error) {
	if !planHas(run, plan.KindPullRequest, plan.KindWaitDNS) {
		return report.CheckDNS{NoChange: true}, nil
	}
	want := strings.ToLower(strings.TrimSuffix(t.cfg.Clusters[run.Origin].LBHostname, "."))
	dest := strings.ToLower(strings.TrimSuffix(t.cfg.Clusters[run.Destination].LBHostname, "."))
	bad := report.DNSCheck{Origin: want, Destination: dest}
	for _, r := range t.cfg.DNS.Resolvers {
		if a := dns.Query(ctx, r, t.cfg.DNS.Name); a.Err != nil || a.CNAME != want {
			bad.Answers = append(bad.Answers, a.Report())
		}
	}
	if len(bad.Answers) > 0 {
		return nil, report.Fail(bad, nil)
	}
	return report.CheckDNS{Name: t.cfg.DNS.Name, Target: want, Resolvers: len(t.cfg.DNS.Resolvers)}, nil
}

// checkWorkflows reads the workflows the plan's merges start: each must run on a push
// to its branch, and the certificate workflow must deploy to the destination's
// environment (a job that never runs there is a certificate that never comes).
func (t *TrafficSteps) checkWorkflows(ctx context.Context, run *engine.Run) (report.Facts, error) {
	var found report.CheckWorkflows
	var bad report.Workflows
	seen := map[string]bool{}
	for _, s := range run.Plan.Steps {
		p := s.PullRequest
		if s.Kind != plan.KindPullRequest || p == nil || p.Workflow == "" || p.RevertOf != "" || seen[p.Repo+p.Workflow] {
			continue
		}
		seen[p.Repo+p.Workflow] = true
		w, err := t.gh.Workflow(ctx, p.Repo, p.Base, p.Workflow)
		if err != nil {
			bad.Problems = append(bad.Problems, report.WorkflowProblem{How: report.WorkflowUnread, Repo: p.Repo, Change: p.Change, Workflow: p.Workflow, Err: err.Error()})
			continue
		}
		if p.Change != "certs" {
			if !w.RunsOnPush(p.Base) {
				bad.Problems = append(bad.Problems, report.WorkflowProblem{How: report.WorkflowNoPush, Repo: p.Repo, Change: p.Change, Workflow: p.Workflow, Branch: p.Base})
				continue
			}
			found.Workflows = append(found.Workflows, report.WorkflowFound{Repo: p.Repo, Workflow: p.Workflow, Branch: p.Base})
			continue
		}
		env := t.cfg.Clusters[run.Destination].CertsEnvironment
		c := w.DeploysTo(p.Workflow, env, p.Base)
		if !c.OK {
			c.Problem.Repo, c.Problem.Change = p.Repo, p.Change
			bad.Problems = append(bad.Problems, *c.Problem)
			continue
		}
		found.Workflows = append(found.Workflows, report.WorkflowFound{Repo: p.Repo, Workflow: p.Workflow, Branch: p.Base, Environment: env, Jobs: c.Jobs})
	}
	if len(bad.Problems) > 0 {
		return nil, report.Fail(bad, nil)
	}
	return found, nil
}
