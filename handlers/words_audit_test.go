package handlers_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Every note the engine writes in its audit log is worded, as the engine wrote the
// reason itself before it recorded a code.
func TestEveryAuditNoteIsWorded(t *testing.T) {
	cases := map[engine.AuditNote]struct {
		a    engine.AuditEntry
		want string
	}{
		engine.NoteAutoRun:         {engine.AuditEntry{}, "read-only step runs without approval"},
		engine.NoteOverriddenRerun: {engine.AuditEntry{}, "every failed check is overridden; the read-only step runs again"},
		engine.NoteOverriddenAwait: {engine.AuditEntry{}, "every failed check is overridden"},
		engine.NoteByRetry:         {engine.AuditEntry{}, "by retry"},
		engine.NoteRollbackStopped: {engine.AuditEntry{Reason: "the destination is gone"}, "rollback stopped: the destination is gone"},
		engine.NoteRollbackPlanned: {engine.AuditEntry{Steps: 5}, "5 step(s)"},
		engine.NoteRunStarted:      {engine.AuditEntry{Origin: "prod2", Destination: "prod1"}, "prod2 -> prod1"},
	}
	for _, note := range engine.AuditNotes() {
		tc, ok := cases[note]
		if !assert.True(t, ok, "note %s has a case here", note) {
			continue
		}
		tc.a.Note = note
		assert.Equal(t, tc.want, handlers.AuditWhy(tc.a), string(note))
	}
	assert.Len(t, cases, len(engine.AuditNotes()))
	assert.Equal(t, "scaled by hand", handlers.AuditWhy(engine.AuditEntry{Reason: "scaled by hand"}), "a person's reason shows as given")
}

// An audit entry reads as one line, as engine.AuditEntry.String wrote it.
func TestAuditLinesAreWorded(t *testing.T) {
	at := time.Date(2026, 11, 24, 15, 0, 5, 0, time.FixedZone("EST", -5*3600))
	for _, tc := range []struct {
		a    engine.AuditEntry
		want string
	}{
		{engine.AuditEntry{At: at, RunID: "r1", Event: "run.started", User: "U01ALICE", Note: engine.NoteRunStarted, Origin: "prod2", Destination: "prod1"},
			"2026-11-24T20:00:05Z r1 run.started by U01ALICE: prod2 -> prod1"},
		// As an earlier version stored it: the engine's words in Reason.
		{engine.AuditEntry{At: at, RunID: "r1", Event: "run.started", User: "U01ALICE", Reason: "prod2 -> prod1"},
			"2026-11-24T20:00:05Z r1 run.started by U01ALICE: prod2 -> prod1"},
		{engine.AuditEntry{At: at, RunID: "r1", Step: 1, StepID: "preflight", Attempt: 1, Event: "step.running", From: "pending", To: "running", Note: engine.NoteAutoRun},
			"2026-11-24T20:00:05Z r1 step.running step 1 (preflight) attempt 1 pending -> running: read-only step runs without approval"},
		{engine.AuditEntry{At: at, RunID: "r1", Step: 1, StepID: "preflight", Attempt: 2, Event: "decision.override", User: "U02BOB", Check: "dns", Reason: "moved by hand"},
			"2026-11-24T20:00:05Z r1 decision.override step 1 (preflight) attempt 2 check dns by U02BOB: moved by hand"},
		{engine.AuditEntry{At: at, RunID: "r1", Event: "run.aborted", From: "active", To: "aborted", User: "U02BOB", Note: engine.NoteRollbackStopped, Reason: "enough"},
			"2026-11-24T20:00:05Z r1 run.aborted active -> aborted by U02BOB: rollback stopped: enough"},
		// A step's failure is logged as data (its log form) and read in words.
		{engine.AuditEntry{At: at, RunID: "r1", Step: 3, StepID: "dump-origin", Attempt: 1, Event: "step.failed", From: "running", To: "failed",
			Reason: report.Fail(report.SameCluster{Cluster: "prod1"}, nil).Error()},
			"2026-11-24T20:00:05Z r1 step.failed step 3 (dump-origin) attempt 1 running -> failed: origin and destination are both \"prod1\": name two different clusters"},
		{engine.AuditEntry{At: at, RunID: "r1", Event: "run.completed", From: "active", To: "completed"},
			"2026-11-24T20:00:05Z r1 run.completed active -> completed"},
	} {
		assert.Equal(t, tc.want, handlers.AuditText(tc.a))
	}
}
