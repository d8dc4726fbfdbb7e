package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/bot/slackfake"
	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/sandbox"
)

// The reliability suite: each scenario injects faults into a whole cutover and ends with
// "nothing lost". Its rows are printed as one table when the package's tests end.
type suiteRow struct {
	Scenario string
	Faults   string
	Runs     int   // runs that reached completed
	RunTwice int   // steps that ran again without a fresh decision (must be 0)
	RowsLost int64 // rows that differ from what the destination must hold (must be 0)
	Overlaps int   // restores that ran beside another one into the same database (must be 0)
	// UndoEqual is "yes" when a rollback's undo brought the destination back to its
	// rows before the run; empty when the scenario has no undo.
	UndoEqual string
	Refused   bool // the scenario ends in a refusal, on purpose
	Decisions int  // decisions in the audit log
}

var suite struct {
	mu   sync.Mutex
	rows []suiteRow
}

func record(t *testing.T, r suiteRow) {
	t.Helper()
	assert.Zero(t, r.RunTwice, "%s: a step ran twice without a fresh approval", r.Scenario)
	assert.Zero(t, r.RowsLost, "%s: rows lost", r.Scenario)
	assert.Zero(t, r.Overlaps, "%s: restores overlapped", r.Scenario)
	suite.mu.Lock()
	defer suite.mu.Unlock()
	suite.rows = append(suite.rows, r)
}

// printSuite writes the table (TestMain calls it after the tests).
func printSuite() {
	suite.mu.Lock()
	defer suite.mu.Unlock()
	if len(suite.rows) == 0 {
		return
	}
	ws, wf := len("scenario"), len("faults injected")
	for _, r := range suite.rows {
		ws, wf = max(ws, len([]rune(r.Scenario))), max(wf, len([]rune(r.Faults)))
	}
	fmt.Println("\nreliability suite (rows lost: rows that differ from what the destination must hold; overlaps: restores run beside another)")
	fmt.Printf("| %-*s | %-*s | %4s | %11s | %9s | %8s | %7s | %9s |\n", ws, "scenario", wf, "faults injected", "runs", "steps twice", "rows lost", "overlaps", "undo ok", "decisions")
	fmt.Printf("|%s|%s|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", ws+2), strings.Repeat("-", wf+2), strings.Repeat("-", 6), strings.Repeat("-", 13), strings.Repeat("-", 11),
		strings.Repeat("-", 10), strings.Repeat("-", 9), strings.Repeat("-", 11))
	for _, r := range suite.rows {
		undo, runs := r.UndoEqual, strconv.Itoa(r.Runs)
		if undo == "" {
			undo = "-"
		}
		if r.Refused {
			runs = "refused"
		}
		fmt.Printf("| %-*s | %-*s | %4s | %11d | %9d | %8d | %7s | %9d |\n", ws, r.Scenario, wf, r.Faults, runs, r.RunTwice, r.RowsLost, r.Overlaps, undo, r.Decisions)
	}
	fmt.Println()
}

// stepsRunTwice counts steps executed more often than their decisions allow: once,
// plus once per Retry decided on that step.
func stepsRunTwice(run *engine.Run, audit []engine.AuditEntry) int {
	retries := map[string]int{}
	for _, a := range audit {
		if a.Event == "decision.retry" {
			retries[a.StepID]++
		}
	}
	n := 0
	for _, s := range run.Steps {
		if s.Executions > 1+retries[s.Step.ID] {
			n++
		}
	}
	return n
}

// rowsLost is how many rows differ between the origin and the destination: rows of
// the origin the destination lacks or holds changed, and rows only the destination has
// (flags_flagstate apart: by design the origin stays in maintenance).
func (w *world) rowsLost() int64 {
	w.t.Helper()
	_, lost := w.compareData()
	return lost
}

// compareData compares both databases outside the bot, row by row: it returns the
// origin's rows and how many rows differ (see rowsLost).
func (w *world) compareData() (rows, differ int64) {
	w.t.Helper()
	a, b := rowsOf(w.t, w.origin), rowsOf(w.t, w.dest)
	for _, hashes := range a {
		for _, n := range hashes {
			rows += n
		}
	}
	return rows, multisetDiff(a, b)
}

var excludedFromComparison = []string{"flags_flagstate"}

// rowsOf is c's data as, table by table, the multiset of its rows (each as the md5 of
// its text form).
func rowsOf(t *testing.T, c *sandbox.Cluster) map[string]map[string]int64 {
	t.Helper()
	db := pg.DB{Name: sandbox.DBName, User: sandbox.DBUser, ExcludeTables: excludedFromComparison}
	fps, err := pg.Fingerprints(context.Background(), c.Execer(), db)
	require.NoError(t, err)
	m := map[string]map[string]int64{}
	for _, f := range fps {
		m[f.Table] = rowHashes(t, c, f.Table)
	}
	return m
}

// multisetDiff counts the rows one side has and the other lacks, table by table.
func multisetDiff(a, b map[string]map[string]int64) int64 {
	var n int64
	tables := map[string]bool{}
	for t := range a {
		tables[t] = true
	}
	for t := range b {
		tables[t] = true
	}
	for t := range tables {
		for h, c := range a[t] {
			n += max(0, c-b[t][h])
		}
		for h, c := range b[t] {
			n += max(0, c-a[t][h])
		}
	}
	return n
}

// rowHashes is the multiset of a table's rows (none when the table is missing).
func rowHashes(t *testing.T, c *sandbox.Cluster, table string) map[string]int64 {
	t.Helper()
	out, err := c.PG.SQL(context.Background(), sandbox.DBName,
		fmt.Sprintf("SELECT md5(x::text) FROM %s x", pgIdent(table)))
	if err != nil && strings.Contains(err.Error(), "does not exist") {
		return nil
	}
	require.NoError(t, err)
	m := map[string]int64{}
	for _, h := range strings.Fields(out) {
		m[h]++
	}
	return m
}

// pgIdent quotes a (schema-qualified) table name.
func pgIdent(table string) string {
	parts := strings.Split(table, ".")
	for i, p := range parts {
		parts[i] = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
	}
	return strings.Join(parts, ".")
}

// requireDecisions checks the audit log holds exactly the decisions the test made:
// approvals clicked, and Retries (a Retry by a maintainer other than the initiator is
// also recorded as that attempt's approval). Redelivered or doubled clicks add none.
func requireDecisions(t *testing.T, audit []engine.AuditEntry, approvals, retries int) {
	t.Helper()
	got := map[string]int{}
	for _, a := range audit {
		if strings.HasPrefix(a.Event, "decision.") {
			got[a.Event]++
		}
	}
	assert.Equal(t, dropZero(map[string]int{"decision.approve": approvals + retries, "decision.retry": retries}), got, "the audit log holds every decision, once")
}

func dropZero(m map[string]int) map[string]int {
	for k, v := range m {
		if v == 0 {
			delete(m, k)
		}
	}
	return m
}

func decisions(audit []engine.AuditEntry) int {
	n := 0
	for _, a := range audit {
		if strings.HasPrefix(a.Event, "decision.") {
			n++
		}
	}
	return n
}

// scanSecrets checks every Slack payload, the bot's logs and the raw store for the
// tokens.
func (w *world) scanSecrets(logText string) {
	w.t.Helper()
	for _, s := range w.slack.Seen() {
		assertNoSecret(w.t, s)
	}
	assertNoSecret(w.t, logText)
	raw, err := os.ReadFile(filepath.Join(w.cfg.State.Dir, "cutoverbot.db"))
	if err == nil {
		assertNoSecret(w.t, string(raw))
	}
}

// promptStored waits until the bot has recorded the newest prompt (an edit of the
// header follows the prompt's post).
func (w *world) promptStored() {
	w.t.Helper()
	w.waitFor("the header edit after the prompt", func() bool {
		lastPost, lastUpdate := -1, -1
		for i, c := range w.slack.Calls() {
			switch c.Method {
			case "chat.postMessage":
				lastPost = i
			case "chat.update":
				lastUpdate = i
			}
		}
		return lastUpdate > lastPost
	})
}

// holdFirst makes the first command named argv0 in c hang until its stream is cut (the
// bot dies) and returns a channel closed when it started.
func holdFirst(c *sandbox.Cluster, argv0 string) <-chan struct{} {
	entered := make(chan struct{})
	var once sync.Once
	c.SetExecHook(func(ctx context.Context, container string, argv []string) error {
		if len(argv) == 0 || argv[0] != argv0 {
			return nil
		}
		first := false
		once.Do(func() { first = true; close(entered) })
		if first {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	return entered
}

// TestReliabilityKilledAtEveryStepBoundary SIGKILLs the bot process while each step's
// prompt waits, and in the middle of the dump and of the restore; every restart picks
// up where the run was, and only a Retry runs a cut step again.
func TestReliabilityKilledAtEveryStepBoundary(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 600, traffic: true})
	p, err := plan.Build(w.cfg, "prod2", "prod1")
	require.NoError(t, err)
	w.startProcess()
	w.command(alice, "start prod2 prod1")
	w.waitFor("the run header", func() bool { return w.header().TS != "" })
	kills := 0
	steps := len(p.Steps)
	for step := 2; step <= steps; step++ {
		waiting := "⏳ " + strconv.Itoa(step) + "."
		w.waitFor("step "+strconv.Itoa(step)+"'s prompt", func() bool {
			_, _, ok := w.button("Approve")
			return ok && strings.Contains(w.headerText(), waiting)
		})
		w.promptStored()
		w.kill9()
		kills++
		w.startProcess()

		var entered <-chan struct{}
		switch p.Steps[step-1].Kind {
		case plan.KindDump:
			entered = holdFirst(w.origin, "pg_dump")
		case plan.KindRestore:
			entered = holdFirst(w.dest, "pg_restore")
		}
		w.click(bob, "Approve")
		done := "✅ " + strconv.Itoa(step) + "."
		if entered != nil {
			<-entered
			w.kill9()
			kills++
			w.startProcess()
			w.waitFor("the cut step shown interrupted", func() bool { return strings.Contains(w.headerText(), "⚠️ "+strconv.Itoa(step)+".") })
			w.origin.SetExecHook(nil)
			w.dest.SetExecHook(nil)
			w.click(carol, "Retry")
		}
		w.waitFor(done, func() bool {
			return strings.Contains(w.headerText(), done) || strings.Contains(w.state(), "(completed)")
		})
	}
	w.waitFor("the end", func() bool { return strings.Contains(w.state(), "(completed)") })
	lost := w.rowsLost()
	w.stopProcess()
	run, audit := w.finalRun()
	assert.Equal(t, engine.Completed, run.State)
	logText, _ := os.ReadFile(filepath.Join(w.dir, "bot-process.log"))
	w.scanSecrets(string(logText))
	requireDecisions(t, audit, steps-1, 2)
	record(t, suiteRow{Scenario: "SIGKILL at every step boundary (18 steps), mid-dump, mid-restore",
		Faults: fmt.Sprintf("%d kills (%d at boundaries, 1 in pg_dump, 1 in pg_restore)", kills, kills-2),
		Runs:   completed(run), RunTwice: stepsRunTwice(run, audit), RowsLost: lost, Decisions: decisions(audit)})
}

func completed(r *engine.Run) int {
	if r.State == engine.Completed {
		return 1
	}
	return 0
}

// TestReliabilitySlackFaults: the Socket Mode connection drops mid-run, envelopes are
// delivered twice, posts and edits are rate limited with Retry-After, uploads fail with
// 5xx at first.
func TestReliabilitySlackFaults(t *testing.T) {
	// A runbook revision with a check after the verify step whose output is long
	// enough to go up as a file (the newest installs on the destination).
	w := newWorld(t, worldOptions{installs: 600, mutate: func(c *config.Config) {
		check := config.StepSpec{Kind: "exec", ID: "list-installs", Cluster: "destination", Target: "postgres",
			Argv: []string{"psql", "-d", "meshdb", "-U", "meshdb", "-X", "-At", "-c", "SELECT install_number, status FROM meshapi_install ORDER BY install_number DESC LIMIT 200"}}
		c.Plan = append(c.Plan[:9:9], append([]config.StepSpec{check}, c.Plan[9:]...)...)
	}})
	var log logs
	w.startBot(&log)
	w.slack.RateLimitNext("chat.postMessage", 2, time.Second)
	w.command(alice, "start prod2 prod1")
	w.waitFor("the run header", func() bool { return w.header().TS != "" })

	faults := []string{"2x 429 on chat.postMessage"}
	redelivered := 0
	for step := 2; step <= len(clusterPlan())+1; step++ {
		switch step {
		case 3:
			w.slack.RateLimitNext("chat.update", 3, time.Second)
			faults = append(faults, "3x 429 on chat.update")
		case 5:
			w.slack.DropConnection()
			w.waitFor("the reconnection", w.slack.Connected)
			faults = append(faults, "connection dropped")
		case 10:
			w.slack.FailNext("chat.postMessage", 2, http.StatusServiceUnavailable)
			w.slack.FailNext("files.getUploadURLExternal", 2, http.StatusBadGateway)
			faults = append(faults, "2x 503 on chat.postMessage, 2x 502 on the upload")
		}
		var ts, action string
		w.waitFor("the next prompt", func() bool {
			var ok bool
			ts, action, ok = w.button("Approve")
			return ok && strings.Contains(w.headerText(), "⏳ "+strconv.Itoa(step)+".")
		})
		id, err := w.slack.Click(bob, channel, ts, action)
		require.NoError(t, err)
		if step%3 == 0 {
			require.NoError(t, w.slack.Redeliver(id)) // the same envelope again
			redelivered++
		}
		done := "✅ " + strconv.Itoa(step) + "."
		w.waitFor(done, func() bool {
			return strings.Contains(w.headerText(), done) || strings.Contains(w.state(), "(completed)")
		})
	}
	faults = append(faults, fmt.Sprintf("%d envelopes redelivered", redelivered))
	w.waitFor("the end", func() bool { return strings.Contains(w.state(), "(completed)") })
	lost := w.rowsLost()
	w.stopBot()
	run, audit := w.finalRun()
	assert.Equal(t, engine.Completed, run.State)
	require.NotEmpty(t, w.slack.Files(), "the check's output went up as a file despite the 502s: %d bytes of details; log: %s",
		len(run.Steps[9].Output.Details), grepLines(log.String(), "upload"))
	uploadCalls := 0
	for _, c := range w.slack.Calls() {
		if c.Method == "files.getUploadURLExternal" {
			uploadCalls++
		}
	}
	assert.GreaterOrEqual(t, uploadCalls, 3, "two 502s, then the upload went through")
	w.scanSecrets(log.String())
	requireDecisions(t, audit, len(clusterPlan()), 0)
	record(t, suiteRow{Scenario: "Slack faults", Faults: strings.Join(faults, ", "),
		Runs: completed(run), RunTwice: stepsRunTwice(run, audit), RowsLost: lost, Decisions: decisions(audit)})
}

// TestReliabilityInfrastructureFaults: the exec stream is cut in the middle of the dump,
// and the destination's PostgreSQL stops during the restore. Each fails its step with
// what happened; after a Retry the run completes with nothing lost.
func TestReliabilityInfrastructureFaults(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 1500})
	var log logs
	w.startBot(&log)
	w.command(alice, "start prod2 prod1")
	w.waitFor("the run header", func() bool { return w.header().TS != "" })
	var dumpErr, restoreErr string
	for step := 2; step <= len(clusterPlan()); step++ {
		kind := clusterPlan()[step-1].Kind
		switch kind {
		case "dump":
			w.origin.Kube.FailExecAfterBytes(64 << 10)
		case "restore":
			// Mid-restore, for certain: as pg_restore starts, another session holds a
			// lock on one table, so pg_restore -c stops part-way through its drops; once
			// it waits on that lock, the destination's PostgreSQL goes down (immediate
			// shutdown, like an evicted pod), leaving the database half-cleaned.
			var once sync.Once
			lockHeld := make(chan struct{}) // this run's own: -count=2 runs the test again
			w.dest.SetExecHook(func(ctx context.Context, container string, argv []string) error {
				if len(argv) > 0 && argv[0] == "pg_restore" {
					once.Do(func() { go haltMidRestore(t, w, lockHeld); waitLocked(t, lockHeld) })
				}
				return nil
			})
		}
		w.click(bob, "Approve")
		done := "✅ " + strconv.Itoa(step) + "."
		if kind == "dump" || kind == "restore" {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			err := w.slack.WaitFor(ctx, func() bool {
				_, _, ok := w.button("Retry")
				return ok
			})
			cancel()
			if err != nil {
				for _, f := range w.slack.Files() {
					t.Logf("file %s:\n%s", f.Name, lastLines(string(f.Content), 30))
				}
			}
			require.NoError(t, err, "%s did not fail:\n%s\n%s", kind, w.headerText(), w.threadText())
			text := w.threadText()
			if kind == "dump" {
				dumpErr = text
				w.origin.Kube.FailExecAfterBytes(0)
			} else {
				restoreErr = text
				w.dest.SetExecHook(nil)
				require.NoError(t, w.dest.PG.Resume(context.Background()))
			}
			w.click(carol, "Retry")
		}
		w.waitFor(done, func() bool {
			return strings.Contains(w.headerText(), done) || strings.Contains(w.state(), "(completed)")
		})
	}
	w.waitFor("the end", func() bool { return strings.Contains(w.state(), "(completed)") })
	t.Logf("dump failure as posted:\n%s\nrestore failure as posted:\n%s", lastLines(dumpErr, 8), lastLines(restoreErr, 8))
	assert.Contains(t, dumpErr, "no dump kept")
	assert.Contains(t, restoreErr, "lost the database server part-way")
	lost := w.rowsLost()
	w.stopBot()
	run, audit := w.finalRun()
	assert.Equal(t, engine.Completed, run.State)
	w.scanSecrets(log.String())
	requireDecisions(t, audit, len(clusterPlan())-1, 2)
	// The first attempt dropped tables before the server went down: the backup kept for
	// undo is the one taken before it, not one of the half-restored database.
	assert.Contains(t, handlers.OutputText(run.Steps[7].Output), "kept from an earlier attempt")
	record(t, suiteRow{Scenario: "exec cut mid-dump; destination PG down mid-restore",
		Faults: "exec stream cut after 64 KiB of pg_dump; destination PG stopped (immediate) mid pg_restore",
		Runs:   completed(run), RunTwice: stepsRunTwice(run, audit), RowsLost: lost, Decisions: decisions(audit)})
}

// threadText is every message of the run's thread, as text.
func (w *world) threadText() string {
	var b strings.Builder
	for _, m := range w.slack.Thread(channel, w.header().TS) {
		b.WriteString(slackfake.TextOf(m) + "\n")
	}
	return b.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestReliabilityTrafficFaults runs the default 18-step plan while GitHub answers 5xx
// to the bot's first pull-request calls, refuses the DNS merge (branch protection),
// someone pushes to the certificate PR as the bot merges it, and one DNS resolver
// stops answering while the bot waits for the new records.
func TestReliabilityTrafficFaults(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 600, traffic: true})
	dnsRepo, certsRepo := w.cfg.GitHub.DNS.Repo, w.cfg.GitHub.Certs.Repo
	certsFile := w.cfg.Clusters["prod1"].TFVars
	const foreign = `"attacker.example.net",`
	var certsBranch, certsBefore string
	var pushOnce sync.Once
	w.traffic.GitHub.OnMergeRequest(func(repo string, number int) {
		if repo != certsRepo {
			return
		}
		// A push lands between the bot's comparison and its merge.
		pushOnce.Do(func() {
			certsBefore = w.traffic.GitHub.File(certsRepo, certsBranch, certsFile)
			w.traffic.GitHub.Commit(certsRepo, certsBranch, map[string]string{certsFile: strings.Replace(certsBefore, "[", "[\n  "+foreign, 1)}, "a commit nobody approved")
		})
	})
	w.traffic.GitHub.RefuseMerges(dnsRepo, "At least 1 approving review is required by reviewers with write access.")
	var log logs
	w.startBot(&log)
	w.command(alice, "start prod2 prod1")
	w.waitFor("the run header", func() bool { return w.header().TS != "" })
	steps := 18
	ghFailures, dnsStopped, pushed := 0, false, false
	for step := 2; step <= steps; step++ {
		id := w.currentStepID(step)
		switch id {
		case "pr-certs":
			r, err := w.srv.Store().Active(context.Background())
			require.NoError(t, err)
			certsBranch = "cutoverbot/" + r.ID + "-certs"
		case "pr-dns":
			w.traffic.GitHub.FailNext("/repos/"+dnsRepo, 1, http.StatusBadGateway)
		case "wait-dns":
			w.traffic.Resolvers[0].SetDrop(true)
			dnsStopped = true
			go func() {
				time.Sleep(3 * time.Second)
				w.traffic.Resolvers[0].SetDrop(false)
			}()
		}
		w.click(bob, "Approve")
		done := "✅ " + strconv.Itoa(step) + "."
		if id == "pr-dns" {
			// The 502 fails the step; a Retry finds nothing half-made and opens the PR.
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			require.NoError(t, w.slack.WaitFor(ctx, func() bool { _, _, ok := w.button("Retry"); return ok }), "the 502 fails the PR step: %s", w.headerText())
			cancel()
			ghFailures++
			assert.Contains(t, w.threadText(), "502")
			w.click(carol, "Retry")
			w.waitFor("the bot to wait for a person", func() bool { return strings.Contains(w.threadText(), "waiting for a person to merge") })
			require.NoError(t, w.traffic.GitHub.MergePR(dnsRepo, 1))
		}
		if id == "pr-certs" {
			// The bot merges only the head it compared: GitHub refuses the moved head, the
			// bot compares again and stops, showing both versions. Once the branch holds
			// the bot's change alone again, a Retry merges it.
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			require.NoError(t, w.slack.WaitFor(ctx, func() bool { _, _, ok := w.button("Retry"); return ok }), "the push stops the certificate step: %s", w.headerText())
			cancel()
			pushed = true
			thread := w.threadText()
			assert.Contains(t, thread, "does not hold exactly the change the bot computed, so it was not merged")
			assert.Contains(t, thread, foreign, "the PR's version is shown")
			assert.Contains(t, thread, "the bot's change:")
			assert.NotContains(t, w.traffic.GitHub.File(certsRepo, "main", certsFile), foreign, "nothing was merged")
			w.traffic.GitHub.Commit(certsRepo, certsBranch, map[string]string{certsFile: certsBefore}, "drop the commit nobody approved")
			w.click(carol, "Retry")
		}
		w.waitFor(done, func() bool {
			return strings.Contains(w.headerText(), done) || strings.Contains(w.state(), "(completed)")
		})
	}
	w.waitFor("the end", func() bool { return strings.Contains(w.state(), "(completed)") })
	require.True(t, dnsStopped, "the plan has a wait-dns step")
	require.Equal(t, 1, ghFailures, "the plan has a DNS PR step")
	require.True(t, pushed, "the plan has a certificate PR step")
	assert.NotContains(t, w.traffic.GitHub.File(certsRepo, "main", certsFile), foreign, "the pushed line never reached main")
	lost := w.rowsLost()
	w.stopBot()
	run, audit := w.finalRun()
	assert.Equal(t, engine.Completed, run.State)
	w.scanSecrets(log.String())
	requireDecisions(t, audit, steps-1, 2)
	record(t, suiteRow{Scenario: "GitHub and DNS faults (18-step plan)",
		Faults: "502 on the DNS PR, merge refused by branch protection, a push to the certs PR as it merges, resolver silent for 3 s in wait-dns",
		Runs:   completed(run), RunTwice: stepsRunTwice(run, audit), RowsLost: lost, Decisions: decisions(audit)})
}

// currentStepID waits for step's prompt and returns the step's ID from the store-backed
// engine of the in-process bot.
func (w *world) currentStepID(step int) string {
	w.t.Helper()
	want := "⏳ " + strconv.Itoa(step) + "."
	w.waitFor("step "+strconv.Itoa(step)+"'s prompt", func() bool {
		_, _, ok := w.button("Approve")
		return ok && strings.Contains(w.headerText(), want)
	})
	r, err := w.srv.Store().Active(context.Background())
	require.NoError(w.t, err)
	require.NotNil(w.t, r)
	return r.Steps[step-1].Step.ID
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// haltMidRestore opens a session on the destination that locks meshapi_link, closes
// lockHeld once it holds the lock, waits until pg_restore is blocked behind it, then
// stops the server.
func haltMidRestore(t *testing.T, w *world, lockHeld chan<- struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stdin, feed := io.Pipe()
	go func() {
		// psql runs the statements as they arrive and keeps the transaction open
		// until the server goes away.
		_, _ = w.dest.PG.Run(ctx, []string{"psql", "-d", "meshdb", "-U", "meshdb", "-X", "-v", "ON_ERROR_STOP=1"}, stdin, io.Discard, io.Discard)
	}()
	_, _ = io.WriteString(feed, "BEGIN;\nLOCK TABLE meshapi_link IN ACCESS EXCLUSIVE MODE;\n")
	waitSQL(t, w, "the test's lock", "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'meshapi_link' AND l.mode = 'AccessExclusiveLock' AND l.granted")
	close(lockHeld)
	waitSQL(t, w, "pg_restore to wait on the lock", "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'cutoverbot/%/restore-destination/%' AND wait_event_type = 'Lock'")
	assert.NoError(t, w.dest.PG.Halt(context.Background()))
	_ = feed.Close()
}

// waitLocked holds pg_restore back until the test's session has its lock.
func waitLocked(t *testing.T, lockHeld <-chan struct{}) {
	select {
	case <-lockHeld:
	case <-time.After(30 * time.Second):
		t.Error("the test's session never got its lock")
	}
}

// waitSQL polls the destination until query counts more than zero.
func waitSQL(t *testing.T, w *world, what, query string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		n, err := w.dest.PG.SQL(context.Background(), "meshdb", query)
		if err == nil && strings.TrimSpace(n) != "0" {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	act, _ := w.dest.PG.SQL(context.Background(), "postgres", "SELECT application_name, state, wait_event_type, wait_event, left(query, 60) FROM pg_stat_activity WHERE datname = 'meshdb'")
	t.Errorf("timed out waiting for %s; sessions: %s", what, act)
}

// The rows-lost figure can be other than 0: it counts each row a side lacks or holds
// changed.
func TestRowsLostCountsRowsThatDiffer(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 200})
	// The destination is seeded with a third of the installs: make it the origin's twin.
	ctx := context.Background()
	res, err := pg.Dump(ctx, w.origin.Execer(), pg.DB{Name: sandbox.DBName, User: sandbox.DBUser}, filepath.Join(t.TempDir(), "o.dump"))
	require.NoError(t, err)
	_, err = pg.Restore(ctx, w.dest.Execer(), pg.DB{Name: sandbox.DBName, User: sandbox.DBUser}, res, filepath.Join(t.TempDir(), "staged.dump"), 1)
	require.NoError(t, err)
	rows, lost := w.compareData()
	require.Positive(t, rows)
	require.Zero(t, lost)

	_, err = w.dest.PG.SQL(ctx, sandbox.DBName, "UPDATE meshapi_member SET notes = 'changed' WHERE id IN (SELECT id FROM meshapi_member ORDER BY id LIMIT 3)")
	require.NoError(t, err)
	_, err = w.dest.PG.SQL(ctx, sandbox.DBName, "DELETE FROM meshapi_los WHERE id IN (SELECT id FROM meshapi_los ORDER BY id LIMIT 2)")
	require.NoError(t, err)
	_, lost = w.compareData()
	assert.Equal(t, int64(3*2+2), lost, "3 changed rows count on both sides, 2 deleted rows once")
}
