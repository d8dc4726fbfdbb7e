package plan_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cutoverbot "github.com/nycmeshnet/cutoverbot"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

func load(t *testing.T, mutate func(string) string) *config.Config {
	t.Helper()
	src := string(cutoverbot.ExampleConfig)
	if mutate != nil {
		src = mutate(src)
	}
	cfg, problems := config.Parse([]byte(src), config.Options{Getenv: func(string) string { return "" }})
	require.Empty(t, problems.Criticals())
	return cfg
}

// The default plan follows the manual runbook step for step, for prod2 -> prod1.
func TestDefaultPlanMatchesTheRunbook(t *testing.T) {
	cfg := load(t, nil)
	p, err := plan.Build(cfg, "prod2", "prod1")
	require.NoError(t, err)
	want := []struct {
		id      string
		kind    plan.Kind
		cluster string
	}{
		{"preflight", plan.KindPreflight, ""},
		{"scale-destination-celery", plan.KindScale, "prod1"},
		{"maintenance-on-destination", plan.KindMaintenance, "prod1"},
		{"announce-start", plan.KindAnnounce, ""},
		{"scale-origin-celery", plan.KindScale, "prod2"},
		{"snapshot-prior", plan.KindSnapshot, ""},
		{"maintenance-on-origin", plan.KindMaintenance, "prod2"},
		{"dump-origin", plan.KindDump, "prod2"},
		{"restore-destination", plan.KindRestore, "prod1"},
		{"verify-database", plan.KindVerify, ""},
		{"maintenance-off-destination", plan.KindMaintenance, "prod1"},
		{"snapshot-post", plan.KindSnapshot, "prod1"},
		{"pr-dns", plan.KindPullRequest, ""},
		{"wait-dns", plan.KindWaitDNS, ""},
		{"pr-certs", plan.KindPullRequest, ""},
		{"wait-tls", plan.KindWaitTLS, ""},
		{"restore-destination-celery", plan.KindScale, "prod1"},
		{"announce-done", plan.KindAnnounce, ""},
	}
	require.Len(t, p.Steps, len(want))
	for i, w := range want {
		s := p.Steps[i]
		assert.Equal(t, w.id, s.ID, "step %d", i+1)
		assert.Equal(t, w.kind, s.Kind, "step %d", i+1)
		assert.Equal(t, w.cluster, s.Cluster, "step %d", i+1)
		assert.Equal(t, i == 0, s.AutoRun, "only preflight runs without approval")
	}
	st := func(id string) plan.Step { return p.Steps[p.Index(id)] }

	assert.Equal(t, int32(0), *st("scale-destination-celery").Scale.Replicas)
	assert.Equal(t, "meshdb-celery-worker", st("scale-destination-celery").Scale.Name)
	assert.Equal(t, plan.StatefulSet, st("scale-origin-celery").Scale.Workload)
	assert.Equal(t, "scale-destination-celery", st("restore-destination-celery").Scale.RestoreFrom)
	assert.Nil(t, st("restore-destination-celery").Scale.Replicas)

	assert.Equal(t, []string{"pg_dump", "-d", "meshdb", "-U", "meshdb", "-Fc", "-Z", "1"}, st("dump-origin").Dump.Argv)
	assert.Equal(t, []string{"pg_restore", "-d", "meshdb", "-U", "meshdb", "-c", "--if-exists", "/tmp/cutoverbot-<run>.dump"}, st("restore-destination").Restore.Argv)
	assert.Equal(t, "dump-origin", st("restore-destination").Restore.From)

	maint := plan.Commands(cfg, p, st("maintenance-on-origin"))
	require.Len(t, maint, 3)
	assert.Equal(t, []string{"python", "manage.py", "enable_flag", "MAINTENANCE_MODE"}, maint[0].Argv)
	assert.Equal(t, "prod2", maint[0].Cluster)
	assert.Equal(t, "app=meshdb-meshweb-app", maint[0].Selector)
	assert.Equal(t, "meshdb-meshweb", maint[0].Container)
	assert.Equal(t, "app=meshdb-postgres-app", maint[1].Selector, "SQL fallback runs in the postgres pod")
	off := plan.Commands(cfg, p, st("maintenance-off-destination"))
	assert.Equal(t, []string{"python", "manage.py", "disable_flag", "MAINTENANCE_MODE"}, off[0].Argv)
	assert.Equal(t, "prod1", off[0].Cluster)

	// The dump step also works on the destination meanwhile: the approver sees it.
	var dumpCmds []string
	for _, c := range plan.Commands(cfg, p, st("dump-origin")) {
		dumpCmds = append(dumpCmds, c.Cluster+": "+plan.ShellQuote(c.Argv))
	}
	require.Len(t, dumpCmds, 5)
	assert.Equal(t, "prod2: pg_dump -d meshdb -U meshdb -Fc -Z 1", dumpCmds[0])
	assert.Equal(t, `prod1: sh -c 'cat > '\''/tmp/cutoverbot-<run>.dump'\'' && wc -c < '\''/tmp/cutoverbot-<run>.dump'\'''`, dumpCmds[1])
	assert.Equal(t, "prod1: pg_dump -d meshdb -U meshdb -Fc -Z 1", dumpCmds[3], "the destination's backup")
	assert.Contains(t, dumpCmds[2], "prod1: psql")
	assert.Equal(t, dumpCmds[2], dumpCmds[4], "its state is read before and after the backup")
	assert.Equal(t, plan.SQLState, plan.Commands(cfg, p, st("dump-origin"))[2].SQL, "the state's SQL is composed as the step runs: a code")
	for _, c := range plan.Commands(cfg, p, st("verify-database")) {
		assert.Equal(t, plan.SQLFingerprint, c.SQL)
		assert.Equal(t, "", c.Argv[len(c.Argv)-1], "no words stand in the argv")
	}

	restore := plan.Commands(cfg, p, st("restore-destination"))
	var argvs []string
	for _, c := range restore {
		assert.Equal(t, "prod1", c.Cluster)
		assert.Equal(t, "meshdb-postgres", c.Container)
		argvs = append(argvs, plan.ShellQuote(c.Argv))
	}
	assert.Equal(t, []string{
		"pg_dump -d meshdb -U meshdb -Fc -Z 1",
		"sh -c 'cat > '\\''/tmp/cutoverbot-<run>.dump'\\'''",
		"sha256sum /tmp/cutoverbot-<run>.dump",
		"pg_restore -d meshdb -U meshdb -c --if-exists /tmp/cutoverbot-<run>.dump",
		"rm -f /tmp/cutoverbot-<run>.dump",
	}, argvs)

	assert.Equal(t, "public", st("snapshot-prior").Snapshot.Via)
	post := st("snapshot-post").Snapshot
	assert.Equal(t, "lb", post.Via)
	assert.Equal(t, "199.170.132.45:443", post.LBAddress, "the destination's LB")
	assert.Equal(t, "snapshot-prior", post.DiffAgainst)

	dns := st("pr-dns").PullRequest
	assert.Equal(t, "nycmeshnet/nycmesh-dns", dns.Repo)
	assert.Equal(t, "kubernetes-lb-prod-sn10.nycmesh.net", dns.From)
	assert.Equal(t, "kubernetes-lb-prod-sn3.nycmesh.net", dns.To)
	certs := st("pr-certs").PullRequest
	assert.Equal(t, []string{"terraform/prod1.tfvars", "terraform/prod2.tfvars"}, certs.Files)
	assert.Equal(t, "kubernetes-lb-prod-sn3.nycmesh.net", st("wait-dns").WaitDNS.Want)
	assert.Equal(t, "db.nycmesh.net", st("wait-tls").WaitTLS.ServerName)
	assert.Equal(t, "199.170.132.45:443", st("wait-tls").WaitTLS.Address)
	assert.Contains(t, st("announce-start").Announce.Text, "Hey all")
	assert.Contains(t, st("announce-done").Announce.Text, "back to normal")

	// Each merge waits for the workflow run it starts, and the plan says which.
	assert.Equal(t, "sld_terraform.yaml", dns.Workflow)
	assert.Equal(t, "deploy_environments.yaml", certs.Workflow)
	assert.Contains(t, plan.Facts(cfg, p, st("pr-dns")), plan.Fact{Kind: plan.FactPRWorkflow, F: map[string]any{
		"Workflow": "sld_terraform.yaml", "Repo": "nycmeshnet/nycmesh-dns", "Appear": 2 * time.Minute, "Timeout": time.Hour}})
	assert.Contains(t, plan.Facts(cfg, p, st("pr-certs")), plan.Fact{Kind: plan.FactPRCertsChecked, F: map[string]any{
		"Workflow": "deploy_environments.yaml", "Environment": "prod1", "Base": "main"}})
	snap := plan.Facts(cfg, p, st("snapshot-post"))
	require.NotEmpty(t, snap)
	assert.Equal(t, plan.FactSnapshot, snap[0].Kind)
	assert.Equal(t, 5*time.Minute, snap[0].F["ReadyTimeout"])
}

func TestRestoreJobsReachTheArgv(t *testing.T) {
	cfg := load(t, func(s string) string { return strings.Replace(s, "restore_jobs: auto", "restore_jobs: 4", 1) })
	p, err := plan.Build(cfg, "prod1", "prod2")
	require.NoError(t, err)
	rs := p.Steps[p.Index("restore-destination")]
	assert.Equal(t, []string{"pg_restore", "-d", "meshdb", "-U", "meshdb", "-c", "--if-exists", "-j", "4", "/tmp/cutoverbot-<run>.dump"}, rs.Restore.Argv)
	assert.Equal(t, 4, rs.Restore.Jobs)
	assert.NotContains(t, commandNotes(cfg, p, rs), plan.NoteRestoreAutoJobs, "the plan does not say the step reads the pod's cores")

	// auto (the default): the step reads the pod's cores when it runs, and the plan says so.
	cfg = load(t, nil)
	p, err = plan.Build(cfg, "prod1", "prod2")
	require.NoError(t, err)
	rs = p.Steps[p.Index("restore-destination")]
	assert.Equal(t, 0, rs.Restore.Jobs)
	assert.Contains(t, plan.Commands(cfg, p, rs), plan.Command{Cluster: "prod2", Namespace: "meshdb", Selector: "app=meshdb-postgres-app", Container: "meshdb-postgres",
		Argv: rs.Restore.Argv, Note: plan.NoteRestoreAutoJobs, MaxJobs: 4}, "the plan says the step reads the pod's cores, up to 4")
}

func TestPairsAreChecked(t *testing.T) {
	cfg := load(t, nil)
	for _, tc := range []struct {
		origin, dest string
		want         report.Facts
	}{
		{"prod1", "prod1", report.SameCluster{Cluster: "prod1"}},
		{"prod0", "prod1", report.UnknownCluster{Cluster: "prod0", Known: []string{"prod1", "prod2"}}},
		{"prod1", "", report.UnknownCluster{Cluster: "", Known: []string{"prod1", "prod2"}}},
	} {
		_, err := plan.Build(cfg, tc.origin, tc.dest)
		var f *report.Failed
		require.ErrorAs(t, err, &f, "%s → %s", tc.origin, tc.dest)
		assert.Equal(t, tc.want, f.Facts)
	}
}

func TestConfiguredPlanReplacesTheDefault(t *testing.T) {
	cfg := load(t, func(s string) string {
		return s + `
plan:
  - {kind: preflight, id: preflight}
  - {kind: scale, id: web-down, cluster: origin, workload: deployment, name: meshdb-meshweb, replicas: 0}
  - {kind: dump, id: dump-origin}
  - {kind: restore, id: restore, restore_from: dump-origin}
  - {kind: exec, id: check, cluster: destination, target: meshweb, argv: [python, manage.py, check]}
  - {kind: scale, id: web-up, cluster: origin, workload: deployment, name: meshdb-meshweb, restore_from: web-down}
`
	})
	p, err := plan.Build(cfg, "prod2", "prod1")
	require.NoError(t, err)
	require.Len(t, p.Steps, 6)
	assert.Equal(t, plan.Deployment, p.Steps[1].Scale.Workload)
	assert.Equal(t, "prod2", p.Steps[1].Cluster)
	cmds := plan.Commands(cfg, p, p.Steps[4])
	require.Len(t, cmds, 1)
	assert.Equal(t, "prod1", cmds[0].Cluster)
	assert.Equal(t, []string{"python", "manage.py", "check"}, cmds[0].Argv)
	assert.Equal(t, "app=meshdb-meshweb-app", cmds[0].Selector)
}

func TestConfiguredPlanReferencesMustExist(t *testing.T) {
	cfg := load(t, func(s string) string {
		return s + "\nplan:\n  - {kind: scale, id: up, cluster: origin, workload: statefulset, restore_from: down}\n"
	})
	_, err := plan.Build(cfg, "prod2", "prod1")
	assert.ErrorContains(t, err, `restore_from "down" is not an earlier step`)
}

func TestRollbackUndoesWhatRanNewestFirst(t *testing.T) {
	cfg := load(t, nil)
	p, err := plan.Build(cfg, "prod2", "prod1")
	require.NoError(t, err)
	ran := map[string]plan.Ran{}
	for _, s := range p.Steps[:13] { // through the DNS pull request
		ran[s.ID] = plan.Done
	}
	steps := plan.Rollback(p, ran)
	var ids []string
	for _, s := range steps {
		ids = append(ids, s.ID)
	}
	assert.Equal(t, []string{
		"undo-pr-dns", "undo-wait-dns", "undo-restore-destination", "undo-maintenance-on-origin",
		"undo-scale-origin-celery", "undo-scale-destination-celery", "undo-announce-done",
	}, ids, "maintenance on the destination was already turned off by step 11")
	byID := map[string]plan.Step{}
	for _, s := range steps {
		byID[s.ID] = s
	}
	assert.Equal(t, "pr-dns", byID["undo-pr-dns"].PullRequest.RevertOf)
	assert.Equal(t, "sld_terraform.yaml", byID["undo-pr-dns"].PullRequest.Workflow, "the revert waits for the run its merge starts too")
	assert.Equal(t, "kubernetes-lb-prod-sn10.nycmesh.net", byID["undo-wait-dns"].WaitDNS.Want, "DNS goes back to the origin")
	assert.True(t, byID["undo-restore-destination"].Optional)
	assert.Equal(t, "restore-destination", byID["undo-restore-destination"].Restore.FromBackup)
	assert.False(t, byID["undo-maintenance-on-origin"].Maintenance.On)
	assert.Equal(t, "prod2", byID["undo-maintenance-on-origin"].Cluster)
	assert.Equal(t, "scale-origin-celery", byID["undo-scale-origin-celery"].Scale.RestoreFrom)

	// A failed maintenance step may have changed the flag: it is undone too.
	steps = plan.Rollback(p, map[string]plan.Ran{"preflight": plan.Done, "scale-destination-celery": plan.Done, "maintenance-on-destination": plan.Maybe})
	require.Len(t, steps, 2)
	assert.Equal(t, "undo-maintenance-on-destination", steps[0].ID)

	// Nothing mutating ran: nothing to undo.
	assert.Empty(t, plan.Rollback(p, map[string]plan.Ran{"preflight": plan.Done}))
	// Stopped between the dump and the restore: the copy in the destination pod is
	// removed (the restore step would have); after a failed restore too, after its undo.
	ran = map[string]plan.Ran{}
	for _, s := range p.Steps[:p.Index("dump-origin")+1] {
		ran[s.ID] = plan.Done
	}
	steps = plan.Rollback(p, ran)
	require.NotEmpty(t, steps)
	rm := steps[0]
	assert.Equal(t, "undo-dump-origin", rm.ID)
	assert.Equal(t, "dump-origin", rm.Undoes)
	assert.Equal(t, "prod1", rm.Cluster, "where the copy is: the restore step's cluster")
	assert.Equal(t, plan.Destination, rm.Role)
	cmds := plan.Commands(cfg, p, rm)
	require.Len(t, cmds, 1)
	assert.Equal(t, "rm -f /tmp/cutoverbot-<run>.dump", plan.ShellQuote(cmds[0].Argv))
	assert.Equal(t, "prod1", cmds[0].Cluster)
	ran["restore-destination"] = plan.Maybe
	var ids2 []string
	for _, s := range plan.Rollback(p, ran) {
		ids2 = append(ids2, s.ID)
	}
	assert.Equal(t, []string{"undo-restore-destination", "undo-dump-origin"}, ids2[:2])

}

// commandNotes are the notes of the pod commands of step s.
func commandNotes(cfg *config.Config, p plan.Plan, s plan.Step) []plan.CommandNote {
	var out []plan.CommandNote
	for _, c := range plan.Commands(cfg, p, s) {
		out = append(out, c.Note)
	}
	return out
}

// Titles are data the transport words, except one a person wrote in the configuration.
func TestTitlesAreDataUnlessAPersonWroteThem(t *testing.T) {
	p, err := plan.Build(load(t, nil), "prod2", "prod1")
	require.NoError(t, err)
	for _, s := range p.Steps {
		assert.Empty(t, s.Title, s.ID)
		assert.NotNil(t, s.TitleFacts, s.ID)
	}
	byID := map[string]plan.Step{}
	for _, s := range p.Steps {
		byID[s.ID] = s
	}
	assert.Equal(t, &plan.TitleFacts{Kind: plan.TitleScaleCelery, Role: plan.Origin, Name: "meshdb-celery-worker"}, byID["scale-origin-celery"].TitleFacts)
	assert.Equal(t, &plan.TitleFacts{Kind: plan.TitleMaintenance, Role: plan.Destination, On: false}, byID["maintenance-off-destination"].TitleFacts)
	assert.Equal(t, &plan.TitleFacts{Kind: plan.TitleAnnounceStart, Name: "start"}, byID["announce-start"].TitleFacts)

	cfg := load(t, func(s string) string {
		return s + `
plan:
  - {kind: preflight, id: preflight}
  - {kind: maintenance, id: m, cluster: origin, on: true, title: "Close the site"}
  - {kind: exec, id: check, cluster: destination, target: meshweb, argv: [python, manage.py, check]}
`
	})
	p, err = plan.Build(cfg, "prod2", "prod1")
	require.NoError(t, err)
	assert.Equal(t, &plan.TitleFacts{Kind: plan.TitleStepKind, StepKind: plan.KindPreflight}, p.Steps[0].TitleFacts,
		"a configured step without a title is titled by its kind, even with a default plan's ID")
	assert.Equal(t, "Close the site", p.Steps[1].Title, "a person's title stays theirs")
	assert.Nil(t, p.Steps[1].TitleFacts)
	assert.Equal(t, &plan.TitleFacts{Kind: plan.TitleExec, Role: plan.Destination, Target: "meshweb", Argv: []string{"python", "manage.py", "check"}}, p.Steps[2].TitleFacts)

	undo := plan.Rollback(p, map[string]plan.Ran{"m": plan.Done})
	require.Len(t, undo, 1)
	assert.Empty(t, undo[0].Title, "an undo step is titled by the bot, not with the forward step's words")
	assert.Equal(t, &plan.TitleFacts{Kind: plan.TitleUndoMaintenance, Role: plan.Origin}, undo[0].TitleFacts)
}
