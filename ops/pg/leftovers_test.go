package pg_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/pg"
)

// A tracked command left running (its client gone) is found through its pid file and
// its session, and stopped; the attempt named as kept, and other programs' sessions,
// are left alone.
func TestStopLeftoversStopsTrackedCommandsAndTheirSessions(t *testing.T) {
	s := start(t, 0)
	ex := local(s)
	dir := t.TempDir()
	run := "20261207-0100-beef"
	old := pg.Tag{Run: run, Step: "restore-destination", Attempt: 1}
	keep := pg.Tag{Run: run, Step: "restore-destination", Attempt: 2}
	sleep := func(tag pg.Tag, name string) {
		argv := pg.Tracked(pg.PsqlArgv(db, "SELECT pg_sleep(300)"), tag, filepath.Join(dir, "cutoverbot-"+run+"."+name+".pid"))
		go func() { _ = ex.Exec(context.Background(), argv, nil, io.Discard, io.Discard) }() // nobody waits: the client is gone
	}
	sleep(old, "old")
	sleep(keep, "keep")
	other, cancelOther := context.WithCancel(context.Background())
	defer cancelOther()
	go func() { _, _ = s.SQL(other, "meshdb", "SELECT pg_sleep(300)") }() // not the bot's
	sessions := func() string {
		return sql(t, s, "SELECT string_agg(application_name, ',' ORDER BY application_name) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(300)%' AND pid <> pg_backend_pid()")
	}
	require.Eventually(t, func() bool { return strings.Count(sessions(), ",") == 2 }, 30*time.Second, 50*time.Millisecond, "three sleeping sessions: %s", sessions())
	oldPID, err := os.ReadFile(filepath.Join(dir, "cutoverbot-"+run+".old.pid"))
	require.NoError(t, err)

	stopped, err := pg.StopLeftovers(context.Background(), ex, db, filepath.Join(dir, "cutoverbot-"+run+".*.pid"), pg.AppPrefix, keep)
	require.NoError(t, err)
	// The killed psql's server session runs on until it notices: it is ended too.
	require.Len(t, stopped, 2, "%+v", stopped)
	assert.Equal(t, pg.Leftover{PID: strings.TrimSpace(string(oldPID)), PidFile: filepath.Join(dir, "cutoverbot-"+run+".old.pid")}, stopped[0], "the process, ended on SIGTERM")
	assert.True(t, stopped[1].Session)
	assert.Equal(t, old.AppName(), stopped[1].App)
	assert.NotEmpty(t, stopped[1].PID)
	_, err = os.Stat("/proc/" + strings.TrimSpace(string(oldPID)))
	assert.True(t, os.IsNotExist(err), "the old psql is gone")
	assert.NoFileExists(t, filepath.Join(dir, "cutoverbot-"+run+".old.pid"))
	assert.FileExists(t, filepath.Join(dir, "cutoverbot-"+run+".keep.pid"), "the kept attempt's pid file stays")
	require.Eventually(t, func() bool { return !strings.Contains(sessions(), old.AppName()) }, 30*time.Second, 50*time.Millisecond)
	assert.Contains(t, sessions(), keep.AppName())
	assert.Contains(t, sessions(), "psql", "another program's session is not the bot's to end")

	// A session whose process is out of reach (no pid file) is ended in the database.
	keep2 := pg.Tag{Run: run, Step: "verify-database", Attempt: 1}
	stopped, err = pg.StopLeftovers(context.Background(), ex, db, filepath.Join(dir, "none-*.pid"), pg.AppPrefix, keep2)
	require.NoError(t, err)
	require.Len(t, stopped, 1)
	assert.True(t, stopped[0].Session)
	assert.Equal(t, keep.AppName(), stopped[0].App)
	assert.NotContains(t, sessions(), "cutoverbot/")
}
