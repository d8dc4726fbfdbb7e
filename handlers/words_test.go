package handlers_test

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/ops/schedule"
)

// Every refusal the engine can return is worded, with the facts it carries; the
// wording is what the engine wrote itself before it returned data.
func TestEveryRefusalIsWorded(t *testing.T) {
	since := time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)
	cases := map[engine.RefusalKind]struct {
		fields engine.F
		want   string
	}{
		engine.RefusedPlan:          {engine.F{"Error": `unknown cluster "prod3"`}, `unknown cluster "prod3"`},
		engine.RefusedShuttingDown:  {nil, "the bot is shutting down; start again in a minute"},
		engine.RefusedBusy:          {engine.F{"Run": "r1", "Initiator": "U01ALICE", "Since": since}, "run r1 started by <@U01ALICE> at 20:00 UTC is still active: see `/cutover status`"},
		engine.RefusedNotMaintainer: {engine.F{"Action": "start"}, "only MeshDB maintainers can start a cutover; ask one of them"},
		engine.RefusedUnknownAction: {engine.F{"Action": engine.Action("dance")}, `unknown action "dance"`},
		engine.RefusedRunEnded:      {engine.F{"Run": "r1", "State": engine.RolledBack}, "run r1 has ended (rolled back); this button no longer does anything"},
		engine.RefusedOtherRun:      {engine.F{"Run": "r1", "Active": "r2"}, "this button belongs to run r1, not to the active run r2"},
		engine.RefusedNoRun:         {engine.F{"Run": "r1"}, "run r1 is not active; nothing happened"},
		engine.RefusedStaleStep: {engine.F{"Step": 2, "Current": 4, "Title": plan.Step{TitleFacts: &plan.TitleFacts{Kind: plan.TitleAnnounceStart}}, "State": engine.Awaiting},
			"this button is for step 2, which is no longer waiting; the run is at step 4 (Announce the start, awaiting approval)"},
		engine.RefusedStaleAttempt:     {engine.F{"Step": 3, "Attempt": 1, "Current": 2}, "this button is from attempt 1 of step 3; the current attempt is 2"},
		engine.RefusedCancelNotWaiting: {engine.F{"Step": 3, "State": engine.Awaiting}, "step 3 is awaiting approval; Cancel only ends a step that is waiting"},
		engine.RefusedCancelChanging: {engine.F{"Step": 3, "Title": plan.Step{Title: "Restore"}},
			"step 3 (Restore) is changing something, not only waiting; it cannot be cut short safely. Abort when it has finished"},
		engine.RefusedCancelling: {engine.F{"Step": 3}, "step 3 is already being cancelled"},
		engine.RefusedAbortRunning: {engine.F{"Step": 3, "Title": plan.Step{Title: "Restore"}},
			"step 3 (Restore) is running; abort when it has finished (a half-run step cannot be undone safely)"},
		engine.RefusedApproveDecided: {engine.F{"Step": 3, "Attempt": 1, "State": engine.Running}, "step 3 attempt 1 was already decided (running); nothing more to do"},
		engine.RefusedApproveStuck:   {engine.F{"Step": 3, "State": engine.Failed}, "step 3 failed; use Retry, Skip or Abort"},
		engine.RefusedApproveState:   {engine.F{"Step": 3, "State": engine.Pending}, "step 3 is pending, not waiting for approval"},
		engine.RefusedApproveOwnRun:  {nil, "you started this run, so you cannot approve its steps; another maintainer must"},
		engine.RefusedApproveTwice:   {engine.F{"Step": 3, "More": 1}, "you already approved step 3; it needs 1 more approval(s) from other maintainers"},
		engine.RefusedRetryState:     {engine.F{"Step": 3, "State": engine.Succeeded}, "step 3 is succeeded; Retry is for a failed, interrupted or expired step"},
		engine.RefusedRejectState:    {engine.F{"Step": 3, "State": engine.Running}, "step 3 is running and cannot be rejected now"},
		engine.RefusedSkipState:      {engine.F{"Step": 3, "State": engine.Running}, "step 3 is running and cannot be skipped now"},
		engine.RefusedSkipOwnRun:     {nil, "you started this run, so another maintainer must decide to skip a step"},
		engine.RefusedSkipReason:     {engine.F{"Step": 3}, "skipping step 3 needs a reason"},
		engine.RefusedSkipTwice: {engine.F{"Step": 3, "More": 1},
			"you already chose to skip step 3; 1 more maintainer(s) other than the initiator must confirm"},
		engine.RefusedOverrideState: {engine.F{"Step": 1, "State": engine.Awaiting},
			"step 1 is awaiting approval; a check can be overridden only while its step has failed on it"},
		engine.RefusedOverrideNoChecks: {engine.F{"Step": 2, "Title": plan.Step{Title: "Scale"}, "Attempt": 1},
			"step 2 (Scale) has no checks of attempt 1 to override; use Retry, Skip or Abort"},
		engine.RefusedOverrideUnknown: {engine.F{"Step": 1, "Check": "typo", "Failed": []string{"dns", "deploy"}},
			"step 1 has no check \"typo\"; the checks that failed are `dns`, `deploy`"},
		engine.RefusedOverrideNotFailed: {engine.F{"Step": 1, "Check": "pods", "Attempt": 2, "Outcome": engine.CheckPassed},
			"check \"pods\" did not fail in attempt 2 of step 1 (passed); there is nothing to override"},
		engine.RefusedOverrideOwnRun: {nil, "you started this run, so another maintainer must override a check"},
		engine.RefusedOverrideReason: {engine.F{"Check": "dns"}, "overriding check \"dns\" needs a reason"},
		engine.RefusedOverrideDone: {engine.F{"Check": "dns", "By": []string{"U02BOB", "U03CAROL"}, "Blocking": []string(nil)},
			"check \"dns\" is already overridden by U02BOB, U03CAROL; the checks still blocking are none"},
		engine.RefusedOverrideTwice: {engine.F{"Check": "dns", "More": 1},
			"you already chose to override check \"dns\"; 1 more maintainer(s) other than the initiator must"},
	}
	for _, kind := range engine.RefusalKinds() {
		tc, ok := cases[kind]
		if !assert.True(t, ok, "refusal %s has a case here", kind) {
			continue
		}
		assert.Equal(t, tc.want, handlers.RefusalText(&engine.Refusal{Kind: kind, Fields: tc.fields}), string(kind))
	}
	assert.Len(t, cases, len(engine.RefusalKinds()), "no case for a kind the engine no longer has")
	assert.Contains(t, handlers.RefusalText(&engine.Refusal{Kind: engine.RefusedBusy, Fields: engine.F{"Run": "r1"}}), "could not word",
		"a fact missing is seen, not shown as <no value>")
}

func TestEveryOutcomeIsWorded(t *testing.T) {
	cases := map[engine.OutcomeKind]struct {
		fields engine.F
		want   string
	}{
		engine.DidApprove:       {engine.F{"Have": 1, "Need": 2}, "approval 1 of 2 recorded"},
		engine.DidRun:           {nil, "approved; running"},
		engine.DidRetryAwaiting: {nil, "retry requested; waiting for another maintainer's approval"},
		engine.DidRetry:         {nil, "retrying"},
		engine.DidProposeSkip:   {engine.F{"More": 1}, "skip proposed; 1 more maintainer(s) other than the initiator must choose Skip to confirm it"},
		engine.DidSkip:          {nil, "skipped"},
		engine.DidEndWait:       {nil, "ending the wait; the step will offer Retry, Skip and Abort"},
		engine.DidEndWaitAbort:  {nil, "ending the wait; the rollback plan follows"},
		engine.DidStopRollback:  {nil, "rollback stopped; the run has ended. Check both clusters by hand"},
		engine.DidEndUnchanged:  {nil, "the run has ended; nothing had changed, so there is nothing to roll back"},
		engine.DidPlanRollback:  {engine.F{"Steps": 5}, "stopped; a rollback plan of 5 step(s) follows, each waiting for approval"},
		engine.DidVoteOverride: {engine.F{"Check": "dns", "More": 1},
			"override of check \"dns\" recorded; 1 more maintainer(s) other than the initiator must choose Override to accept it"},
		engine.DidOverrideBlocked: {engine.F{"Check": "dns", "Step": 1, "Blocking": []string{"deploy"}},
			"check \"dns\" overridden; step 1 still fails on `deploy`: fix and Retry, or override each"},
		engine.DidOverrideRerun: {engine.F{"Check": "dns", "Step": 1},
			"check \"dns\" overridden; every failed check is overridden, so step 1 runs again with the other checks enforced"},
		engine.DidOverrideAwait: {engine.F{"Check": "dns", "Step": 1},
			"check \"dns\" overridden; every failed check is overridden, so step 1 waits for approval to run again"},
	}
	for _, kind := range engine.OutcomeKinds() {
		tc, ok := cases[kind]
		if !assert.True(t, ok, "outcome %s has a case here", kind) {
			continue
		}
		assert.Equal(t, tc.want, handlers.OutcomeText(engine.Outcome{Kind: kind, Fields: tc.fields}), string(kind))
	}
	assert.Len(t, cases, len(engine.OutcomeKinds()))
}

func TestEveryScheduleRefusalIsWorded(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	at := time.Date(2026, 12, 1, 2, 0, 0, 0, ny)
	other := &schedule.Schedule{ID: "s0a1b2c", Origin: "prod2", Dest: "prod1", At: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
	cases := map[schedule.RefusalKind]struct {
		r    schedule.Refusal
		want string
	}{
		schedule.NotATime: {schedule.Refusal{Text: "next tuesday", Zone: ny},
			`"next tuesday" is not a time: use "2026-12-01 02:00" (America/New_York) or RFC 3339 like 2026-12-01T02:00:00-05:00`},
		schedule.NotInFuture: {schedule.Refusal{At: at}, "2026-12-01T02:00:00-05:00 is not in the future: use `/cutover start` to start now"},
		schedule.TooFarAhead: {schedule.Refusal{At: at}, "2026-12-01 is more than 90 days away"},
		schedule.TooClose: {schedule.Refusal{At: at, Other: other},
			"schedule s0a1b2c (prod2 → prod1 at 2026-12-01T08:00:00Z) is within two hours of that time"},
		schedule.UnknownID: {schedule.Refusal{ID: "nope"}, "no such schedule \"nope\": `/cutover schedule` lists them"},
	}
	for _, kind := range schedule.RefusalKinds() {
		tc, ok := cases[kind]
		if !assert.True(t, ok, "refusal %s has a case here", kind) {
			continue
		}
		tc.r.Kind = kind
		assert.Equal(t, tc.want, handlers.ScheduleRefusalText(&tc.r), string(kind))
	}
	assert.Len(t, cases, len(schedule.RefusalKinds()))
}

// Every kind of report is worded; the wording is what each step wrote itself before
// it reported data.
func TestEveryReportIsWorded(t *testing.T) {
	notAfter := time.Date(2027, 2, 22, 12, 0, 0, 0, time.UTC)
	cases := map[string][]reportCase{
		"checks": {
			{report.Checks{Total: 8, Passed: 8}, "8 of 8 checks passed"},
			{report.Checks{Total: 8, Passed: 5, Warned: 1, Overridden: 2}, "5 of 8 checks passed, 1 warning(s), 2 overridden"},
		},
		"scale": {
			{report.Scale{Workload: "statefulset", Name: "meshdb-celery-worker", Cluster: "prod1", From: 1, To: 0, Before: 1, Source: report.CountRecorded},
				"statefulset meshdb-celery-worker in prod1: 1 -> 0 replicas (count before the run: 1, recorded in the run and on the workload)"},
			{report.Scale{Workload: "statefulset", Name: "w", Cluster: "prod1", From: 0, To: 0, Before: 2, Source: report.CountEarlierAttempt},
				"statefulset w in prod1: 0 -> 0 replicas (count before the run: 2, kept from an earlier attempt)"},
			{report.Scale{Workload: "deployment", Name: "w", Cluster: "prod2", From: 3, To: 0, Before: 3, Source: report.CountAnnotation, Annotation: "cutoverbot/replicas"},
				"deployment w in prod2: 3 -> 0 replicas (count before the run: 3, read from the annotation cutoverbot/replicas)"},
		},
		"scale_back": {
			{report.ScaleBack{Workload: "statefulset", Name: "w", Cluster: "prod1", From: 0, To: 1, Source: report.CountStep, Step: "scale-destination-celery"},
				"statefulset w in prod1: 0 -> 1 replicas (recorded by step scale-destination-celery)"},
			{report.ScaleBack{Workload: "statefulset", Name: "w", Cluster: "prod1", From: 0, To: 1, Source: report.CountAnnotation, Annotation: "cutoverbot/replicas"},
				"statefulset w in prod1: 0 -> 1 replicas (read from the annotation cutoverbot/replicas)"},
		},
		"maintenance": {
			{report.Maintenance{On: true, Cluster: "prod1", Via: "manage.py", Verb: "enable_flag", Pod: "meshweb-1"},
				"MAINTENANCE_MODE is on in prod1 (via manage.py enable_flag in pod meshweb-1; read back from flags_flagstate)"},
			{report.Maintenance{On: false, Cluster: "prod1", Via: "sql", Pod: "meshdb-postgres-0"},
				"MAINTENANCE_MODE is off in prod1 (via SQL in pod meshdb-postgres-0; read back from flags_flagstate)"},
		},
		"exec": {{report.Exec{Argv: []string{"python", "manage.py", "migrate"}, Cluster: "prod1", Pod: "meshweb-1"}, "python manage.py migrate exited 0 in prod1 pod meshweb-1"}},
		"verify": {{report.Verify{Tables: 14, Rows: 181204, Origin: "prod2", Destination: "prod1"},
			"14 tables, 181204 rows: count(*) and md5 equal on prod2 and prod1"}},
		"snapshot": {
			{report.Snapshot{Where: report.Where{URL: "https://db.nycmesh.net"}, Files: []report.SnapshotFile{{Name: "nodes.json", Entries: 3, Bytes: 120}, {Name: "links.json", Entries: 2, Bytes: 80}}},
				"snapshot via the public URL https://db.nycmesh.net: nodes.json 3 entries (120 bytes), links.json 2 entries (80 bytes)"},
			{report.Snapshot{Where: report.Where{Cluster: "prod1", LB: "199.170.132.45:443"}, ReadyAttempt: 4, Files: []report.SnapshotFile{{Name: "nodes.json", Entries: 3, Bytes: 120}}},
				"meshweb answered 200 on attempt 4; snapshot via prod1 LB 199.170.132.45:443: nodes.json 3 entries (120 bytes)"},
		},
		"no_diff": {{report.NoDiff{ReadyAttempt: 2, Endpoints: []report.Endpoint{{Name: "nodes", Before: 3, After: 3}, {Name: "map", Before: 5, After: 5, Repeated: 2}, {Name: "links", Before: 1, After: 1, Repeated: 1}}},
			"meshweb answered 200 on attempt 2; no difference: nodes: 3 before, 3 after, 0 added, 0 removed, 0 changed; " +
				"map: 5 before, 5 after, 0 added, 0 removed, 0 changed; 2 keys held by more than one entry, compared as multisets; " +
				"links: 1 before, 1 after, 0 added, 0 removed, 0 changed; 1 key held by more than one entry, compared as multisets"}},
		"revert_none":     {{report.RevertNone{Step: "pr-dns"}, "no pull request was opened by pr-dns; nothing to revert"}},
		"revert_unmerged": {{report.RevertUnmerged{URL: "https://github.com/o/r/pull/1"}, "https://github.com/o/r/pull/1 was not merged; nothing to revert (close it by hand if it is still open)"}},
		"merged": {
			{report.Merged{URL: "https://github.com/o/r/pull/1"}, "https://github.com/o/r/pull/1 merged"},
			{report.Merged{URL: "https://github.com/o/r/pull/1", Workflow: "SLD Terraform", RunURL: "https://github.com/o/r/actions/runs/9"},
				"https://github.com/o/r/pull/1 merged; the SLD Terraform run https://github.com/o/r/actions/runs/9 succeeded"},
		},
		"dns": {{report.DNS{Name: "db.nycmesh.net", Want: "lb.nycmesh.net", Resolvers: 3}, "db.nycmesh.net → lb.nycmesh.net on all 3 resolvers"}},
		"tls": {{report.TLS{Address: "199.170.132.45:443", ServerName: "db.nycmesh.net", SANs: []string{"db.nycmesh.net", "www.db.nycmesh.net"}, Issuer: "R11", NotAfter: notAfter},
			"TLS to 199.170.132.45:443 as db.nycmesh.net verifies: valid for db.nycmesh.net, www.db.nycmesh.net, issued by R11, expires 2027-02-22"}},
		"copy_removed": {
			{report.CopyRemoved{Path: "/tmp/x.dump", Cluster: "prod1", Pods: []string{"pg-1", "pg-2"}}, "removed /tmp/x.dump (if it was there) in prod1 pod pg-1 and pg-2"},
			{report.CopyRemoved{Path: "/tmp/x.dump", Cluster: "prod1"}, "prod1: no pod left that holds /tmp/x.dump"},
		},
		"announced": {{report.Announced{Template: "start", Channel: "C0123MESHDB"}, "posted the start announcement top-level in <#C0123MESHDB>"}},
		"dump":      dumpCases(),
		"restore":   restoreCases(),
		"checking":  {{report.Checking{Check: "DNS points at the origin"}, "checking DNS points at the origin"}},
		"stopped_leftovers": {
			{report.StoppedLeftovers{What: []string{"prod1 pg_restore (pid 12)", "prod2 pg_dump (pid 7)"}}, "stopped what earlier attempts left running: prod1 pg_restore (pid 12); prod2 pg_dump (pid 7)"},
			// As pg.StopLeftovers and the sweep wrote them before they were data.
			{report.StoppedLeftovers{Commands: []report.Stopped{
				{Cluster: "prod1", PID: "12", PidFile: "/tmp/cutoverbot-r1.prod1.restore-destination.1.restore.pid"},
				{Cluster: "prod1", PID: "13", PidFile: "/tmp/cutoverbot-r1.prod1.restore-destination.1.stage.pid", Killed: true},
				{Cluster: "prod2", Session: true, PID: "4242", App: "cutoverbot/r1/verify-database/1"}}},
				"stopped what earlier attempts left running: " + "prod1 " + fmt.Sprintf("process %s (pid file %s, %s)", "12", "/tmp/cutoverbot-r1.prod1.restore-destination.1.restore.pid", "ended on SIGTERM") +
					"; prod1 " + fmt.Sprintf("process %s (pid file %s, %s)", "13", "/tmp/cutoverbot-r1.prod1.restore-destination.1.stage.pid", "killed with SIGKILL") +
					"; prod2 " + "database session " + "4242" + " (" + "cutoverbot/r1/verify-database/1" + ")"}},
		"sql_fallback": {{report.SQLFallback{}, "meshweb path failed; setting the flag in SQL"}},
		"waiting_ready": {
			{report.WaitingReady{Where: report.Where{URL: "https://db.nycmesh.net"}}, "waiting for meshweb to answer 200 via the public URL https://db.nycmesh.net"},
			{report.WaitingReady{Where: report.Where{Cluster: "prod1", LB: "199.170.132.45:443"}, Attempt: 3, Err: "503 Service Unavailable"},
				"waiting for meshweb to answer 200 via prod1 LB 199.170.132.45:443: attempt 3: 503 Service Unavailable"},
		},
		"fetching": {
			{report.Fetching{Paths: []string{"/api/v1/nodes/", "/api/v1/links/"}, Where: report.Where{URL: "https://db.nycmesh.net"}},
				"fetching /api/v1/nodes/, /api/v1/links/ via the public URL https://db.nycmesh.net"},
			{report.Fetching{Paths: []string{"/api/v1/nodes/"}, Where: report.Where{Cluster: "prod1", LB: "199.170.132.45:443"}}, "fetching /api/v1/nodes/ via prod1 LB 199.170.132.45:443"},
		},
		"pr_state": {
			{report.PRState{URL: "https://github.com/o/r/pull/1", State: "open", Head: "0123456789abcdef0123"},
				"pull request https://github.com/o/r/pull/1 is open; its head 0123456789ab holds exactly the bot's change"},
			{report.PRState{URL: "https://github.com/o/r/pull/1", State: "closed", Merged: true, Head: "0123456789abcdef0123"},
				"pull request https://github.com/o/r/pull/1 is merged; its head 0123456789ab holds exactly the bot's change"},
			{report.PRState{URL: "https://github.com/o/r/pull/1", State: "closed", Head: "0123456789abcdef0123"}, "pull request https://github.com/o/r/pull/1 was closed without merging"},
		},
		"head_moved": {{report.HeadMoved{URL: "https://github.com/o/r/pull/1", Reason: "Head branch was modified"},
			"https://github.com/o/r/pull/1 moved after it was compared (Head branch was modified); comparing it again"}},
		"awaiting_merge": {
			{report.AwaitingMerge{URL: "https://github.com/o/r/pull/1"}, "waiting for a person to merge https://github.com/o/r/pull/1"},
			{report.AwaitingMerge{URL: "https://github.com/o/r/pull/1", Refused: true, Reason: "At least 1 approving review is required"},
				"GitHub refused the merge (At least 1 approving review is required); waiting for a person to merge https://github.com/o/r/pull/1"},
		},
		"awaiting_run": {{report.AwaitingRun{URL: "https://github.com/o/r/pull/1", MergeSHA: "fedcba9876543210fedc", Workflow: "SLD Terraform"},
			"https://github.com/o/r/pull/1 merged as fedcba987654; waiting for the SLD Terraform run it starts"}},
		"run_state": {
			{report.RunState{URL: "https://github.com/o/r/pull/1", Workflow: "SLD Terraform", RunURL: "https://github.com/o/r/actions/runs/9", Status: "in_progress"},
				"https://github.com/o/r/pull/1 merged; the SLD Terraform run https://github.com/o/r/actions/runs/9 is in progress"},
			{report.RunState{URL: "u", Workflow: "w", RunURL: "r", Status: "completed", Conclusion: "success"}, "u merged; the w run r is succeeded"},
			{report.RunState{URL: "u", Workflow: "w", RunURL: "r", Status: "completed", Conclusion: "failure"}, "u merged; the w run r is failed"},
			{report.RunState{URL: "u", Workflow: "w", RunURL: "r", Status: "completed"}, "u merged; the w run r is completed"},
			{report.RunState{URL: "u", Workflow: "w", RunURL: "r", Status: "completed", Conclusion: "timed_out"}, "u merged; the w run r is timed out"},
		},
		"waiting_dns": {{report.WaitingDNS{Name: "db.nycmesh.net", Want: "lb.nycmesh.net", Answers: []report.Answer{
			{Resolver: "1.1.1.1:53", CNAME: "old.nycmesh.net"}, {Resolver: "8.8.8.8:53", A: []string{"10.0.0.1", "10.0.0.2"}},
			{Resolver: "9.9.9.9:53"}, {Resolver: "10.10.10.10:53", Err: "i/o timeout"}}},
			"waiting for db.nycmesh.net → lb.nycmesh.net: 1.1.1.1:53: CNAME old.nycmesh.net; 8.8.8.8:53: no CNAME (A 10.0.0.1, 10.0.0.2); 9.9.9.9:53: no CNAME, no A; 10.10.10.10:53: i/o timeout"}},
		"scaling": {{report.Scaling{Cluster: "prod1", Namespace: "meshdb", Workload: "statefulset", Name: "meshdb-celery-worker", From: 3, To: 0, Status: 2},
			"prod1/meshdb statefulset meshdb-celery-worker: 3 -> 0 (status 2)"}},
		"tls_attempt": {{report.TLSAttempt{Attempt: 2, Err: "x509: certificate is valid for sn10temp.nycmesh.net, not db.nycmesh.net"},
			"attempt 2: x509: certificate is valid for sn10temp.nycmesh.net, not db.nycmesh.net"}},
		"dumping": {
			{report.Dumping{Database: "meshdb", Cluster: "prod2", Pod: "pg-2"}, "dumping meshdb from prod2 pod pg-2"},
			{report.Dumping{Database: "meshdb", Cluster: "prod2", Pod: "pg-2", Dest: "prod1", DestPod: "pg-1"},
				"dumping meshdb from prod2 pod pg-2, copying it into prod1 pod pg-1 as it comes, and backing up prod1 meanwhile"},
			{report.Dumping{Database: "meshdb", Cluster: "prod2", Pod: "pg-2", Dest: "prod1", DestPod: "pg-1", Again: true},
				"the dump spool is not on this replica: dumping meshdb from prod2 pod pg-2 again, into pod pg-1 as it comes"},
		},
		"checking_copy": {{report.CheckingCopy{Pod: "pg-1"}, "checking the sha256 of the copy in pod pg-1"}},
		"copying":       {{report.Copying{Size: 13841203, Pod: "pg-1"}, "copying 13.2 MiB into pod pg-1"}},
		"backing_up": {
			{report.BackingUp{Why: report.BackupHow{Cluster: "prod1", Source: report.BackupFresh}}, "backing up prod1 as it is now, kept in case"},
			{report.BackingUp{Why: report.BackupHow{Cluster: "prod1", Source: report.BackupNone}}, "backing up prod1 (taken now)"},
			{report.BackingUp{Why: report.BackupHow{Cluster: "prod1", Source: report.BackupWrites, Now: &report.DBState{NextXid: "812", OpenWrites: 2, Sequences: "none"}}},
				"backing up prod1 (taken again: 2 write transaction(s) open in prod1)"},
		},
		"restoring": {
			{report.Restoring{Cluster: "prod1", Jobs: report.Jobs{Jobs: 4, Resources: &report.Resources{Cores: 8, MemTotal: 16 << 30}, MemKB: 512 << 10}},
				"pg_restore in prod1 (-j 4 for 8 cores (nproc), 16.0 GiB (node); maintenance_work_mem 512MB in its sessions)"},
		},
		"end": {
			{report.End{Leftovers: []report.Leftover{{Path: "/tmp/x.dump", Cluster: "prod2", Err: "no pod matches"}}},
				"Files the bot could not remove (they hold members' data):\nprod2: no postgres pod found (no pod matches); if it still holds /tmp/x.dump, remove it by hand"},
			{report.End{Backups: []report.KeptBackup{{File: "b.dump", Bytes: 2048, SHA256: "0123456789abcdef", Replica: "cutoverbot-1", PodCluster: "prod1", PodPath: "/var/lib/postgresql/data/b.dump"}},
				KeptUntil: time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)},
				"Backups kept until 2026-12-01 21:00 UTC (state.retention), then removed: b.dump (2.0 KiB, sha256 0123456789ab) in the spool of replica cutoverbot-1 and on prod1's postgres volume (/var/lib/postgresql/data/b.dump)"},
		},
	}
	maps.Copy(cases, checkReportCases())
	maps.Copy(cases, trafficCheckReportCases())
	for _, kind := range report.Kinds() {
		tcs, ok := cases[kind]
		if !assert.True(t, ok, "report %s has a case here", kind) {
			continue
		}
		for _, tc := range tcs {
			require.Equal(t, kind, tc.facts.ReportKind())
			assert.Equal(t, tc.want, handlers.ReportText(engine.ReportOf(tc.facts)), kind)
		}
	}
	assert.Len(t, cases, len(report.Kinds()))

	stopped := engine.ReportOf(report.DNS{Name: "a", Want: "b", Resolvers: 1})
	stopped.Stopped = []string{"prod1 pg_restore (pid 12)", "prod2 pg_dump (pid 7)"}
	assert.Equal(t, "stopped what earlier attempts left running: prod1 pg_restore (pid 12); prod2 pg_dump (pid 7); a → b on all 1 resolvers", handlers.ReportText(stopped))
	assert.Contains(t, handlers.ReportText(&engine.Report{Kind: "no-such-kind"}), "could not read")
	assert.Equal(t, "legacy words", handlers.OutputText(engine.Output{Summary: "legacy words"}), "a run stored by an earlier version shows its sentence")

	data := engine.ReportOf(report.DNS{Name: "a", Want: "b", Resolvers: 1})
	data.Left = []report.Stopped{{Cluster: "prod1", PID: "12", PidFile: "/tmp/a.pid"}}
	assert.Equal(t, "stopped what earlier attempts left running: prod1 process 12 (pid file /tmp/a.pid, ended on SIGTERM); a → b on all 1 resolvers", handlers.ReportText(data))

	// A step without a report: what the executor stopped comes first, as the executor
	// wrote it in words before it was data.
	left := []report.Stopped{{Cluster: "prod1", PID: "12", PidFile: "/tmp/a.pid"}, {Cluster: "prod2", Session: true, PID: "7", App: "psql <x>"}}
	assert.Equal(t, "stopped what earlier attempts left running: prod1 process 12 (pid file /tmp/a.pid, ended on SIGTERM); prod2 database session 7 (psql <x>); /api/v1/nodes/: 1 changed",
		handlers.OutputText(engine.Output{Left: left, Summary: "/api/v1/nodes/: 1 changed"}))
	assert.Equal(t, "stopped what earlier attempts left running: prod1 process 12 (pid file /tmp/a.pid, ended on SIGTERM); prod2 database session 7 (psql <x>)",
		handlers.OutputText(engine.Output{Left: left}), "a step that returned no account")
	assert.Equal(t, "stopped what earlier attempts left running: prod1 process 12 (pid file /tmp/a.pid, ended on SIGTERM); prod2 database session 7 (psql &lt;x&gt;); a &lt; b",
		handlers.OutputMrkdwn(engine.Output{Left: left, Summary: "a < b"}), "escaped for Slack")

	// What the executor stopped of an attempt whose context ended: a line each in the
	// details, as the executor wrote them before they were data.
	own := engine.Output{Details: "pg_restore: warning", Own: &report.StoppedOwn{
		Stopped:   []report.Stopped{{Cluster: "prod1", PID: "12", PidFile: "/tmp/a.pid", Killed: true}},
		Unreached: []report.ClusterErr{{Cluster: "prod2", Err: "connection refused", Reach: true}, {Cluster: "prod1", Err: "sessions left"}}}}
	assert.Equal(t, "pg_restore: warning\n"+"prod1: stopped process 12 (pid file /tmp/a.pid, killed with SIGKILL)\n"+
		fmt.Sprintf("could not reach %s to stop this attempt's commands: %v", "prod2", "connection refused")+"\n"+fmt.Sprintf("%s: %v", "prod1", "sessions left"),
		handlers.DetailsText(own))
}

// What the engine records as the cause of a step it stopped reads as it did when the
// engine wrote it in words; runs stored then show their words.
func TestCausesAreWorded(t *testing.T) {
	for _, tc := range []struct {
		c    engine.Cause
		want string
	}{
		{engine.Cause{Kind: engine.CauseExpired, Timeout: 2 * time.Hour}, "no decision within 2h0m0s; the step was not run"},
		{engine.Cause{Kind: engine.CauseRestarted, Was: engine.Running}, "the bot stopped while this step was running; it may have partly run"},
		{engine.Cause{Kind: engine.CauseShutDown, Err: "context canceled"}, "the bot shut down while this step ran: context canceled"},
		{engine.Cause{Kind: engine.CauseWaitEnded, User: "U03CAROL", Reason: "DNS will not change tonight"}, "the wait was ended by U03CAROL: DNS will not change tonight"},
		{engine.Cause{Kind: engine.CauseWaitEnded, User: "U03CAROL"}, "the wait was ended by U03CAROL"},
	} {
		assert.Equal(t, tc.want, handlers.CauseText(tc.c), string(tc.c.Kind))
	}
}

type reportCase struct {
	facts report.Facts
	want  string
}

const (
	dumpSum   = "9f2c1a0b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"
	backupSum = "77aa01bb02cc03dd04ee05ff06aa07bb08cc09dd00ee11ff22aa33bb44cc55dd"
)

// dumpCases are the dump step's accounts, as the step wrote them before it reported data.
func dumpCases() []reportCase {
	base := report.Dump{Database: "meshdb", Cluster: "prod2", Size: 13841203, SHA256: dumpSum}
	with := func(f func(*report.Dump)) report.Dump {
		d := base
		f(&d)
		return d
	}
	head := "dumped meshdb from prod2: 13.2 MiB, sha256 " + dumpSum + ", PGDMP magic checked, fsynced"
	copied := "; copied into prod1 pod meshdb-postgres-0 as it came (/tmp/cutoverbot-r1.dump; the restore step checks its sha256 there, then removes it)"
	return []reportCase{
		{base, head},
		{with(func(d *report.Dump) { d.Dest, d.DestErr = "prod1", "no pod matches app=postgres" }),
			head + "; not copied into prod1 nor backed up during the dump (no pod matches app=postgres): the restore step does both"},
		{with(func(d *report.Dump) {
			d.Dest, d.CopyPod, d.CopyPath = "prod1", "meshdb-postgres-0", "/tmp/cutoverbot-r1.dump"
			d.Backup = &report.DumpBackup{Size: 13526016, SHA256: backupSum}
		}), head + copied + "; backup of prod1 taken meanwhile: 12.9 MiB, sha256 77aa01bb02cc (prod1 did not change while it was taken; the restore step uses it if it still has not)"},
		{with(func(d *report.Dump) {
			d.Dest, d.CopyErr = "prod1", "pod evicted"
			d.Backup = &report.DumpBackup{Size: 1024, SHA256: backupSum, Second: true, Changed: true, NoPodCopy: "mkdir -p /data/b in pod p: exit 1"}
		}), head + "; not copied into prod1 during the dump (pod evicted): the restore step copies it" +
			"; backup of prod1 taken meanwhile: 1.0 KiB, sha256 77aa01bb02cc (second attempt: the state moved during the first; prod1 may have changed while it was taken: the restore step takes it again)" +
			"; no copy on prod1's postgres volume (mkdir -p /data/b in pod p: exit 1): only this replica's spool holds it"},
		{with(func(d *report.Dump) {
			d.Dest, d.CopyPod, d.CopyPath = "prod1", "meshdb-postgres-0", "/tmp/cutoverbot-r1.dump"
			d.Backup = &report.DumpBackup{Size: 1024, SHA256: backupSum, Changed: true}
		}), head + copied + "; backup of prod1 taken meanwhile: 1.0 KiB, sha256 77aa01bb02cc (prod1 may have changed while it was taken: the restore step takes it again)"},
		{with(func(d *report.Dump) {
			d.Dest, d.CopyPod, d.CopyPath, d.BackupErr = "prod1", "meshdb-postgres-0", "/tmp/cutoverbot-r1.dump", "connection refused"
		}), head + copied + "; no backup of prod1 during the dump (connection refused): the restore step takes it"},
	}
}

// restoreCases are the restore step's accounts (and the undo's), as the step wrote
// them before it reported data.
func restoreCases() []reportCase {
	s1 := &report.DBState{NextXid: "812", RowChanges: 4, Sequences: "5d41402abc4b2a76b9719d911017c592"}
	s2 := &report.DBState{NextXid: "815", RowChanges: 9, OpenWrites: 1, Sequences: "5d41402abc4b2a76b9719d911017c592"}
	state1 := "next xid 812, 4 row changes, 0 open writes, sequences 5d41402abc4b2a76b9719d911017c592"
	state2 := "next xid 815, 9 row changes, 1 open writes, sequences 5d41402abc4b2a76b9719d911017c592"
	both := &report.Found{Cluster: "prod1", Spool: true, InPod: "/var/lib/postgresql/data/cutoverbot-backups/r1/b.dump"}
	r := func(how report.BackupHow, jobs report.Jobs, notes ...report.Note) report.Restore {
		how.Cluster = "prod1"
		return report.Restore{Cluster: "prod1", Size: 13841203, SHA256: dumpSum, BackupSize: 13526016, BackupSHA256: backupSum, Backup: how, Notes: notes, Jobs: jobs}
	}
	j2 := report.Jobs{Jobs: 2}
	head := "restored 13.2 MiB (sha256 9f2c1a0b3c4d, checked in the pod) into prod1; backup of the old data: 12.9 MiB, sha256 77aa01bb02cc"
	ignored := r(report.BackupHow{Source: report.BackupNone}, j2)
	ignored.IgnoredErrors = 3
	return []reportCase{
		// How the backup of the old data was had.
		{r(report.BackupHow{Source: report.BackupKept, Found: both}, j2),
			head + ", kept from an earlier attempt, taken before any attempt could change prod1 (sha256 checked again in the spool and on prod1's postgres volume); pg_restore -j 2"},
		{r(report.BackupHow{Source: report.BackupKept, Found: &report.Found{Cluster: "prod1", Spool: true, PodErr: "no copy was kept on prod1's postgres volume"}}, j2),
			head + ", kept from an earlier attempt, taken before any attempt could change prod1 (sha256 checked again in the spool (the copy on prod1's volume: no copy was kept on prod1's postgres volume)); pg_restore -j 2"},
		{r(report.BackupHow{Source: report.BackupKept, Found: &report.Found{Cluster: "prod1", InPod: "/data/b.dump", Replica: "cutoverbot-0"}}, j2),
			head + ", kept from an earlier attempt, taken before any attempt could change prod1 (sha256 checked again on prod1's postgres volume (/data/b.dump); the spool copy is on replica cutoverbot-0); pg_restore -j 2"},
		{r(report.BackupHow{Source: report.BackupEarly, Now: s1}, j2),
			head + ", taken during the dump step; prod1 has not changed since (" + state1 + "); pg_restore -j 2"},
		{r(report.BackupHow{Source: report.BackupFresh}, j2), head + "; pg_restore -j 2"},
		{r(report.BackupHow{Source: report.BackupFresh, NoPodCopy: "disk full"}, j2),
			head + ", no copy on prod1's postgres volume (disk full): only this replica's spool holds it; pg_restore -j 2"},
		{r(report.BackupHow{Source: report.BackupNone}, j2), head + ", taken now; pg_restore -j 2"},
		{r(report.BackupHow{Source: report.BackupNone, NoPodCopy: "disk full"}, j2),
			head + ", taken now; no copy on prod1's postgres volume (disk full): only this replica's spool holds it; pg_restore -j 2"},
		{r(report.BackupHow{Source: report.BackupOtherCluster, EarlyCluster: "prod3"}, j2), head + ", taken now: the dump step backed up prod3; pg_restore -j 2"},
		{r(report.BackupHow{Source: report.BackupMoved, Before: s1, After: s2}, j2),
			head + ", taken again: prod1 may have changed while the dump step backed it up (" + state1 + ", then " + state2 + "); pg_restore -j 2"},
		{r(report.BackupHow{Source: report.BackupNotHere}, j2), head + ", taken again: the backup from the dump step is not on this replica; pg_restore -j 2"},
		{r(report.BackupHow{Source: report.BackupNotHere, Err: "sha256 mismatch"}, j2),
			head + ", taken again: the backup from the dump step is not on this replica, and its copy on prod1's volume failed its check (sha256 mismatch); pg_restore -j 2"},
		{r(report.BackupHow{Source: report.BackupStateUnread, Err: "read the transaction horizon and row counters of meshdb: exit 2"}, j2),
			head + ", taken again: read the transaction horizon and row counters of meshdb: exit 2; pg_restore -j 2"},
		{r(report.BackupHow{Source: report.BackupChanged, After: s1, Now: s2}, j2),
			head + ", taken again: prod1 changed since the dump step backed it up (" + state1 + ", now " + state2 + "); pg_restore -j 2"},
		{r(report.BackupHow{Source: report.BackupWrites, Now: s2, NoPodCopy: "disk full"}, j2),
			head + ", taken again: 1 write transaction(s) open in prod1; no copy on prod1's postgres volume (disk full): only this replica's spool holds it; pg_restore -j 2"},
		// Notes on the file restored, in order.
		{r(report.BackupHow{Source: report.BackupNone}, j2,
			report.Note{Kind: report.NoteCopyElsewhere, Path: "/tmp/x.dump", Cluster: "prod3"},
			report.Note{Kind: report.NoteCopyPodReplaced, Pod: "pg-old", NowPod: "pg-new"},
			report.Note{Kind: report.NoteCopyFailed, Pod: "pg-new", Err: "sha256 mismatch"},
			report.Note{Kind: report.NoteCopiedAgain}),
			head + ", taken now; the copy made during the dump (/tmp/x.dump in prod3) is not where this step restores from" +
				"; the copy made during the dump is in pod pg-old, the postgres pod is now pg-new" +
				"; the copy made in pod pg-new during the dump failed its check (sha256 mismatch); copied it in again from the spool; pg_restore -j 2"},
		{r(report.BackupHow{Source: report.BackupNone}, j2, report.Note{Kind: report.NoteCopyUsed, Pod: "pg-0"}),
			head + ", taken now; used the copy made in pod pg-0 during the dump; pg_restore -j 2"},
		{r(report.BackupHow{Source: report.BackupNone}, j2, report.Note{Kind: report.NoteCopyUsed, Pod: "pg-0", NoSpool: true}),
			head + ", taken now; the dump spool was not on this replica; used the copy made in pod pg-0 during the dump (its sha256 is the dump's); pg_restore -j 2"},
		{r(report.BackupHow{Source: report.BackupNone}, j2, report.Note{Kind: report.NoteRedumped, Cluster: "prod2", Size: 13841203, SHA256: dumpSum}),
			head + ", taken now; the dump spool was not on this replica; dumped prod2 again: 13.2 MiB, sha256 " + dumpSum +
				", PGDMP magic checked, fsynced (the verify step compares the tables); pg_restore -j 2"},
		{r(report.BackupHow{Source: report.BackupFresh}, j2, report.Note{Kind: report.NoteRestoredBackup, Found: both}),
			head + "; restored the backup sha256 checked again in the spool and on prod1's postgres volume; pg_restore -j 2"},
		// How pg_restore ran.
		{r(report.BackupHow{Source: report.BackupFresh}, report.Jobs{Jobs: 1, ResourcesErr: "read what the pod may use: exit 1"}),
			head + "; pg_restore -j 1: read what the pod may use: exit 1"},
		{r(report.BackupHow{Source: report.BackupFresh}, report.Jobs{Jobs: 3, Resources: &report.Resources{Cores: 3}, MemKB: 65537}),
			head + "; pg_restore -j 3 for 3 cores (nproc), memory unknown; maintenance_work_mem 65537kB in its sessions"},
		{r(report.BackupHow{Source: report.BackupFresh}, report.Jobs{Jobs: 2, Resources: &report.Resources{Cores: 2, CPULimit: 2.5, MemLimit: 4 << 30}, ServerMemKB: 1 << 20}),
			head + "; pg_restore -j 2 for 2 cores (CPU limit 2.50), 4.0 GiB (memory limit); maintenance_work_mem left at the server's 1GB"},
		{r(report.BackupHow{Source: report.BackupFresh}, report.Jobs{Jobs: 4, Resources: &report.Resources{Cores: 8, MemTotal: 16 << 30}, MemErr: "psql: exit 2"}),
			head + "; pg_restore -j 4 for 8 cores (nproc), 16.0 GiB (node); maintenance_work_mem left as the server has it (psql: exit 2)"},
		{ignored, head + ", taken now; pg_restore -j 2; pg_restore ignored 3 error(s): see details, then check the verify step"},
	}
}
