package pg

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTrackedRoundTrips(t *testing.T) {
	tag := Tag{Run: "20261207-0049-aba7", Step: "restore-destination", Attempt: 2}
	for _, argv := range [][]string{
		{"pg_restore", "-d", "meshdb", "-U", "meshdb", "-c", "--if-exists", "/tmp/cutoverbot-x.dump"},
		{"sh", "-c", "cat > '/tmp/a b' && wc -c < '/tmp/a b'"},
		{"psql", "-c", "SELECT 'it''s'"},
		{"echo", ""},
	} {
		w := Tracked(argv, tag, "/tmp/cutoverbot-x.prod1.restore.2.restore.pid")
		inner, app, pid, ok := Untracked(w)
		require.True(t, ok, "%q", w)
		assert.Equal(t, argv, inner)
		assert.Equal(t, "cutoverbot/20261207-0049-aba7/restore-destination/2", app)
		assert.Equal(t, "/tmp/cutoverbot-x.prod1.restore.2.restore.pid", pid)
	}
	// Variables set with WithEnv join PGAPPNAME; Untracked returns the command alone.
	w := Tracked(WithEnv([]string{"sh", "-c", `echo "$PGOPTIONS|$PGAPPNAME"`}, "PGOPTIONS=-c maintenance_work_mem=262144kB"), tag, filepath.Join(t.TempDir(), "x.pid"))
	inner, _, _, ok := Untracked(w)
	require.True(t, ok, "%q", w)
	assert.Equal(t, []string{"sh", "-c", `echo "$PGOPTIONS|$PGAPPNAME"`}, inner)
	out, err := exec.Command(w[0], w[1:]...).Output()
	require.NoError(t, err)
	assert.Equal(t, "-c maintenance_work_mem=262144kB|cutoverbot/20261207-0049-aba7/restore-destination/2\n", string(out))

	_, _, _, ok = Untracked([]string{"sh", "-c", "echo hi"})
	assert.False(t, ok)
	long := Tag{Run: "20261207-0049-aba7", Step: "a-very-long-step-identifier-that-goes-on-and-on", Attempt: 12}
	assert.Len(t, long.AppName(), 63, "PostgreSQL keeps 63 bytes of application_name")
}
