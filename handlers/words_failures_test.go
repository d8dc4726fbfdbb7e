package handlers_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// failureCase is a failure, the cause it came with ("" none) and what the step wrote
// before it returned data: the same format and values, so the words are the same.
type failureCase struct {
	facts report.Facts
	cause string
	want  string
}

// Every failure kind is worded, word for word as the step wrote it itself before its
// failures were data (the formats below are the steps' fmt.Errorf formats of then).
func TestEveryFailureIsWorded(t *testing.T) {
	const (
		sum  = "9f2c1a0b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"
		bad  = "77aa01bb02cc03dd04ee05ff06aa07bb08cc09dd00ee11ff22aa33bb44cc55dd"
		path = "/var/lib/cutoverbot/spool/r1/restore-destination-backup-attempt-1.dump"
		pod  = "/var/lib/postgresql/data/cutoverbot-backups/r1/restore-destination-backup-attempt-1.dump"
	)
	cause := "exit code 1: connection refused"
	notFound := report.BackupNotFound{Cluster: "prod1", SHA256: sum, Path: path, Replica: "cutoverbot-0", PodPath: pod}
	with := func(f func(*report.BackupNotFound)) report.BackupNotFound {
		n := notFound
		f(&n)
		return n
	}
	where := path + " in the spool of replica cutoverbot-0, and " + pod + " in prod1's postgres pod"
	cases := map[string][]failureCase{
		"failed_spool_dir":   {{report.SpoolDir{Path: "/var/lib/cutoverbot/spool/r1"}, "mkdir: permission denied", "create spool directory: mkdir: permission denied"}},
		"failed_no_cluster":  {{report.NoCluster{Cluster: "prod3"}, "", fmt.Sprintf("no connection to cluster %q is configured", "prod3")}},
		"failed_step_result": {{report.StepResult{Step: "dump-origin"}, "bad json", fmt.Sprintf("step %s: %s", "dump-origin", "bad json")}},
		"failed_leftovers": {
			{report.Leftovers{Cluster: "prod1"}, cause, fmt.Sprintf("could not look for commands earlier attempts left running in %s (%s); nothing was run", "prod1", cause)},
			{report.Leftovers{Cluster: "prod2", Stop: true}, cause, fmt.Sprintf("could not stop what earlier attempts left running in %s (%s); nothing was run", "prod2", cause)},
		},
		"failed_record_count": {
			{report.RecordCount{Name: "meshdb-celery-worker"}, cause, fmt.Sprintf("record the replica count of %s before scaling it (nothing was changed): %s", "meshdb-celery-worker", cause)},
			{report.RecordCount{Name: "meshdb-celery-worker", InRun: true}, cause, fmt.Sprintf("record the replica count of %s in the run before scaling it (nothing was changed): %s", "meshdb-celery-worker", cause)},
		},
		"failed_no_count": {{report.NoCount{Step: "scale-destination-celery", Name: "w"}, "",
			fmt.Sprintf("step %s recorded no previous replica count for %s; scale it by hand and Skip with a reason", "scale-destination-celery", "w")}},
		"failed_maintenance_no_postgres": {{report.MaintenanceNoPostgres{On: true}, "no pod matches app=postgres", fmt.Sprintf("maintenance %s: %s", "on", "no pod matches app=postgres")}},
		"failed_maintenance_sql": {{report.MaintenanceSQL{On: false, Cluster: "prod2"}, cause,
			fmt.Sprintf("maintenance %s in %s: the meshweb path failed and so did SQL: %s", "off", "prod2", cause)}},
		"failed_maintenance_unread": {{report.MaintenanceUnread{Cluster: "prod1"}, cause, fmt.Sprintf("read MAINTENANCE_MODE back in %s: %s", "prod1", cause)}},
		"failed_maintenance_reads": {{report.MaintenanceReads{Reads: false, Set: true, Cluster: "prod1"}, "",
			fmt.Sprintf("MAINTENANCE_MODE reads %s in %s after setting it %s", "off", "prod1", "on")}},
		"failed_dump": {{report.DumpFailed{Cluster: "prod2"}, cause, fmt.Sprintf("dump %s: %s", "prod2", cause)}},
		"failed_redump_no_origin": {{report.RedumpNoOrigin{SpoolErr: "stat " + path + ": no such file or directory", From: "prod2"}, "no pod matches app=postgres",
			fmt.Sprintf("the dump spool is not on this replica (%v) and %s cannot be dumped again: %s", "stat "+path+": no such file or directory", "prod2", "no pod matches app=postgres")}},
		"failed_redump": {{report.RedumpFailed{SpoolErr: "stat x: no such file or directory", From: "prod2"}, cause,
			fmt.Sprintf("the dump spool is not on this replica (%v), and dumping %s again failed: %s", "stat x: no such file or directory", "prod2", cause)}},
		"failed_no_dump":      {{report.NoDump{Step: "dump-origin"}, "", fmt.Sprintf("step %s has not produced a dump; run it first", "dump-origin")}},
		"failed_no_dump_file": {{report.NoDumpFile{}, "", "no dump file is recorded to restore from"}},
		"failed_no_backup":    {{report.NoBackup{}, "", "no backup is recorded to restore from"}},
		"failed_backup":       {{report.BackupFailed{Cluster: "prod1"}, cause, fmt.Sprintf("backup of %s before the restore failed, nothing was restored: %s", "prod1", cause)}},
		"failed_not_restored": {{report.NotRestored{Cluster: "prod1"}, cause, fmt.Sprintf("nothing was restored into %s: %s", "prod1", cause)}},
		"failed_not_recorded": {{report.NotRecorded{Cluster: "prod1"}, "the store is gone",
			fmt.Sprintf("could not record the backup of %s in the run before restoring (%s); nothing was restored: Retry", "prod1", "the store is gone")}},
		"failed_restore":            {{report.RestoreFailed{Cluster: "prod1"}, "pg_restore: error: could not connect", fmt.Sprintf("restore into %s: %s", "prod1", "pg_restore: error: could not connect")}},
		"failed_find_pod_to_remove": {{report.FindPodToRemove{Cluster: "prod1", Path: "/tmp/cutoverbot-r1.dump"}, "no pod matches app=postgres", fmt.Sprintf("find the postgres pod in %s to remove %s: %s", "prod1", "/tmp/cutoverbot-r1.dump", "no pod matches app=postgres")}},
		"failed_backup_exists":      {{report.BackupExists{Path: path}, "", fmt.Sprintf("%s: %s; a backup is never overwritten", "a file is already there", path)}},
		"failed_checksum": {
			{report.Checksum{Of: report.ChecksumSent, Got: bad, Want: sum}, "", fmt.Sprintf("%s: the spool file hashes to %s, the dump was %s; nothing was restored: retry the dump", "sha256 mismatch", bad, sum)},
			{report.Checksum{Of: report.ChecksumCopy, Got: "(nothing)", Want: sum}, "", fmt.Sprintf("%s: the copy in the pod hashes to %s, the dump is %s; nothing was restored", "sha256 mismatch", "(nothing)", sum)},
			{report.Checksum{Of: report.ChecksumNone, Want: "abc"}, "", fmt.Sprintf("%s: no sha256 is recorded for the dump (%q)", "sha256 mismatch", "abc")},
			{report.Checksum{Of: report.ChecksumBackup, Path: path, Got: bad, Want: sum}, "", fmt.Sprintf("%s: %s hashes to %s, the backup was %s", "sha256 mismatch", path, bad, sum)},
		},
		"failed_backup_not_found": {
			{with(func(n *report.BackupNotFound) {
				n.SpoolErr, n.PodErr = "open "+path+": no such file or directory", "sha256sum in the pod: exit code 1"
			}), "",
				fmt.Sprintf("the backup of %s (sha256 %s) cannot be found: %s (spool: %v; pod: %v)", "prod1", sum[:12], where, "open "+path+": no such file or directory", "sha256sum in the pod: exit code 1")},
			{with(func(n *report.BackupNotFound) { n.SpoolGot, n.PodGot = bad, bad }), "",
				fmt.Sprintf("the backup of %s (sha256 %s) cannot be found: %s (spool: %v; pod: %v)", "prod1", sum[:12], where,
					"sha256 mismatch: "+path+" hashes to "+bad+", the backup was "+sum, "sha256 mismatch: the copy in the pod hashes to "+bad+", the dump is "+sum+"; nothing was restored")},
			{with(func(n *report.BackupNotFound) { n.PodPath, n.SpoolErr = "", "open x: no such file or directory" }), "",
				fmt.Sprintf("the backup of %s (sha256 %s) cannot be found: %s (spool: %v; pod: %v)", "prod1", sum[:12], path+" in the spool of replica cutoverbot-0",
					"open x: no such file or directory", "no copy was kept on prod1's postgres volume")},
		},
		"failed_backup_lost": {{report.BackupLost{Cluster: "prod1", Path: path}, "the backup is gone",
			fmt.Sprintf("nothing was run: %s. An earlier attempt of this step may have half-restored %s, so the bot will not back it up again "+
				"as the data before the run. Bring the backup back (to %s on the bot's replica, or to its path in %s's postgres pod) and Retry; "+
				"or Abort and restore %s by hand; or Skip with a reason, accepting that the undo cannot restore %s's old data",
				"the backup is gone", "prod1", path, "prod1", "prod1", "prod1")}},
		"failed_backup_missing": {{report.BackupMissing{}, "the backup is gone", fmt.Sprintf("nothing was restored: %s; bring it back to either place and Retry", "the backup is gone")}},
		"failed_fingerprint":    {{report.Fingerprint{Cluster: "prod2"}, cause, fmt.Sprintf("fingerprint %s: %s", "prod2", cause)}},
		"failed_tables_differ": {{report.TablesDiffer{Origin: "prod2", Destination: "prod1", Diffs: []string{"meshapi_member: rows 10 vs 9", "meshapi_node: md5 differs"}}, "",
			fmt.Sprintf("%d table(s) differ between %s and %s: %s", 2, "prod2", "prod1", "meshapi_member: rows 10 vs 9; meshapi_node: md5 differs")}},
		"failed_no_prior":   {{report.NoPrior{Step: "snapshot-prior"}, "", fmt.Sprintf("step %s took no snapshot to compare with; Skip with a reason to go on without the diff", "snapshot-prior")}},
		"failed_prior_gone": {{report.PriorGone{}, "open x: no such file or directory", fmt.Sprintf("the prior snapshot is gone from the spool: %s", "open x: no such file or directory")}},
		"failed_not_merged": {{report.NotMerged{URL: "https://github.com/nycmeshnet/nycmesh-dns/pull/7", Timeout: 6 * time.Hour}, "",
			fmt.Sprintf("%s was not merged within %s (github.merge_timeout): merge it and Retry, or Skip with a reason, or Abort", "https://github.com/nycmeshnet/nycmesh-dns/pull/7", 6*time.Hour)}},
		"failed_no_merge_commit": {{report.NoMergeCommit{URL: "https://github.com/nycmeshnet/nycmesh-dns/pull/7", Workflow: "SLD Terraform"}, "",
			fmt.Sprintf("GitHub gives no merge commit for %s, so its %s run cannot be found: check that run in GitHub, then Skip with a reason", "https://github.com/nycmeshnet/nycmesh-dns/pull/7", "SLD Terraform")}},
		"failed_not_a_number": {
			{report.NotANumber{Of: report.NumberReplicas, Value: "one"}, "", fmt.Sprintf("recorded replica count %q is not a number", "one")},
			{report.NotANumber{Of: report.NumberPR, Value: "#7"}, "", fmt.Sprintf("recorded pull request number %q is not a number", "#7")},
			{report.NotANumber{Of: report.NumberSize, Value: "big", Path: path}, "", fmt.Sprintf("recorded size %q of %s is not a number", "big", path)},
		},
		"failed_mkdir_in_pod": {{report.MkdirInPod{Dir: "/var/lib/postgresql/data/cutoverbot-backups/r1", Pod: "meshdb-postgres-0", Stderr: "mkdir: Read-only file system"}, "exit code 1",
			fmt.Sprintf("mkdir -p %s in pod %s: %s %s", "/var/lib/postgresql/data/cutoverbot-backups/r1", "meshdb-postgres-0", "exit code 1", "mkdir: Read-only file system")}},
		"failed_manage_output": {{report.ManageOutput{Stdout: "Traceback …", Want: "Successfully enabled MAINTENANCE_MODE"}, "",
			fmt.Sprintf("%s: %q, not %q", "unexpected output", "Traceback …", "Successfully enabled MAINTENANCE_MODE")}},
	}
	for _, more := range []map[string][]failureCase{pgFailureCases(), kubeFailureCases(), dnsFailureCases(), engineFailureCases(), trafficFailureCases(), snapshotFailureCases()} {
		for kind, tcs := range more {
			require.NotContains(t, cases, kind)
			cases[kind] = tcs
		}
	}
	for _, kind := range report.FailureKinds() {
		tcs, ok := cases[kind]
		if !assert.True(t, ok, "failure %s has a case here", kind) {
			continue
		}
		for _, tc := range tcs {
			require.Equal(t, kind, tc.facts.ReportKind())
			var c error
			if tc.cause != "" {
				c = errors.New(tc.cause)
			}
			err := report.Fail(tc.facts, c)
			f := engine.FailureOf(err)
			require.NotNil(t, f, kind)
			assert.Equal(t, tc.want, handlers.FailureText(f), kind)
			// A failure held in an error's text (a report's field, a wrapped error) reads the same.
			assert.Equal(t, tc.want, handlers.ErrText(err.Error()), kind)
			assert.Equal(t, "copy failed ("+tc.want+")", handlers.ErrText("copy failed ("+err.Error()+")"), kind)
		}
	}
	assert.Len(t, cases, len(report.FailureKinds()))
}

// A failure caused by another failure of ours reads as one sentence, as the nested
// fmt.Errorf did; what a step returns is shown as the failure's words wherever the
// step's error is shown, and runs stored by earlier versions show their text.
func TestFailureChainsAndOldRuns(t *testing.T) {
	sum := strings.Repeat("a", 64)
	got := strings.Repeat("b", 64)
	err := fmt.Errorf("attempt 2: %w", report.Fail(report.NotRestored{Cluster: "prod1"},
		&report.Failed{Facts: report.Checksum{Of: report.ChecksumCopy, Got: got, Want: sum}}))
	want := "nothing was restored into prod1: sha256 mismatch: the copy in the pod hashes to " + got + ", the dump is " + sum + "; nothing was restored"
	f := engine.FailureOf(err)
	require.NotNil(t, f)
	require.NotNil(t, f.Then, "the cause is a failure of ours: data too")
	assert.Empty(t, f.Cause)
	assert.Equal(t, want, handlers.FailureText(f))
	assert.Equal(t, "attempt 2: "+want, handlers.ErrText(err.Error()), "the words of a wrapper stay in the error's text")

	lost := report.Fail(report.BackupLost{Cluster: "prod1", Path: "/s/b.dump"}, report.Fail(report.BackupNotFound{Cluster: "prod1", SHA256: sum, Path: "/s/b.dump", Replica: "r0", SpoolErr: "gone"}, nil))
	text := handlers.FailureText(engine.FailureOf(lost))
	assert.True(t, strings.HasPrefix(text, "nothing was run: the backup of prod1 (sha256 aaaaaaaaaaaa) cannot be found: /s/b.dump in the spool of replica r0 (spool: gone; pod: no copy was kept on prod1's postgres volume). An earlier attempt"), text)

	assert.Nil(t, engine.FailureOf(errors.New("plain")), "an error that carries no failure")
	old := "restore into prod1: sha256 in the pod 0bad… does not match the local 9f2c…; the file was removed and nothing was restored"
	assert.Equal(t, old, handlers.ErrText(old), "a run stored by an earlier version shows its text")
	assert.Equal(t, old, handlers.StepErrorText(engine.StepRun{Error: old}))
	assert.Equal(t, want, handlers.StepErrorText(engine.StepRun{Error: err.Error(), Failure: f}), "the failure, not the log form")
	assert.Contains(t, handlers.FailureText(&engine.Failure{Kind: "failed_from_a_newer_version"}), "could not read")
}

// A step's details that were sentences are data in its report now, worded as the step
// wrote them; runs stored by earlier versions show the details they stored.
func TestReportDetailsAreWorded(t *testing.T) {
	remote := "/tmp/cutoverbot-r1.dump"
	for _, tc := range []struct {
		facts report.Facts
		want  string
	}{
		{report.Dump{Database: "meshdb", Cluster: "prod2", Dest: "prod1", CopyPod: "meshdb-postgres-0", CopyPath: remote, CopyNamespace: "meshdb", CopyContainer: "postgres"},
			fmt.Sprintf("The dump is also at %s in %s pod %s. The restore step removes it; if the run stops before, remove it by hand (in %s):\n  kubectl -n %s exec %s -c %s -- rm -f %s\n",
				remote, "prod1", "meshdb-postgres-0", "prod1", "meshdb", "meshdb-postgres-0", "postgres", remote)},
		{report.Dump{Database: "meshdb", Cluster: "prod2", Dest: "prod1", CopyErr: "pod evicted"}, ""},
		{report.Maintenance{On: true, Cluster: "prod2", Via: "sql", Pod: "p", MeshwebErr: "no pod matches app=meshweb"},
			"meshweb path failed (" + "no pod matches app=meshweb" + "); used the SQL fallback"},
		{report.Maintenance{On: true, Cluster: "prod2", Via: "manage.py", Verb: "enable_flag", Pod: "p"}, ""},
		{report.CopyRemoved{Path: remote, Cluster: "prod1", Pods: []string{"pg-1"}, NowErr: "no pod matches app=postgres",
			Gone: []report.PodErr{{Pod: "pg-0", Err: "pods \"pg-0\" not found"}, {Pod: "pg-2", Err: "gone"}}},
			fmt.Sprintf("no postgres pod found in %s now (%v)", "prod1", "no pod matches app=postgres") + "\n" +
				fmt.Sprintf("pod %s (where the dump step copied it): %v; a pod that is gone took its /tmp with it", "pg-0", `pods "pg-0" not found`) + "\n" +
				fmt.Sprintf("pod %s (where the dump step copied it): %v; a pod that is gone took its /tmp with it", "pg-2", "gone")},
		{report.CopyRemoved{Path: remote, Cluster: "prod1", Gone: []report.PodErr{{Pod: "pg-0", Err: "gone"}}},
			"pod pg-0 (where the dump step copied it): gone; a pod that is gone took its /tmp with it"},
		{report.CopyRemoved{Path: remote, Cluster: "prod1", Pods: []string{"pg-0"}}, ""},
		{report.Verify{Tables: 1}, ""},
	} {
		assert.Equal(t, tc.want, handlers.DetailsText(engine.Output{}.WithReport(tc.facts)), "%#v", tc.facts)
	}
	old := engine.Output{Details: "The dump is also at /tmp/x in prod1 pod p. …"}.WithReport(report.Dump{CopyPod: "p", CopyPath: "/tmp/x"})
	assert.Equal(t, old.Details, handlers.DetailsText(old), "a run stored by an earlier version shows its details")
	assert.Equal(t, "pg_restore: warning", handlers.DetailsText(engine.Output{Details: "pg_restore: warning"}))
}

// The failure message shows the failure's words, not the error's log form; a run
// stored by an earlier version shows its error's text as before.
func TestFailureMessageWordsTheFailure(t *testing.T) {
	sum, got := strings.Repeat("a", 64), strings.Repeat("b", 64)
	err := report.Fail(report.NotRestored{Cluster: "prod1"}, &report.Failed{Facts: report.Checksum{Of: report.ChecksumCopy, Got: got, Want: sum}})
	run := func(s engine.StepRun) *engine.Run {
		s.Step = plan.Step{ID: "restore-destination", Title: "Restore the dump into prod1", Kind: plan.KindRestore, Cluster: "prod1"}
		s.State, s.Attempt = engine.Failed, 1
		return &engine.Run{ID: "r1", Origin: "prod2", Destination: "prod1", Initiator: "U01ALICE", State: engine.Active, Steps: []engine.StepRun{s}}
	}
	m := handlers.Failure(run(engine.StepRun{Error: err.Error(), Failure: engine.FailureOf(err)}), 0, 1, "")
	assert.Equal(t, "nothing was restored into prod1: sha256 mismatch: the copy in the pod hashes to "+got+", the dump is "+sum+"; nothing was restored", m.Code)
	old := "restore into prod1: sha256 in the pod 0bad… does not match the local 9f2c…; the file was removed and nothing was restored"
	assert.Equal(t, old, handlers.Failure(run(engine.StepRun{Error: old}), 0, 1, "").Code)
}

// A failure's cause that wraps a failure of ours in words of its own keeps those words.
func TestWrappedCauseKeepsItsWords(t *testing.T) {
	path := "/spool/r1/b.dump"
	err := report.Fail(report.BackupFailed{Cluster: "prod1"}, fmt.Errorf("move %s to %s: %w", path+".partial", path, &report.Failed{Facts: report.BackupExists{Path: path}}))
	f := engine.FailureOf(err)
	require.NotNil(t, f)
	assert.Nil(t, f.Then, "the cause is a wrapper: kept as its text")
	assert.Equal(t, "backup of prod1 before the restore failed, nothing was restored: move "+path+".partial to "+path+": a file is already there: "+path+"; a backup is never overwritten",
		handlers.FailureText(f))
}
