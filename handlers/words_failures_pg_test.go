package handlers_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// pgFailureCases are ops/pg's failures, each with the fmt.Errorf format ops/pg wrote
// before its failures were data (stderrNote added "; stderr: ..." when there was any).
func pgFailureCases() map[string][]failureCase {
	const (
		remote = "/tmp/cutoverbot-r1.dump"
		exit   = "command terminated with exit code 1"
		stderr = "sh: can't create /tmp/cutoverbot-r1.dump: No space left on device"
		spool  = "/var/lib/cutoverbot/spool/r1/dump-origin.dump"
	)
	note := "; stderr: " + stderr
	cmd := func(of report.PodCommandOf, path, db string, withStderr bool) report.PodCommand {
		c := report.PodCommand{Of: of, Path: path, Database: db}
		if withStderr {
			c.Stderr = stderr
		}
		return c
	}
	dumpArgv := "pg_dump -Fc -d meshdb -U meshdb"
	log := "pg_restore: error: could not execute query: server closed the connection unexpectedly\npg_restore: warning: errors ignored on restore: 3"
	return map[string][]failureCase{
		"failed_pod_command": {
			{cmd(report.CommandStage, remote, "", true), exit, fmt.Sprintf("copy the dump into the pod: %s%s", exit, note)},
			{cmd(report.CommandStageStream, remote, "", false), exit, fmt.Sprintf("copy into the pod: %s%s", exit, "")},
			{cmd(report.CommandStageEnded, remote, "", true), exit, fmt.Sprintf("the copy into the pod ended early: %s%s", exit, note)},
			{cmd(report.CommandSHA256, remote, "", true), exit, fmt.Sprintf("sha256sum in the pod: %s%s", exit, note)},
			{cmd(report.CommandRemove, remote, "", true), exit, fmt.Sprintf("remove %s from the pod (remove it by hand): %s%s", remote, exit, note)},
			{cmd(report.CommandState, "", "meshdb", true), exit, fmt.Sprintf("read the transaction horizon and row counters of %s: %s%s", "meshdb", exit, note)},
			{cmd(report.CommandMaintenanceRead, "", "meshdb", true), exit, fmt.Sprintf("read MAINTENANCE_MODE in %s: %s%s", "meshdb", exit, note)},
			{cmd(report.CommandMaintenanceSet, "", "meshdb", true), exit, fmt.Sprintf("set MAINTENANCE_MODE in SQL: %s%s", exit, note)},
			{cmd(report.CommandResources, "", "", true), exit, fmt.Sprintf("read the pod's cores and memory: %s%s", exit, note)},
			{cmd(report.CommandWorkMem, "", "meshdb", true), exit, fmt.Sprintf("read maintenance_work_mem: %s%s", exit, note)},
			{cmd(report.CommandStopProcesses, "", "", true), exit, fmt.Sprintf("stop the processes earlier attempts left in the pod: %s%s", exit, note)},
			{cmd(report.CommandEndSessions, "", "meshdb", true), exit, fmt.Sprintf("end the database sessions earlier attempts left: %s%s", exit, note)},
			{cmd(report.CommandFingerprint, "", "meshdb", true), exit, fmt.Sprintf("fingerprint the tables of %s: %s%s", "meshdb", exit, note)},
		},
		"failed_unexpected_answer": {
			{report.UnexpectedAnswer{Of: report.AnswerState, Said: "12|x"}, "", fmt.Sprintf("unexpected answer to the state query: %q", "12|x")},
			{report.UnexpectedAnswer{Of: report.AnswerRecordedState, Said: "next xid"}, "unexpected EOF",
				fmt.Sprintf("unexpected recorded state %q: %s", "next xid", "unexpected EOF")},
			{report.UnexpectedAnswer{Of: report.AnswerMaintenance, Said: "maybe", Database: "meshdb"}, "",
				fmt.Sprintf("MAINTENANCE_MODE in %s has value %q, neither True nor False: fix the flags_flagstate row", "meshdb", "maybe")},
			{report.UnexpectedAnswer{Of: report.AnswerNproc, Said: ""}, "", fmt.Sprintf("read the pod's cores: nproc said %q", "")},
			{report.UnexpectedAnswer{Of: report.AnswerWorkMem, Said: "64MB", Database: "meshdb"}, "", fmt.Sprintf("read maintenance_work_mem: the server said %q", "64MB")},
			{report.UnexpectedAnswer{Of: report.AnswerFingerprint, Said: "meshapi_node|x", Database: "meshdb"}, "", fmt.Sprintf("unexpected fingerprint line %q from psql", "meshapi_node|x")},
			{report.UnexpectedAnswer{Of: report.AnswerStagedSize, Said: "wc: not found\n", Path: remote}, "",
				fmt.Sprintf("the pod did not say the size of %s: %q", remote, "wc: not found\n")},
		},
		"failed_spool_file": {
			{report.SpoolFile{Of: report.SpoolRemoveOld, Path: spool}, "remove " + spool + ": permission denied",
				fmt.Sprintf("remove the old %s before dumping: %s", spool, "remove "+spool+": permission denied")},
			{report.SpoolFile{Of: report.SpoolCreate, Path: spool + ".partial"}, "no space", fmt.Sprintf("create %s: %s", spool+".partial", "no space")},
			{report.SpoolFile{Of: report.SpoolWrite, Path: spool + ".partial"}, "no space", fmt.Sprintf("write %s: %s", spool+".partial", "no space")},
			{report.SpoolFile{Of: report.SpoolFsync, Path: spool + ".partial"}, "i/o error", fmt.Sprintf("fsync %s: %s", spool+".partial", "i/o error")},
			{report.SpoolFile{Of: report.SpoolClose, Path: spool + ".partial"}, "i/o error", fmt.Sprintf("close %s: %s", spool+".partial", "i/o error")},
			{report.SpoolFile{Of: report.SpoolMove, Path: spool + ".partial", To: spool}, "i/o error", fmt.Sprintf("move %s to %s: %s", spool+".partial", spool, "i/o error")},
			{report.SpoolFile{Of: report.SpoolOpen, Path: spool}, "open " + spool + ": no such file or directory", fmt.Sprintf("open the dump: %s", "open "+spool+": no such file or directory")},
		},
		"failed_remote_path": {{report.RemotePath{Path: "/tmp/x'; rm -rf /"}, "",
			fmt.Sprintf("refusing remote path %q: it must be absolute and use only A-Z a-z 0-9 / . _ , -", "/tmp/x'; rm -rf /")}},
		"failed_bad_magic": {
			{report.BadMagic{Head: "-- pl", Cut: true}, "", fmt.Sprintf("%s: the stream starts with %q; is pg_dump run with -Fc?", "not a pg_dump custom-format archive (no PGDMP magic)", "-- pl")},
			{report.BadMagic{Head: "PGD", Bytes: 3}, "", fmt.Sprintf("%s: got %q in %d bytes", "not a pg_dump custom-format archive (no PGDMP magic)", "PGD", 3)},
		},
		"failed_dump_exit": {
			{report.DumpExit{Command: dumpArgv, Bytes: 65536, Stderr: "pg_dump: error: connection to server lost"}, exit,
				fmt.Sprintf("%s failed after %d bytes, no dump kept: %s%s", dumpArgv, 65536, exit, "; stderr: pg_dump: error: connection to server lost")},
			{report.DumpExit{Command: dumpArgv, Bytes: 0}, exit, fmt.Sprintf("%s failed after %d bytes, no dump kept: %s%s", dumpArgv, 0, exit, "")},
		},
		"failed_dump_stopped": {{report.DumpStopped{Bytes: 1 << 20}, "context canceled", fmt.Sprintf("dump stopped after %d bytes, no dump kept: %s", 1<<20, "context canceled")}},
		"failed_pg_restore": {
			{report.PgRestore{Database: "meshdb", How: report.RestoreLostServer, Log: log}, "", fmt.Sprintf("pg_restore into %s lost the database server part-way: the destination may be half-restored; "+
				"Retry restores everything again from the start (or abort and roll back from the backup). %s", "meshdb", log)},
			{report.PgRestore{Database: "meshdb", How: report.RestoreUnfinished, Log: "pg_restore: error: could not read input file: end of file"}, "exit status 1",
				fmt.Sprintf("pg_restore into %s failed (%s) without saying it finished: %s", "meshdb", "exit status 1", "pg_restore: error: could not read input file: end of file")},
			{report.PgRestore{Database: "meshdb", How: report.RestoreFatal, Log: "pg_restore: error: something"}, "", fmt.Sprintf("pg_restore into %s failed: %s", "meshdb", "pg_restore: error: something")},
		},
		"failed_stage_stalled": {{report.StageStalled{Stall: 30 * time.Second}, "", fmt.Sprintf("the pod took no data for %s", 30*time.Second)}},
		"failed_stage_exited":  {{report.StageExited{}, "", "the command in the pod exited before the end of the stream"}},
		"failed_stage_short": {{report.StageShort{Path: remote, Got: 4194303, Sent: 4194304, Size: 4194304}, "",
			fmt.Sprintf("%s holds %d bytes in the pod; %d were sent of a %d-byte dump", remote, 4194303, 4194304, 4194304)}},
		"failed_sessions_left": {{report.SessionsLeft{Prefix: "cutoverbot-"}, "context deadline exceeded",
			fmt.Sprintf("sessions of earlier attempts (%s) still there after pg_terminate_backend: %s", "cutoverbot-", "context deadline exceeded")}},
	}
}

// A copy into the pod that was given up, and then could not be removed, is two
// failures joined (errors.Join, one a line): the dump's report words both.
func TestJoinedFailuresAreWorded(t *testing.T) {
	given := report.Fail(report.StageStalled{Stall: 30 * time.Second}, nil)
	rm := report.Fail(report.PodCommand{Of: report.CommandRemove, Path: "/tmp/cutoverbot-r1.dump"}, errors.New("exit code 1"))
	assert.Equal(t, "the pod took no data for 30s\nremove /tmp/cutoverbot-r1.dump from the pod (remove it by hand): exit code 1",
		handlers.ErrText(errors.Join(given, rm).Error()))
}
