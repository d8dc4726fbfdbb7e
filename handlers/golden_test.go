package handlers_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/bot/blockkit"
	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"

	"github.com/nycmeshnet/cutoverbot/handlers"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var t0 = time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)

func loadConfig(t *testing.T) *config.Config {
	cfg, _, err := config.Load("../ops/config/testdata/example.yaml", config.Options{Getenv: func(string) string { return "" }})
	require.NoError(t, err)
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
	describe := plan.Describe(cfg, r.Plan, r.Steps[8].Step)

	decided := r.Clone()
	decided.Decisions = append(decided.Decisions, engine.Decision{Step: 8, StepID: "restore-destination", Attempt: 1, User: "U03CAROL", Action: engine.Approve, At: now})
	decided.Steps[8].State = engine.Running

	failed := r.Clone()
	failed.Steps[8].State = engine.Failed
	failed.Steps[8].Error = "restore into prod1: sha256 in the pod 0bad… does not match the local 9f2c…; the file was removed and nothing was restored"

	succeeded := r.Clone()
	succeeded.Steps[8].State, succeeded.Steps[8].Started, succeeded.Steps[8].Ended = engine.Succeeded, now, now.Add(41*time.Second)
	succeeded.Steps[8].Output = engine.Output{Summary: "restored 13.2 MiB (sha256 9f2c1a0b3c4d, checked in the pod) into prod1; backup of the old data: 12.9 MiB, sha256 77aa01bb02cc"}

	diff := r.Clone()
	diff.Current = 11
	diff.Steps[11].State, diff.Steps[11].Attempt, diff.Steps[11].Started, diff.Steps[11].Ended = engine.Failed, 1, now, now.Add(3*time.Second)
	diff.Steps[11].Error = "the post snapshot differs from the prior one; approve with a reason (Skip) if that is expected"
	diff.Steps[11].Output = engine.Output{Summary: "nodes: 20,114 before, 20,114 after, 0 added, 0 removed, 2 changed\n• id 1234: status \"Active\" → \"Inactive\"\n• id 5678: name \"Grand\" → \"Grand St\""}

	ended := r.Clone()
	ended.State, ended.Ended = engine.Completed, now
	for i := range ended.Steps {
		ended.Steps[i].State = engine.Succeeded
	}

	p, err := plan.Build(cfg, "prod2", "prod1")
	require.NoError(t, err)
	cases := map[string]message.Message{
		"header":          handlers.Header(r, now),
		"prompt":          handlers.Prompt(r, 8, 2, describe),
		"decided":         handlers.Decided(decided, 8, 1, 1),
		"result":          handlers.Result(succeeded, 8),
		"failure":         handlers.Failure(failed, 8),
		"failure-decided": handlers.FailureDecided(failed, 8, 1, engine.Decision{User: "U03CAROL", Action: engine.Retry}),
		"diff-summary":    handlers.Failure(diff, 11),
		"progress":        handlers.Progress(r, 8, "copying 13.2 MiB into prod1 pod meshdb-postgres-5c6b7-klmno, then pg_restore"),
		"reminder":        handlers.Reminder(r, 8, "waiting for approval for 15m0s"),
		"status":          handlers.Status(r, 1, now),
		"status-none":     handlers.Status(nil, 1, now),
		"help":            handlers.Help(),
		"refusal":         handlers.Refusal("you started this run, so you cannot approve its steps; another maintainer must"),
		"plan":            handlers.PlanMessage(cfg, p),
		"history":         handlers.History([]*engine.Run{ended, r}, now),
		"history-run": handlers.RunDecisions(ended, []engine.AuditEntry{
			{At: t0, RunID: ended.ID, User: "U01ALICE", Event: "run.started"},
			{At: t0.Add(time.Minute), RunID: ended.ID, Step: 2, StepID: "scale-destination-celery", Attempt: 1, User: "U02BOB", Event: "decision.approve"},
			{At: t0.Add(2 * time.Minute), RunID: ended.ID, Step: 3, StepID: "maintenance-on-destination", Attempt: 1, User: "U02BOB", Event: "decision.retry"},
			{At: t0.Add(3 * time.Minute), RunID: ended.ID, Step: 3, StepID: "maintenance-on-destination", Attempt: 2, User: "U03CAROL", Event: "decision.skip", Reason: "flag set by hand"},
			{At: t0.Add(4 * time.Minute), RunID: ended.ID, Step: 4, StepID: "announce-start", Attempt: 1, User: "U02BOB", Event: "decision.abort", Reason: "wrong night"},
		}),
		"token-warning": handlers.TokenWarning([]handlers.ExpiringToken{
			{Cluster: "prod2", Expires: now.Add(6*24*time.Hour + 3*time.Hour)}, {Cluster: "prod1", Expires: now.Add(-time.Hour)}}, now),
		"ended": handlers.Ended(ended, now),
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			text, blocks := blockkit.Render(m)
			got, err := json.MarshalIndent(map[string]any{"text": text, "blocks": blocks}, "", "  ")
			require.NoError(t, err)
			path := filepath.Join("testdata", "golden", name+".json")
			if *update {
				require.NoError(t, os.WriteFile(path, append(got, '\n'), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./handlers -update to create %s", path)
			assert.JSONEq(t, string(want), string(got))
			assert.LessOrEqual(t, len(blocks), blockkit.MaxBlocks)
		})
	}
}

func TestPromptButtonsAreExactlyApproveAndReject(t *testing.T) {
	cfg := loadConfig(t)
	r := fixedRun(t, cfg)
	m := handlers.Prompt(r, 8, 1, nil)
	require.Len(t, m.Buttons, 2)
	assert.Equal(t, "Approve", m.Buttons[0].Label)
	assert.Equal(t, "Reject", m.Buttons[1].Label)
	id, step, attempt, err := handlers.ParseButtonValue(m.Buttons[0].Value)
	require.NoError(t, err)
	assert.Equal(t, r.ID, id)
	assert.Equal(t, 8, step)
	assert.Equal(t, 1, attempt)

	f := handlers.Failure(r, 8)
	var labels []string
	for _, b := range f.Buttons {
		labels = append(labels, b.Label)
	}
	assert.Equal(t, []string{"Retry", "Skip", "Abort"}, labels)
	assert.NotNil(t, f.Buttons[1].Confirm, "Skip asks for confirmation")
	assert.NotNil(t, f.Buttons[2].Confirm, "Abort asks for confirmation")

	for _, bad := range []string{"", "x", "r|a|1", "r|1|0", "|1|1", "r|-1|1"} {
		_, _, _, err := handlers.ParseButtonValue(bad)
		assert.Error(t, err, bad)
	}
}
