package pg

import (
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
	_, _, _, ok := Untracked([]string{"sh", "-c", "echo hi"})
	assert.False(t, ok)
	long := Tag{Run: "20261207-0049-aba7", Step: "a-very-long-step-identifier-that-goes-on-and-on", Attempt: 12}
	assert.Len(t, long.AppName(), 63, "PostgreSQL keeps 63 bytes of application_name")
}
