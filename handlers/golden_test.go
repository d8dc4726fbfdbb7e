package handlers_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cutoverbot "github.com/nycmeshnet/cutoverbot"
	"github.com/nycmeshnet/cutoverbot/bot/blockkit"
	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/console"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/ops/snapshot"

	"github.com/nycmeshnet/cutoverbot/handlers"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var t0 = time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)

func loadConfig(t *testing.T) *config.Config {
	cfg, problems := config.Parse(cutoverbot.ExampleConfig, config.Options{Getenv: func(string) string { return "" }})
	require.Empty(t, problems.Criticals())
	return cfg
}

// fixedRun is a run stopped at step 9 (restore) with a mix of states, at fixed times.
func fixedRun(t *testing.T, cfg *config.Config) *engine.Run {
	p, err := plan.Build(cfg, "prod2", "prod1")
	require.NoError(t, err)
	r := &engine.Run{ID: "20261124-2000-ab12", Origin: "prod2", Destination: "prod1", Initiator: "U01ALICE", Created: t0, State: engine.Active, Plan: p, Current: 8}
	for i, s := range p.Steps {
		sr := engine.StepRun{Step: s, State: engine.Pending}
		if i < 8 {
			sr.State, sr.Attempt = engine.Succeeded, 1
			sr.Started = t0.Add(time.Duration(i) * time.Minute)
			sr.Ended = sr.Started.Add(time.Duration(i+1) * 1700 * time.Millisecond)
			if i > 0 {
				r.Decisions = append(r.Decisions, engine.Decision{Step: i, StepID: s.ID, Attempt: 1, User: "U02BOB", Action: engine.Approve, At: sr.Started})
			}
		}
		r.Steps = append(r.Steps, sr)
	}
	r.Steps[7].Output = engine.Output{Summary: "dumped meshdb from prod2: 13.2 MiB, sha256 9f2c…, 14 tables, 181,204 rows"}
	r.Steps[8].State, r.Steps[8].Attempt, r.Steps[8].AwaitingSince = engine.Awaiting, 1, t0.Add(9*time.Minute)
	return r
}

func TestGoldenMessages(t *testing.T) {
	cfg := loadConfig(t)
	r := fixedRun(t, cfg)
	now := t0.Add(12*time.Minute + 30*time.Second)

	decided := r.Clone()
	decided.Decisions = append(decided.Decisions, engine.Decision{Step: 8, StepID: "restore-destination", Attempt: 1, User: "U03CAROL", Action: engine.Approve, At: now})
	decided.Steps[8].State = engine.Running

	failed := r.Clone()
	failed.Steps[8].State = engine.Failed
	failed.Steps[8].Error = "restore into prod1: sha256 in the pod 0bad… does not match the local 9f2c…; the file was removed and nothing was restored"

	succeeded := r.Clone()
	succeeded.Steps[8].State, succeeded.Steps[8].Started, succeeded.Steps[8].Ended = engine.Succeeded, now, now.Add(41*time.Second)
	succeeded.Steps[8].Output = engine.Output{Summary: "restored 13.2 MiB (sha256 9f2c1a0b3c4d, checked in the pod) into prod1; backup of the old data: 12.9 MiB, sha256 77aa01bb02cc"}

	// The diff as ops/snapshot reports it, so the golden file follows its real format.
	rep := snapshot.Report{Results: []snapshot.Result{
		{Name: "nodes", Before: 20114, After: 20115, Added: []snapshot.Entry{{Key: "20115"}}, Changed: []snapshot.Change{
			{Key: "1234", Fields: []snapshot.FieldChange{{Field: "status", Old: `"Active"`, New: `"Inactive"`}}},
			{Key: "5678", Fields: []snapshot.FieldChange{{Field: "name", Old: `"Grand"`, New: `"Grand St"`}, {Field: "notes", Old: "null", New: `"<b>roof</b> & mast"`}}}}},
		{Name: "links", Before: 9812, After: 9812},
		{Name: "sectors", Before: 3120, After: 3119, Removed: []snapshot.Entry{{Key: "1932|90"}}},
	}}
	diff := r.Clone()
	diff.Current = 11
	diff.Steps[11].State, diff.Steps[11].Attempt, diff.Steps[11].Started, diff.Steps[11].Ended = engine.Failed, 1, now, now.Add(3*time.Second)
	differs := report.Fail(rep.Facts(5), nil)
	diff.Steps[11].Error, diff.Steps[11].Failure = differs.Error(), engine.FailureOf(differs)
	diff.Steps[11].Output = engine.Output{Details: rep.Full()}
	require.True(t, handlers.IsDiff(diff.Steps[11]), "the golden diff is a diff step's")

	reminded := r.Clone()
	reminded.Steps[8].Approvals = []string{"U03CAROL"}
	group := cfg.Slack.Maintainers
	group.Usergroup = "S0MESHDB"
	mention := handlers.MentionLine(cfg.Slack.Maintainers, r.Initiator, nil)
	require.Equal(t, "<@U02BOB> <@U03CAROL>", mention, "the initiator is never mentioned")

	link := func(r *engine.Run) string {
		if r.Note("header") == "" {
			return ""
		}
		return "https://nycmesh.slack.com/archives/C0123MESHDB/p" + strings.ReplaceAll(r.Note("header"), ".", "")
	}
	withThread := func(x *engine.Run, ts string) *engine.Run { x.Notes = map[string]string{"header": ts}; return x }
	meta := handlers.DecisionMeta{RunID: r.ID, Step: 8, Attempt: 1, Channel: "C0123MESHDB", Thread: "1764014400.000100", ResponseURL: "https://hooks.slack.com/actions/T0/1/x"}
	modal := func(a engine.Action, step int) message.Modal {
		m := meta
		m.Action, m.Step = a, step
		return handlers.DecisionModal(r, step, 1, a, m)
	}

	ended := r.Clone()
	ended.State, ended.Ended = engine.Completed, now
	for i := range ended.Steps {
		ended.Steps[i].State = engine.Succeeded
	}

	proposed := failed.Clone()
	proposed.Steps[8].SkipVotes, proposed.Steps[8].SkipReasons = []string{"U02BOB"}, []string{"restored by hand from the backup"}

	waiting := r.Clone()
	waiting.Steps[13].State, waiting.Steps[13].Attempt, waiting.Steps[13].Waiting = engine.Running, 1, true

	earlier := ended.Clone()
	earlier.ID, earlier.Created, earlier.Ended = "20261123-2000-cd34", t0.Add(-24*time.Hour), t0.Add(-23*time.Hour)
	deployed := r.Clone()
	deploy := handlers.Deploy{ID: 8812345, Workflow: "Publish and Deploy", URL: "https://github.com/nycmeshnet/meshdb/actions/runs/8812345",
		SHA: "5d2e8f1a9b0c3d4e5f60718293a4b5c6d7e8f901", Status: "in_progress"}
	deployed.Notes = map[string]string{handlers.DeployNote(deploy.ID): "https://github.com/nycmeshnet/meshdb/actions/runs/8812345 of 5d2e8f1 (in progress)"}

	p, err := plan.Build(cfg, "prod2", "prod1")
	require.NoError(t, err)
	pre, preDone := preflightRuns(r, now)
	cases := map[string]message.Message{
		"deploy-report":       handlers.DeployReport(r, deploy, mention),
		"prompt-after-deploy": handlers.Prompt(deployed, 8, 2, handlers.BriefOf(cfg, deployed, 8), mention),
		"header":              handlers.Header(r, now),
		"prompt":              handlers.Prompt(r, 8, 2, handlers.BriefOf(cfg, r, 8), mention),
		"prompt-group":        handlers.Prompt(reminded, 8, 2, handlers.BriefOf(cfg, reminded, 8), handlers.MentionLine(group, r.Initiator, reminded.Steps[8].Approvals)),
		"decided":             handlers.Decided(decided, 8, 1, 1),
		"result":              handlers.Result(succeeded, 8),
		"failure":             handlers.Failure(failed, 8, 1, mention),
		"skip-proposed":       handlers.Failure(proposed, 8, 2, mention),
		"failure-decided":     handlers.FailureDecided(failed, 8, 1, engine.Decision{User: "U03CAROL", Action: engine.Retry}),
		"diff-summary":        handlers.Failure(diff, 11, 1, mention),
		"progress":            handlers.Progress(r, 8, "copying 13.2 MiB into prod1 pod meshdb-postgres-5c6b7-klmno, then pg_restore"),
		"progress-waiting":    handlers.Progress(waiting, 13, "waiting for db.nycmesh.net → kubernetes-lb-prod-sn3.nycmesh.net: 1.1.1.1:53 answers kubernetes-lb-prod-sn10.nycmesh.net"),
		"reminder":            handlers.Reminder(r, 8, time.Hour, mention, t0.Add(9*time.Minute+2*time.Hour)),
		"direct-message":      handlers.DirectPrompt(r, 8, link(withThread(r.Clone(), "1764014400.000100"))+"?thread_ts=1764014400.000100&cid=C0123MESHDB", "C0123MESHDB"),
		"status":              handlers.Status(r, 1, now),
		"status-none":         handlers.Status(nil, 1, now),
		"help":                handlers.Help(),
		"refusal":             handlers.Refusal("you started this run, so you cannot approve its steps; another maintainer must"),
		"plan":                handlers.PlanMessage(cfg, p),
		"history":             handlers.History([]*engine.Run{withThread(r.Clone(), "1764014400.000100"), withThread(earlier, "1763928000.000100"), ended}, now, link),
		"home":                handlers.Home(withThread(r.Clone(), "1764014400.000100"), []*engine.Run{r, earlier}, 1, now, link, "C0123MESHDB"),
		"history-run": handlers.RunDecisions(ended, []engine.AuditEntry{
			{At: t0, RunID: ended.ID, User: "U01ALICE", Event: "run.started"},
			{At: t0.Add(time.Minute), RunID: ended.ID, Step: 2, StepID: "scale-destination-celery", Attempt: 1, User: "U02BOB", Event: "decision.approve"},
			{At: t0.Add(2 * time.Minute), RunID: ended.ID, Step: 3, StepID: "maintenance-on-destination", Attempt: 1, User: "U02BOB", Event: "decision.retry"},
			{At: t0.Add(3 * time.Minute), RunID: ended.ID, Step: 3, StepID: "maintenance-on-destination", Attempt: 2, User: "U03CAROL", Event: "decision.skip", Reason: "flag set by hand"},
			{At: t0.Add(4 * time.Minute), RunID: ended.ID, Step: 4, StepID: "announce-start", Attempt: 1, User: "U02BOB", Event: "decision.abort", Reason: "wrong night"},
			{At: t0.Add(5 * time.Minute), RunID: ended.ID, Step: 1, StepID: "preflight", Attempt: 1, User: "U03CAROL", Event: "decision.override", Check: "dns-points-at-the-origin", Reason: "9.9.9.9 still caches the old answer"},
		}),
		"token-warning": handlers.TokenWarning([]handlers.ExpiringToken{
			{Cluster: "prod2", Expires: now.Add(6*24*time.Hour + 3*time.Hour)}, {Cluster: "prod1", Expires: now.Add(-time.Hour)}}, now),
		"ended": handlers.Ended(ended, now, nil),
		"ended-cleanup": handlers.Ended(ended, now, engine.ReportOf(report.End{
			Leftovers: []report.Leftover{{Path: "/tmp/cutoverbot-20261124-2000-ab12.dump", Cluster: "prod1", Namespace: "meshdb",
				Pod: "meshdb-postgres-5c6b7-klmno", Container: "meshdb-postgres", Err: "connection refused"}},
			Backups: []report.KeptBackup{{File: "restore-destination-backup-early-1.1.dump", Bytes: 1258291,
				SHA256: "77951f881c6b0d2e3f4a5b6c7d8e9f00112233445566778899aabbccddeeff00", Replica: "cutoverbot-0"}},
			KeptUntil: time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)})),
	}
	cases["preflight-failure"] = handlers.Failure(pre, 0, 2, mention)
	cases["preflight-result"] = handlers.Result(preDone, 0)
	cases["preflight-failure-closed"] = handlers.FailureDecided(pre, 0, 2, pre.Decisions[len(pre.Decisions)-1])
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			text, blocks := blockkit.Render(m)
			golden(t, name, map[string]any{"text": text, "blocks": blocks})
			assert.LessOrEqual(t, len(blocks), blockkit.MaxBlocks)
		})
	}
	modals := map[string]message.Modal{
		"modal-reject": modal(engine.Reject, 8),
		"modal-skip":   modal(engine.Skip, 8),
		"modal-abort":  modal(engine.Abort, 8),
		"modal-override": func() message.Modal {
			m := meta
			m.Action, m.Step, m.Attempt, m.Check = engine.Override, 0, 2, "no-meshdb-deploy-in-progress"
			return handlers.DecisionModal(pre, 0, 2, engine.Override, m)
		}(),
	}
	for name, m := range modals {
		t.Run(name, func(t *testing.T) {
			v := blockkit.RenderModal(m)
			golden(t, name, v)
			assert.LessOrEqual(t, utf8.RuneCountInString(v.Title.Text), blockkit.MaxViewTitle)
			assert.LessOrEqual(t, len(v.PrivateMetadata), blockkit.MaxMetadata)
			var back handlers.DecisionMeta
			require.NoError(t, json.Unmarshal([]byte(v.PrivateMetadata), &back))
			assert.Equal(t, r.ID, back.RunID)
			if back.Action == engine.Override {
				assert.Equal(t, []any{0, 2, "no-meshdb-deploy-in-progress"}, []any{back.Step, back.Attempt, back.Check})
				return
			}
			assert.Equal(t, 8, back.Step)
			assert.Equal(t, 1, back.Attempt)
		})
	}
}

// golden compares v, as JSON, with testdata/golden/NAME.json (-update rewrites it).
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		require.NoError(t, os.WriteFile(path, append(got, '\n'), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./handlers -update to create %s", path)
	assert.JSONEq(t, string(want), string(got))
}

func TestPromptButtonsAreExactlyApproveAndReject(t *testing.T) {
	cfg := loadConfig(t)
	r := fixedRun(t, cfg)
	m := handlers.Prompt(r, 8, 1, handlers.BriefOf(cfg, r, 8), "")
	require.Len(t, m.Buttons, 2)
	assert.Equal(t, "Approve", m.Buttons[0].Label)
	assert.Equal(t, "Reject", m.Buttons[1].Label)
	id, step, attempt, err := handlers.ParseButtonValue(m.Buttons[0].Value)
	require.NoError(t, err)
	assert.Equal(t, r.ID, id)
	assert.Equal(t, 8, step)
	assert.Equal(t, 1, attempt)

	f := handlers.Failure(r, 8, 1, "")
	var labels []string
	for _, b := range f.Buttons {
		labels = append(labels, b.Label)
		assert.Nil(t, b.Confirm, "%s: the modal asking for the reason is the confirmation", b.Label)
	}
	assert.Equal(t, []string{"Retry", "Skip", "Abort"}, labels)

	for _, bad := range []string{"", "x", "r|a|1", "r|1|0", "|1|1", "r|-1|1"} {
		_, _, _, err := handlers.ParseButtonValue(bad)
		assert.Error(t, err, bad)
	}
}

func TestSlackPlanShowsWhatTheCommandLinePrints(t *testing.T) {
	cfg := loadConfig(t)
	p, err := plan.Build(cfg, "prod2", "prod1")
	require.NoError(t, err)
	var cli bytes.Buffer
	console.Plan(&cli, cfg, p)
	m := handlers.PlanMessage(cfg, p)
	lines := strings.Split(cli.String(), "\n")
	checked := 0
	for _, l := range lines[1 : len(lines)-2] { // the title and "Nothing was changed" differ in wording
		if strings.TrimSpace(l) == "" {
			continue
		}
		assert.Contains(t, m.Code, l)
		checked++
	}
	assert.Greater(t, checked, 50, "every step and every fact of the plan")
	for _, fact := range []string{"Hey all, we're going to do some work on MeshDB", "nycmeshnet/nycmesh-dns sld/records.nycmesh.net.tf", "199.170.132.45:443", "1.1.1.1:53"} {
		assert.Contains(t, m.Code, fact)
	}
}

// What Slack shows of mrkdwn: the three entities it asks for decoded, once.
var slackShows = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

func TestPromptCommandsShowAsTheyRun(t *testing.T) {
	cfg := loadConfig(t)
	r := fixedRun(t, cfg)
	for _, i := range []int{7, 8} { // the dump and the restore: redirections, quotes and the run's paths
		_, blocks := blockkit.Render(handlers.Prompt(r, i, 1, handlers.BriefOf(cfg, r, i), ""))
		var shown []string
		for _, b := range blocks {
			if c, ok := b.(*slack.ContextBlock); ok {
				for _, e := range c.ContextElements.Elements {
					shown = append(shown, slackShows.Replace(e.(*slack.TextBlockObject).Text))
				}
			}
		}
		text := strings.Join(shown, "\n")
		for _, entity := range []string{"&lt;", "&gt;", "&amp;", "&#"} {
			assert.NotContains(t, text, entity, "step %d shows no HTML entity", i+1)
		}
		assert.NotContains(t, text, "<run>", "the run's own paths, not the plan's placeholder")
		for _, c := range plan.Commands(cfg, r.Plan, r.Steps[i].Step) {
			argv := make([]string, len(c.Argv))
			for j, a := range c.Argv {
				argv[j] = strings.ReplaceAll(a, "<run>", r.ID)
			}
			assert.Contains(t, text, "`"+plan.ShellQuote(argv)+"`", "step %d shows the command exactly", i+1)
		}
	}
}

// preflightRuns are r at its preflight: failed in attempt 2 on three checks (one
// overridden by two maintainers, one proposed by one, one not), with a warning; and
// after the next attempt, which passed with the overrides.
func preflightRuns(r *engine.Run, now time.Time) (failed, passed *engine.Run) {
	failed = r.Clone()
	failed.Current = 0
	for i := range failed.Steps {
		failed.Steps[i] = engine.StepRun{Step: failed.Steps[i].Step, State: engine.Pending}
	}
	failed.Decisions = nil
	dns := engine.CheckOverride{Check: "dns-points-at-the-origin", Accepted: true, Votes: []engine.OverrideVote{
		{User: "U02BOB", Reason: "9.9.9.9 still caches the old answer; the TTL is 300 s", Attempt: 1, At: now},
		{User: "U03CAROL", Reason: "1.1.1.1 and 8.8.8.8 answer the origin", Attempt: 2, At: now}}}
	deploy := engine.CheckOverride{Check: "no-meshdb-deploy-in-progress", Votes: []engine.OverrideVote{
		{User: "U02BOB", Reason: "the running deploy is of dev3", Attempt: 2, At: now}}}
	lines := []engine.CheckLine{
		// The cluster checks report what they found as data; the golden shows their words.
		{ID: "clusters-reachable", Name: "clusters reachable", Outcome: engine.CheckPassed, Report: engine.ReportOf(report.CheckReachable{Clusters: []string{"prod2", "prod1"}})},
		{ID: "pods-ready", Name: "pods ready", Outcome: engine.CheckPassed, Report: engine.ReportOf(report.CheckPods{Clusters: []report.ClusterPods{
			{Cluster: "prod2", Meshweb: "meshdb-meshweb-7d9f8-abcde", Postgres: "meshdb-postgres-0"}, {Cluster: "prod1", Meshweb: "meshdb-meshweb-5c6b7-fghij", Postgres: "meshdb-postgres-0"}}})},
		{ID: "celery-statefulset-present", Name: "celery StatefulSet present", Outcome: engine.CheckPassed, Report: engine.ReportOf(report.CheckCelery{StatefulSets: []report.ClusterWorkload{
			{Cluster: "prod2", Name: "meshdb-celery-worker"}, {Cluster: "prod1", Name: "meshdb-celery-worker"}}})},
		{ID: "meshweb-image-digests-equal", Name: "meshweb image digests equal", Outcome: engine.CheckWarned, Report: engine.ReportOf(report.CheckDigestsDiffer{
			Origin: "prod2", OriginDigest: "docker.io/willnilges/meshdb@sha256:1111", Destination: "prod1", DestinationDigest: "docker.io/willnilges/meshdb@sha256:2222"})},
		{ID: "destination-runs-the-newest-meshdb", Name: "destination runs the newest MeshDB", Outcome: engine.CheckPassed, Report: engine.ReportOf(report.CheckDeployed{
			Environment: "prod1", Repo: "nycmeshnet/meshdb", Branch: "main", SHA: "5d2e8f1"})},
		{ID: "no-meshdb-deploy-in-progress", Name: "no MeshDB deploy in progress", Outcome: engine.CheckFailed,
			Message: report.Fail(report.DeployRunning{Workflow: "publish-and-deploy.yaml", URLs: []string{"https://github.com/nycmeshnet/meshdb/actions/runs/8812345"}}, nil).Error()},
		{ID: "dns-points-at-the-origin", Name: "DNS points at the origin", Outcome: engine.CheckFailed,
			Message: "9.9.9.9:53 answers db.nycmesh.net CNAME kubernetes-lb-prod-sn10.nycmesh.net <sn10>, not the origin kubernetes-lb-prod-sn3.nycmesh.net"},
		{ID: "the-merges-workflows", Name: "the merges' workflows", Outcome: engine.CheckFailed,
			Message: `nycmeshnet/k8s-infra: no job of workflow "Deploy Environments" (deploy_environments.yaml) deploys to environment prod1 (its jobs deploy to only dev3, prod2)`},
	}
	s := &failed.Steps[0]
	s.State, s.Attempt, s.Started, s.Ended = engine.Failed, 2, now, now.Add(4*time.Second)
	s.Overrides = []engine.CheckOverride{dns, deploy}
	s.Output = engine.Output{}.WithReport(report.Checks{Total: 8, Passed: 4, Warned: 1}).WithResult(engine.Checks{Attempt: 2, Checks: lines})
	s.Error = "preflight failed: no-meshdb-deploy-in-progress, dns-points-at-the-origin, the-merges-workflows"
	failed.Decisions = []engine.Decision{{Step: 0, StepID: "preflight", Attempt: 2, User: "U03CAROL", Action: engine.Override,
		Check: "dns-points-at-the-origin", Reason: "1.1.1.1 and 8.8.8.8 answer the origin", At: now}}

	passed = failed.Clone()
	s = &passed.Steps[0]
	deploy.Accepted = true
	deploy.Votes = append(deploy.Votes, engine.OverrideVote{User: "U03CAROL", Reason: "checked: it deploys dev3", Attempt: 2, At: now})
	s.Overrides = []engine.CheckOverride{dns, deploy}
	after := append([]engine.CheckLine(nil), lines...)
	after[5].Outcome, after[5].Override = engine.CheckOverridden, &deploy
	after[6].Outcome, after[6].Override = engine.CheckOverridden, &dns
	after[7].Outcome, after[7].Message, after[7].Report = engine.CheckPassed, "", engine.ReportOf(report.CheckWorkflows{Workflows: []report.WorkflowFound{
		{Repo: "nycmeshnet/nycmesh-dns", Workflow: "sld_terraform.yaml", Branch: "main"},
		{Repo: "nycmeshnet/k8s-infra", Workflow: "deploy_environments.yaml", Branch: "main", Environment: "prod1", Jobs: []string{"deploy_prod1"}}}})
	s.State, s.Attempt, s.Error = engine.Succeeded, 3, ""
	s.Output = engine.Output{}.WithReport(report.Checks{Total: 8, Passed: 5, Warned: 1, Overridden: 2}).WithResult(engine.Checks{Attempt: 3, Checks: after})
	return failed, passed
}
