package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
	"github.com/nycmeshnet/cutoverbot/ops/store"
	"github.com/nycmeshnet/cutoverbot/sandbox"
	"github.com/nycmeshnet/cutoverbot/server"
)

// A pg_restore started through pods/exec outlives the bot that started it (DESIGN.md
// §9): these tests SIGKILL the bot while pg_restore is part-way, after it has dropped
// the destination's tables, and check what the next decision does with the process
// still running.

// lockHolder is a session of the test's own that holds a lock in a cluster's database
// until released.
type lockHolder struct {
	in   *io.PipeWriter
	done chan struct{}
	once sync.Once
}

// holdLock takes ACCESS SHARE on relation in c's database (a SELECT from it), in a
// transaction left open: pg_restore -c blocks on its DROP, after the drops before it.
func holdLock(t *testing.T, c *sandbox.Cluster, relation string) *lockHolder {
	t.Helper()
	r, wr := io.Pipe()
	h := &lockHolder{in: wr, done: make(chan struct{})}
	var out lockedWriter
	go func() {
		defer close(h.done)
		_, _ = c.PG.Run(context.Background(), []string{"psql", "-U", "postgres", "-d", sandbox.DBName, "-X", "-q", "-v", "ON_ERROR_STOP=1"}, r, &out, &out)
	}()
	_, err := fmt.Fprintf(wr, "BEGIN; SELECT count(*) FROM %s; SELECT 'locked';\n", relation)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "locked") }, 30*time.Second, 20*time.Millisecond, "the lock: %s", out.String())
	t.Cleanup(h.release)
	return h
}

func (h *lockHolder) release() {
	h.once.Do(func() {
		_, _ = io.WriteString(h.in, "ROLLBACK;\n")
		_ = h.in.Close()
		<-h.done
	})
}

type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedWriter) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// restoreSessions lists the application names of the sessions of restore attempts in
// c's database, and what each waits for.
func restoreSessions(t *testing.T, c *sandbox.Cluster) map[string]string {
	t.Helper()
	out, err := c.PG.SQL(context.Background(), sandbox.DBName,
		"SELECT application_name || '|' || coalesce(wait_event_type, '') FROM pg_stat_activity WHERE application_name LIKE 'cutoverbot/%/restore-destination/%'")
	require.NoError(t, err)
	m := map[string]string{}
	for _, line := range strings.Fields(out) {
		app, wait, _ := strings.Cut(line, "|")
		m[app] = wait
	}
	return m
}

// overlapSampler samples c's sessions until stopped and remembers the most restore
// attempts seen at once: more than one means two pg_restore overlapped.
type overlapSampler struct {
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	most    int
	samples int
	seen    map[string]bool
}

func sampleOverlap(t *testing.T, c *sandbox.Cluster) *overlapSampler {
	s := &overlapSampler{stop: make(chan struct{}), done: make(chan struct{}), seen: map[string]bool{}}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			out, err := c.PG.SQL(context.Background(), sandbox.DBName,
				"SELECT DISTINCT application_name FROM pg_stat_activity WHERE application_name LIKE 'cutoverbot/%/restore-destination/%'")
			if err != nil {
				continue
			}
			apps := strings.Fields(out)
			s.mu.Lock()
			s.samples++
			s.most = max(s.most, len(apps))
			for _, a := range apps {
				s.seen[a] = true
			}
			s.mu.Unlock()
		}
	}()
	t.Cleanup(s.end)
	return s
}

func (s *overlapSampler) end() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

// overlaps is how many restore attempts ran beside another at the worst moment.
func (s *overlapSampler) overlaps() int {
	s.end()
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(0, s.most-1)
}

// toHeldRestore approves steps 2 to 8 of the cluster plan and returns when the first
// pg_restore waits on the test's lock on flags_flagstate_id_seq, which it drops after
// every other table (constraints and defaults go first, then the tables and their
// sequences in reverse order of name).
func (w *world) toHeldRestore(t *testing.T) *lockHolder {
	t.Helper()
	w.command(alice, "start prod2 prod1")
	w.waitFor("the run header", func() bool { return w.header().TS != "" })
	var lock *lockHolder
	for step := 2; step <= 8; step++ {
		if step == 8 {
			lock = holdLock(t, w.dest, "flags_flagstate_id_seq")
		}
		w.click(bob, "Approve")
		if step < 8 {
			done := "✅ " + strconv.Itoa(step) + "."
			w.waitFor(done, func() bool { return strings.Contains(w.headerText(), done) })
		}
	}
	w.waitFor("pg_restore to wait on the lock after dropping tables", func() bool {
		for app, wait := range restoreSessions(t, w.dest) {
			if strings.HasSuffix(app, "/1") && wait == "Lock" {
				return true
			}
		}
		return false
	})
	gone, err := w.dest.PG.SQL(context.Background(), sandbox.DBName, "SELECT to_regclass('public.meshapi_install') IS NULL")
	require.NoError(t, err)
	require.Equal(t, "t", strings.TrimSpace(gone), "pg_restore had dropped meshapi_install when it blocked")
	return lock
}

// firstAttemptRunning says whether attempt 1's pg_restore still has its session.
func firstAttemptRunning(t *testing.T, c *sandbox.Cluster) bool {
	for app := range restoreSessions(t, c) {
		if strings.HasSuffix(app, "/restore-destination/1") {
			return true
		}
	}
	return false
}

// TestReliabilityKilledMidRestoreRetryStopsTheLeftover: the bot is SIGKILLed while
// pg_restore, having dropped the destination's tables, waits on a lock; the process
// goes on running. After the restart the step is interrupted; Retry first stops the
// leftover (and says so), then restores; no two pg_restore ever run at once, and the
// destination ends equal to the origin.
func TestReliabilityKilledMidRestoreRetryStopsTheLeftover(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 900})
	w.startProcess()
	overlap := sampleOverlap(t, w.dest)
	lock := w.toHeldRestore(t)
	w.kill9()
	w.startProcess()
	w.waitFor("the restore shown interrupted", func() bool { return strings.Contains(w.headerText(), "⚠️ 8.") })
	w.waitFor("Retry", func() bool { _, _, ok := w.button("Retry"); return ok })
	require.True(t, firstAttemptRunning(t, w.dest), "still running when the bot is back")

	w.click(carol, "Retry")
	w.waitFor("the leftover to be stopped", func() bool { return !firstAttemptRunning(t, w.dest) })
	lock.release()
	w.waitFor("the restore to succeed", func() bool { return strings.Contains(w.headerText(), "✅ 8.") })
	w.approveAll(bob, "(completed)")
	lost := w.rowsLost()
	w.stopProcess()

	run, audit := w.finalRun()
	restore := run.Steps[7]
	assert.Contains(t, handlers.OutputText(restore.Output), "stopped what earlier attempts left running", handlers.OutputText(restore.Output))
	assert.Contains(t, handlers.OutputText(restore.Output), "kept from an earlier attempt", "the backup taken before attempt 1 is kept: %s", handlers.OutputText(restore.Output))
	assert.Equal(t, 2, restore.Attempt)
	overlaps := overlap.overlaps()
	assert.Zero(t, overlaps, "no two pg_restore ran at once")
	assert.GreaterOrEqual(t, overlap.samples, 10)
	assert.True(t, overlap.seen[pg.Tag{Run: run.ID, Step: "restore-destination", Attempt: 2}.AppName()], "the sampler saw attempt 2 too: %v", overlap.seen)
	requireDecisions(t, audit, len(clusterPlan())-1, 1)
	record(t, suiteRow{Scenario: "SIGKILL mid-restore after the drop, Retry", Faults: "bot killed while pg_restore waited on a lock; pg_restore left running",
		Runs: completed(run), RunTwice: stepsRunTwice(run, audit), RowsLost: lost, Overlaps: overlaps, Decisions: decisions(audit)})
}

// killedMidRestoreThenAbort kills the bot (or the leader) mid-restore as above, then
// aborts: the rollback's undo stops the leftover and restores the backup taken
// before the run changed the destination, which ends equal to what it was.
func killedMidRestoreThenAbort(t *testing.T, twoReplicas bool) {
	var h *home
	o := worldOptions{installs: 900}
	if twoReplicas {
		h = startHome(t, t.TempDir())
		o.mutate = h.haConfig
	}
	w := newWorld(t, o)
	before := w.destRows(t)
	var a, b *replica
	if twoReplicas {
		a = w.startReplica("a")
		w.waitFor("replica a to lead", w.slack.Connected)
		b = w.startReplica("b")
		w.waitFor("replica b to stand by", func() bool { _, body := b.get("/readyz"); return strings.Contains(body, "standby") })
	} else {
		w.startProcess()
	}
	overlap := sampleOverlap(t, w.dest)
	lock := w.toHeldRestore(t)
	if twoReplicas {
		a.kill9(t)
		// Its volume, and the spool with the backup, went with it.
		require.NoError(t, os.RemoveAll(filepath.Join(w.dir, "replica-a")))
		w.waitFor("replica b to take over", func() bool { return strings.HasPrefix(h.leaseHolder(t), "replica-b_") && w.slack.Connected() })
	} else {
		w.kill9()
		w.startProcess()
	}
	w.waitFor("the restore shown interrupted", func() bool { return strings.Contains(w.headerText(), "⚠️ 8.") })
	require.True(t, firstAttemptRunning(t, w.dest), "pg_restore outlives the bot that started it")

	w.command(carol, "abort the restore was cut")
	w.waitFor("the rollback plan", func() bool { return strings.Contains(w.headerText(), "Rollback") })
	w.click(bob, "Approve") // the undo of the restore comes first
	w.waitFor("the leftover to be stopped", func() bool { return !firstAttemptRunning(t, w.dest) })
	lock.release()
	w.approveAll(bob, "(rolled back)")
	after := w.destRows(t)
	differ := multisetDiff(before, after)

	var run *engine.Run
	var audit []engine.AuditEntry
	if twoReplicas {
		st := h.store(t)
		runs, err := st.List(context.Background(), 1)
		require.NoError(t, err)
		run = runs[0]
		audit, err = st.Audit(context.Background(), run.ID)
		require.NoError(t, err)
	} else {
		w.stopProcess()
		run, audit = w.finalRun()
	}
	assert.Equal(t, engine.RolledBack, run.State)
	var undo *engine.StepRun
	for i := range run.Steps {
		if run.Steps[i].Rollback && run.Steps[i].Step.Kind == "restore" {
			undo = &run.Steps[i]
		}
	}
	require.NotNil(t, undo)
	assert.Contains(t, handlers.OutputText(undo.Output), "stopped what earlier attempts left running", handlers.OutputText(undo.Output))
	if twoReplicas {
		assert.Contains(t, handlers.OutputText(undo.Output), "postgres volume", "the follower restored the copy kept on the pod's volume: %s", handlers.OutputText(undo.Output))
	}
	overlaps := overlap.overlaps()
	assert.Zero(t, overlaps)
	assert.Zero(t, differ, "the destination is back to what it was before the run")
	scenario, faults := "SIGKILL mid-restore after the drop, Abort", "bot killed while pg_restore waited on a lock; undo"
	if twoReplicas {
		scenario, faults = "two replicas, leader SIGKILLed mid-restore, Abort", "leader killed with the backup in its spool; follower's undo used the pod's copy"
	}
	record(t, suiteRow{Scenario: scenario, Faults: faults, Runs: 0, RunTwice: stepsRunTwice(run, audit), RowsLost: differ, Overlaps: overlaps,
		UndoEqual: "yes", Decisions: decisions(audit)})
}

func TestReliabilityKilledMidRestoreThenAbortRestoresTheDestination(t *testing.T) {
	killedMidRestoreThenAbort(t, false)
}

func TestReliabilityTwoReplicasKilledMidRestoreThenAbort(t *testing.T) {
	killedMidRestoreThenAbort(t, true)
}

// TestReliabilityRetryWithoutTheBackupIsRefused: killed mid-restore, and the backup
// taken before the restore is gone from both places; the retry stops the leftover
// but refuses to go on, and never backs up the half-restored destination as the data
// before the run.
func TestReliabilityRetryWithoutTheBackupIsRefused(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 600})
	w.startProcess()
	lock := w.toHeldRestore(t)
	w.kill9()
	st, err := store.Open(w.cfg.State.Dir)
	require.NoError(t, err)
	run, err := st.Active(context.Background())
	require.NoError(t, err)
	require.NoError(t, st.Close())
	rec, err := engine.Decode[steps.RestoreResult](run.Steps[7].Output)
	require.NoError(t, err, "the backup was recorded before pg_restore started")
	require.NotEmpty(t, rec.Backup.File.Path)
	require.NoError(t, os.Remove(rec.Backup.File.Path))
	require.NotNil(t, rec.Backup.InPod)
	require.NoError(t, os.Remove(rec.Backup.InPod.Path))
	spool := filepath.Dir(rec.Backup.File.Path)
	beforeFiles, err := os.ReadDir(spool)
	require.NoError(t, err)

	w.startProcess()
	w.waitFor("Retry", func() bool { _, _, ok := w.button("Retry"); return ok })
	w.click(carol, "Retry")
	w.waitFor("the leftover to be stopped", func() bool { return !firstAttemptRunning(t, w.dest) })
	lock.release()
	w.waitFor("the retry refused", func() bool { return strings.Contains(w.headerText(), "❌ 8.") })
	afterFiles, err := os.ReadDir(spool)
	require.NoError(t, err)
	assert.Equal(t, len(beforeFiles), len(afterFiles), "no new backup was taken of the half-restored destination")
	w.stopProcess()
	final, audit := w.finalRun()
	restore := final.Steps[7]
	assert.Equal(t, engine.Failed, restore.State)
	require.NotNil(t, restore.Failure, "the failure is stored as data")
	assert.Equal(t, "failed_backup_lost", restore.Failure.Kind)
	require.NotNil(t, restore.Failure.Then)
	assert.Equal(t, "failed_backup_not_found", restore.Failure.Then.Kind)
	said := handlers.StepErrorText(restore)
	assert.Contains(t, said, "cannot be found")
	assert.Contains(t, said, "will not back it up again")
	assert.Contains(t, said, "nothing was run")
	assert.Equal(t, rec.Backup.File.SHA256, mustDecode(t, restore.Output).Backup.File.SHA256, "the record of the backup is kept")
	record(t, suiteRow{Scenario: "retry without a findable backup", Faults: "bot killed mid-restore; backup removed from the spool and the pod",
		Runs: 0, RunTwice: stepsRunTwice(final, audit), Refused: true, Decisions: decisions(audit)})
}

// destRows is the destination's data (see rowsOf).
func (w *world) destRows(t *testing.T) map[string]map[string]int64 { return rowsOf(t, w.dest) }

func mustDecode(t *testing.T, o engine.Output) steps.RestoreResult {
	t.Helper()
	r, err := engine.Decode[steps.RestoreResult](o)
	require.NoError(t, err)
	return r
}

// TestReliabilityKilledMidScaleKeepsTheReplicaCount: the bot dies after scaling the
// destination's celery to 0 and before the step's result (celery's pod takes its time
// to stop). The retry finds 0 replicas; the run must still bring celery back to the
// count it had before the run, recorded before the first scale.
func TestReliabilityKilledMidScaleKeepsTheReplicaCount(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 300})
	w.startProcess()
	w.command(alice, "start prod2 prod1")
	w.waitFor("the run header", func() bool { return w.header().TS != "" })
	w.dest.Kube.SetScaleDelay(time.Hour) // the celery pod does not stop
	w.click(bob, "Approve")              // step 2: scale the destination's celery to 0
	w.waitFor("spec.replicas 0", func() bool {
		return w.dest.Kube.SpecReplicas("statefulset", sandbox.Namespace, sandbox.CeleryStatefulSet) == 0
	})
	w.kill9()
	w.dest.Kube.SetScaleDelay(50 * time.Millisecond)
	w.startProcess()
	w.waitFor("the scale shown interrupted", func() bool { return strings.Contains(w.headerText(), "⚠️ 2.") })
	w.click(carol, "Retry")
	w.waitFor("the scale to succeed", func() bool { return strings.Contains(w.headerText(), "✅ 2.") })
	w.approveAll(bob, "(completed)")
	lost := w.rowsLost()
	w.stopProcess()
	run, audit := w.finalRun()
	assert.Equal(t, int32(1), w.dest.Kube.SpecReplicas("statefulset", sandbox.Namespace, sandbox.CeleryStatefulSet),
		"celery is back at the count it had before the run, not at the 0 the retry found")
	assert.Contains(t, handlers.OutputText(run.Steps[1].Output), "count before the run: 1, kept from an earlier attempt")
	requireDecisions(t, audit, len(clusterPlan())-1, 1)
	record(t, suiteRow{Scenario: "SIGKILL mid-scale, Retry", Faults: "bot killed while celery scaled to 0 had not stopped; the retry found 0",
		Runs: completed(run), RunTwice: stepsRunTwice(run, audit), RowsLost: lost, Decisions: decisions(audit)})
}

// TestShutdownStopsWhatTheStepStarted: the bot is shut down (SIGTERM) while pg_restore
// waits on a lock after dropping tables, and the drain runs out: before it exits it
// stops the pg_restore it started, which would otherwise run on in the pod.
func TestShutdownStopsWhatTheStepStarted(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 600})
	w.startBotWith(nil, func(o *server.Options) { o.DrainTimeout = time.Second })
	lock := w.toHeldRestore(t)
	require.True(t, firstAttemptRunning(t, w.dest))
	w.stopBot() // returns once the bot has let go
	assert.False(t, firstAttemptRunning(t, w.dest), "the bot stopped its pg_restore before it exited")
	lock.release()
	st, err := store.Open(w.cfg.State.Dir)
	require.NoError(t, err)
	defer st.Close()
	run, err := st.Active(context.Background())
	require.NoError(t, err)
	restore := run.Steps[7]
	assert.Equal(t, engine.Interrupted, restore.State)
	assert.Contains(t, handlers.DetailsText(restore.Output), "stopped process", "what it stopped is in the step's details: %s", handlers.DetailsText(restore.Output))
	require.NotNil(t, restore.Output.Own, "what it stopped is data")
	assert.NotEmpty(t, restore.Output.Own.Stopped)
}
