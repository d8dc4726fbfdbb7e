package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// TestE2EKilledWhileWaitingResumes kills the bot process (SIGKILL) while a prompt
// waits; after a restart the same prompt's Approve works and the run completes.
func TestE2EKilledWhileWaitingResumes(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 600})
	w.startProcess()
	w.command(alice, "start prod2 prod1")
	w.waitFor("the run header", func() bool { return w.header().TS != "" })
	w.click(bob, "Approve")
	w.waitFor("step 3's prompt", func() bool { return strings.Contains(w.headerText(), "⏳ 3.") })
	var prompt string
	w.waitFor("step 3's prompt", func() bool {
		var ok bool
		prompt, _, ok = w.button("Approve")
		return ok
	})
	// The bot stores the prompt's timestamp, then edits the header: once an edit follows
	// the prompt's post, the prompt is on record.
	w.promptStored()

	w.kill9()
	w.startProcess()
	// The same message, re-rendered in place, still works.
	var again string
	w.waitFor("the prompt after the restart", func() bool {
		var ok bool
		again, _, ok = w.button("Approve")
		return ok
	})
	assert.Equal(t, prompt, again, "the pending prompt is found again, not posted twice")
	w.approveAll(bob, "(completed)")
	w.requireSameData()
	w.stopProcess()

	run, _ := w.finalRun()
	assert.Equal(t, engine.Completed, run.State)
	for _, s := range run.Steps {
		assert.Equal(t, 1, s.Executions, "%s ran once", s.Step.ID)
	}
}

// TestE2EKilledWhileRunningNeedsARetry kills the bot in the middle of the restore; after
// a restart the step is shown interrupted and runs again only after Retry.
func TestE2EKilledWhileRunningNeedsARetry(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 600})
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	w.dest.SetExecHook(func(ctx context.Context, container string, argv []string) error {
		if len(argv) > 0 && argv[0] == "pg_restore" {
			once.Do(func() {
				close(entered)
				select {
				case <-release:
				case <-ctx.Done():
				}
			})
		}
		return nil
	})
	w.startProcess()
	w.command(alice, "start prod2 prod1")
	w.waitFor("the run header", func() bool { return w.header().TS != "" })
	for i := 0; i < 7; i++ {
		w.click(bob, "Approve")
		if i < 6 {
			want := "✅ " + string(rune('2'+i)) + "."
			w.waitFor(want, func() bool { return strings.Contains(w.headerText(), want) })
		}
	}
	<-entered // pg_restore is running in the destination pod
	w.kill9()
	close(release)
	w.startProcess()
	w.waitFor("the step shown interrupted", func() bool { return strings.Contains(w.headerText(), "⚠️ 8.") })
	w.waitFor("an interrupted step to offer Retry", func() bool { _, _, ok := w.button("Retry"); return ok })
	_, _, hasApprove := w.button("Approve")
	assert.False(t, hasApprove, "and nothing runs on its own")

	w.click(carol, "Retry")
	w.waitFor("the restore to run again and succeed", func() bool { return strings.Contains(w.headerText(), "✅ 8.") })
	w.approveAll(bob, "(completed)")
	w.requireSameData()
	w.stopProcess()

	run, audit := w.finalRun()
	assert.Equal(t, engine.Completed, run.State)
	restore := run.Steps[7]
	require.Equal(t, "restore-destination", restore.Step.ID)
	assert.Equal(t, 2, restore.Executions, "once before the kill, once after the Retry")
	assert.Equal(t, 2, restore.Attempt)
	retries := 0
	for _, a := range audit {
		if a.Event == "decision.retry" && a.StepID == "restore-destination" {
			retries++
			assert.Equal(t, carol, a.User)
		}
	}
	assert.Equal(t, 1, retries)
	for _, s := range run.Steps {
		if s.Step.ID != "restore-destination" {
			assert.Equal(t, 1, s.Executions, "%s ran once", s.Step.ID)
		}
	}
}
