package handlers_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
)

type pf = map[string]any

// Every fact of a plan's step is worded, word for word as ops/plan wrote it before it
// returned data (`cutoverbot plan` and Slack show these lines).
func TestEveryPlanFactIsWorded(t *testing.T) {
	cases := map[plan.FactKind][]struct {
		f    pf
		want string
	}{
		plan.FactPreflightChecks: {{pf{"Origin": "prod2", "Destination": "prod1"},
			"read-only checks: prod2 and prod1 reachable; meshweb and postgres pods found and ready; celery StatefulSet present"}},
		plan.FactPreflightDeployed: {{pf{"Destination": "prod1", "Repo": "nycmeshnet/meshdb", "Branch": "main", "Workflow": "deploy-to-k8s.yaml"},
			"prod1 deployed at the head of nycmeshnet/meshdb@main, no deploy-to-k8s.yaml run in progress"}},
		plan.FactPreflightDNS: {{pf{"Name": "db.nycmesh.net", "LB": "kubernetes-lb-prod-sn10.nycmesh.net"},
			"db.nycmesh.net points at kubernetes-lb-prod-sn10.nycmesh.net (the origin); no other run active; meshweb image digests compared (a difference only warns)"}},
		plan.FactPreflightOverride: {{pf{"Approvals": 2},
			"each failed check can be overridden on its own, with a reason, by 2 maintainer(s) other than the initiator"}},
		plan.FactPreflightCerts: {{pf{"Workflow": "deploy_environments.yaml", "Repo": "nycmeshnet/k8s-infra", "Environment": "prod1"},
			"the merges' workflows run on a push to their branch, and deploy_environments.yaml in nycmeshnet/k8s-infra deploys to environment prod1"}},
		plan.FactScale: {
			{pf{"Workload": "statefulset", "Name": "celery", "Cluster": "prod1", "Namespace": "meshdb", "Replicas": int32(0), "RestoreFrom": ""},
				"scale statefulset celery in prod1/meshdb to 0 (scale subresource; the previous count is recorded); wait for status.replicas"},
			{pf{"Workload": "deployment", "Name": "meshweb", "Cluster": "prod2", "Namespace": "meshdb", "Replicas": int32(0), "RestoreFrom": "scale-origin-meshweb"},
				"scale deployment meshweb in prod2/meshdb to the count recorded by step scale-origin-meshweb (scale subresource; the previous count is recorded); wait for status.replicas"},
		},
		plan.FactAnnounce: {{pf{"Channel": "#meshdb", "Text": `Hey all, "MeshDB" is down`},
			`post top-level in #meshdb: "Hey all, \"MeshDB\" is down"`}},
		plan.FactSnapshot: {
			{pf{"Paths": []string{"/api/v1/nodes/", "/api/v1/links/"}, "URL": "https://db.nycmesh.net", "LB": nil, "ReadyTimeout": 5 * time.Minute, "PollEvery": 5 * time.Second},
				"GET /api/v1/nodes/, /api/v1/links/ via https://db.nycmesh.net (public), after waiting up to 5m0s for meshweb to answer 200 there, asking every 5s (the LB answers 502/503 while pods restarted by maintenance mode come back)"},
			{pf{"Paths": []string{"/api/v1/nodes/"}, "URL": "https://db.nycmesh.net", "LB": pf{"Cluster": "prod1", "Address": "199.170.132.45:443", "Host": "db.nycmesh.net"},
				"ReadyTimeout": 5 * time.Minute, "PollEvery": 5 * time.Second},
				"GET /api/v1/nodes/ via prod1 LB 199.170.132.45:443 with Host/SNI db.nycmesh.net, certificate not verified for this request, after waiting up to 5m0s for meshweb to answer 200 there, asking every 5s (the LB answers 502/503 while pods restarted by maintenance mode come back)"},
		},
		plan.FactSnapshotDiff:  {{pf{"Against": "snapshot-pre"}, "diff by key against snapshot-pre; a non-empty diff blocks unless approved with a reason"}},
		plan.FactVerify:        {{nil, "per-table count(*) and md5 of rows in primary-key order on both sides must be equal"}},
		plan.FactVerifyExclude: {{pf{"Tables": []string{"django_session", "auth_token"}}, "excluded tables: django_session, auth_token"}},
		plan.FactPRDNS: {{pf{"Repo": "nycmeshnet/nycmesh-dns", "File": "sld/records.nycmesh.net.tf", "Resource": "db", "From": "a.example", "To": "b.example"},
			`nycmeshnet/nycmesh-dns sld/records.nycmesh.net.tf: in resource db, answer = "a.example" -> "b.example"`}},
		plan.FactPRCerts: {{pf{"Repo": "nycmeshnet/k8s-infra", "Host": "db.nycmesh.net", "List": "certs", "AddTo": "terraform/prod1.tfvars", "RemoveFrom": "terraform/prod2.tfvars", "Placeholder": "placeholder.nycmesh.net"},
			`nycmeshnet/k8s-infra: add "db.nycmesh.net" to certs in terraform/prod1.tfvars, remove it from terraform/prod2.tfvars (placeholder placeholder.nycmesh.net keeps a list non-empty)`}},
		plan.FactPRRevert: {{pf{"Of": "pr-dns"}, "a revert pull request of the change made by pr-dns"}},
		plan.FactPRMerge: {
			{pf{"Auto": true}, "merged through the API after approval; waits for a human merge if branch protection refuses"},
			{pf{"Auto": false}, "waits for a human merge"},
		},
		plan.FactPRWorkflow: {{pf{"Workflow": "sld_terraform.yaml", "Repo": "nycmeshnet/nycmesh-dns", "Appear": 2 * time.Minute, "Timeout": time.Hour},
			"then waits for the run of workflow sld_terraform.yaml that the merge commit starts (https://github.com/nycmeshnet/nycmesh-dns/actions/workflows/sld_terraform.yaml): up to 2m0s for it to appear, 1h0m0s for it to finish; a run that fails fails the step with its link"}},
		plan.FactPRCertsChecked: {{pf{"Workflow": "deploy_environments.yaml", "Environment": "prod1", "Base": "main"},
			"preflight checked that deploy_environments.yaml deploys to environment prod1 on a push to main"}},
		plan.FactWaitDNS: {{pf{"Resolvers": []string{"1.1.1.1:53", "8.8.8.8:53"}, "Want": "lb.example", "Name": "db.nycmesh.net"},
			"poll 1.1.1.1:53, 8.8.8.8:53 until every resolver answers CNAME lb.example for db.nycmesh.net"}},
		plan.FactWaitTLS: {{pf{"Address": "199.170.132.45:443", "ServerName": "db.nycmesh.net"},
			"verified TLS handshake to 199.170.132.45:443 with SNI db.nycmesh.net until it succeeds"}},
	}
	for _, kind := range plan.FactKinds() {
		tcs, ok := cases[kind]
		if !assert.True(t, ok, "fact %s has a case here", kind) {
			continue
		}
		for _, tc := range tcs {
			assert.Equal(t, tc.want, handlers.FactText(plan.Fact{Kind: kind, F: tc.f}), string(kind))
		}
	}
	assert.Len(t, cases, len(plan.FactKinds()), "no case for a kind ops/plan no longer has")
	assert.Contains(t, handlers.FactText(plan.Fact{Kind: plan.FactWaitTLS, F: pf{"Address": "x"}}), "could not word",
		"a fact missing is seen, not shown as <no value>")
}

// Every state has a name for people, the same in Slack and in the terminal.
func TestEveryStateIsWorded(t *testing.T) {
	want := map[string]string{
		"pending": "pending", "awaiting_approval": "awaiting approval", "approved": "approved", "running": "running",
		"succeeded": "succeeded", "failed": "failed", "skipped": "skipped", "interrupted": "interrupted", "rejected": "rejected",
		"expired": "expired", "active": "active", "completed": "completed", "rolled_back": "rolled back", "aborted": "aborted",
	}
	var states []string
	for _, s := range engine.StepStates() {
		states = append(states, string(s))
	}
	for _, s := range engine.RunStates() {
		states = append(states, string(s))
	}
	for _, s := range states {
		w, ok := want[s]
		if assert.True(t, ok, "state %s has a case here", s) {
			assert.Equal(t, w, handlers.Human(s), s)
		}
	}
	assert.Equal(t, "awaiting approval", handlers.Human(engine.Awaiting), "a typed state reads the same")
	assert.Equal(t, "someday_state", handlers.Human("someday_state"), "a state stored by a later version shows as stored")
}

// Every note of a pod command is worded as ops/plan wrote it before it returned a code.
func TestEveryCommandNoteIsWorded(t *testing.T) {
	cases := map[plan.CommandNote]string{
		plan.NoteSQLFallback:     "only when no meshweb pod is ready or the command fails",
		plan.NoteReadsBack:       "reads the state back",
		plan.NoteRemoveCopies:    "in the pod the dump step copied into, and in today's postgres pod",
		plan.NoteStageTemp:       "a temporary file, never the database; the restore step checks and removes it",
		plan.NoteAroundBackup:    "before and after the backup",
		plan.NoteEarlyBackup:     "read-only backup of the destination, kept for undo while it has not changed",
		plan.NoteRestoreBackup:   "backup of the destination, kept for undo; not taken again while the dump step's one holds",
		plan.NoteFreshBackup:     "a fresh backup of the current state, kept in case",
		plan.NoteUnlessStaged:    "unless the dump step's copy is in this pod",
		plan.NoteSumMatches:      "must equal the local sha256",
		plan.NoteRestoreOutput:   "output is read: errors ignored on restore are reported",
		plan.NoteRestoreAutoJobs: "with -j N, N the pod's cores (its CPU limit, else nproc), at most 4; output is read: errors ignored on restore are reported",
	}
	for _, note := range plan.CommandNotes() {
		want, ok := cases[note]
		if assert.True(t, ok, "note %s has a case here", note) {
			assert.Equal(t, want, handlers.CommandNote(plan.Command{Note: note, MaxJobs: 4}), string(note))
		}
	}
	assert.Len(t, cases, len(plan.CommandNotes()))
}

// A pod command reads in the terminal as plan.Command.String wrote it: redirections
// for where its input and output go, its note after two spaces.
func TestCommandLinesAreWorded(t *testing.T) {
	pod := plan.Command{Cluster: "prod1", Namespace: "meshdb", Selector: "app=meshdb-postgres-app", Container: "meshdb-postgres"}
	with := func(f func(*plan.Command)) plan.Command {
		c := pod
		f(&c)
		return c
	}
	head := "prod1/meshdb pod app=meshdb-postgres-app container meshdb-postgres: "
	for _, tc := range []struct {
		c    plan.Command
		want string
	}{
		{with(func(c *plan.Command) { c.Argv = []string{"rm", "-f", "/tmp/x y.dump"} }), head + "rm -f '/tmp/x y.dump'"},
		{with(func(c *plan.Command) {
			c.Argv, c.Stdout, c.Checked = []string{"pg_dump"}, "spool/<run>/dump-origin.dump", true
		}),
			head + "pg_dump > spool/<run>/dump-origin.dump (sha256, size, PGDMP magic, fsync)"},
		{with(func(c *plan.Command) {
			c.Argv, c.FromDump, c.Note = []string{"sh", "-c", "cat > x"}, true, plan.NoteStageTemp
		}),
			head + "sh -c 'cat > x' < the dump's bytes as they come  (a temporary file, never the database; the restore step checks and removes it)"},
		{with(func(c *plan.Command) {
			c.Argv, c.Stdin = []string{"sh", "-c", "cat > x"}, "spool/<run>/dump-origin.dump"
		}),
			head + "sh -c 'cat > x' < spool/<run>/dump-origin.dump"},
		{with(func(c *plan.Command) {
			c.Argv, c.Stdout = []string{"pg_dump"}, "spool/<run>/restore-destination-backup.dump"
		}),
			head + "pg_dump > spool/<run>/restore-destination-backup.dump"},
		{with(func(c *plan.Command) {
			c.Argv, c.SQL, c.Note = []string{"psql", "-d", "meshdb", "-At", "-c", ""}, plan.SQLState, plan.NoteAroundBackup
		}),
			head + "psql -d meshdb -At -c '<transaction horizon, open writes, row counters, sequences>'  (before and after the backup)"},
	} {
		assert.Equal(t, tc.want, handlers.CommandText(tc.c))
	}
	argv := []string{"psql", "-c", ""}
	handlers.CommandText(plan.Command{Argv: argv, SQL: plan.SQLFingerprint})
	assert.Equal(t, []string{"psql", "-c", ""}, argv, "the plan's argv is not written over")
}

// SQL a step composes as it runs is shown by what it reads, word for word as ops/plan
// wrote it in the argv before it was a code.
func TestEverySQLStandInIsWorded(t *testing.T) {
	cases := map[plan.SQLStandIn]string{
		plan.SQLFingerprint: "<per-table count(*) and md5 of rows in key order>",
		plan.SQLState:       "<transaction horizon, open writes, row counters, sequences>",
	}
	for _, sql := range plan.SQLStandIns() {
		want, ok := cases[sql]
		if assert.True(t, ok, "stand-in %s has a case here", sql) {
			assert.Equal(t, want, handlers.SQLStandInText(sql), string(sql))
		}
	}
	assert.Len(t, cases, len(plan.SQLStandIns()))
}
