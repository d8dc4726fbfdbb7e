package handlers_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// TestHistoryOfOneRun: `/cutover history RUN` shows that run's decisions from the audit
// log (who, what, step and attempt, why), privately, and refuses an unknown run.
func TestHistoryOfOneRun(t *testing.T) {
	f := newFixture(t)
	f.cmd("U01ALICE", "start prod2 prod1")
	r := f.eng.Active()
	require.NotNil(t, r)
	top := f.poster.top()
	require.NotEmpty(t, top)
	assert.Contains(t, top[0].Msg.Context, "cutoverbot v9.9.9 (abcdef012345)", "the header's footer names the build")
	f.click(t, "U02BOB", "Approve")
	f.cmd("U03CAROL", "skip 3 celery already scaled down by hand")
	f.cmd("U02BOB", "abort wrong night <!channel>")
	require.NotNil(t, f.eng.Active())
	require.True(t, f.eng.Active().InRollback(), "the abort offers the rollback plan")

	f.cmd("U03CAROL", "history "+r.ID)
	got := f.poster.lastPrivate(t, "U03CAROL")
	decisions := regexp.MustCompile(`• \d{4}-[^\n]*`).FindAllString(got, -1)
	require.Len(t, decisions, 3, got)
	assert.Regexp(t, `^• \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: \*approved\* step 2 \(.+\) attempt 1 by <@U02BOB>$`, decisions[0])
	assert.Regexp(t, `\*skipped\* step 3 \(.+\) attempt 1 by <@U03CAROL>: celery already scaled down by hand$`, decisions[1])
	assert.Contains(t, decisions[2], "*aborted*")
	assert.Contains(t, decisions[2], "by <@U02BOB>: wrong night &lt;!channel&gt;", "a reason cannot mention @channel")
	assert.Contains(t, got, "Decisions of run `"+r.ID+"` (prod2 → prod1, started by <@U01ALICE>")

	f.cmd("U03CAROL", "history 20991231-0000-none")
	assert.Contains(t, f.poster.lastPrivate(t, "U03CAROL"), "there is no run `20991231-0000-none`")
	f.cmd("U03CAROL", "history a b")
	assert.Contains(t, f.poster.lastPrivate(t, "U03CAROL"), "usage: `/cutover history` or `/cutover history RUN`")
	f.cmd("U03CAROL", "history")
	assert.Contains(t, f.poster.lastPrivate(t, "U03CAROL"), r.ID, "the list names the run")
}

func TestRunDecisionsSplitsLongLogs(t *testing.T) {
	r := &engine.Run{ID: "20261124-2000-ab12", Origin: "prod2", Destination: "prod1", Initiator: "U01ALICE", Created: t0, State: engine.Completed}
	var audit []engine.AuditEntry
	for i := range 60 {
		audit = append(audit, engine.AuditEntry{At: t0.Add(time.Duration(i) * time.Minute), RunID: r.ID, Step: i%18 + 1, StepID: "s", Attempt: 1,
			User: "U02BOB", Event: "decision.approve", Reason: strings.Repeat("r", 40)})
		audit = append(audit, engine.AuditEntry{At: t0, RunID: r.ID, Step: i%18 + 1, Event: "step.running"})
	}
	m := handlers.RunDecisions(r, audit)
	total := 0
	for _, s := range m.Sections[1:] {
		assert.LessOrEqual(t, len(s), 3000, "Slack's limit per text block")
		total += strings.Count(s, "• ")
	}
	assert.Equal(t, 60, total, "every decision, none of the transitions")
	assert.Greater(t, len(m.Sections), 2)
}
