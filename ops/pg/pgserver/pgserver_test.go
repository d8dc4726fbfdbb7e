package pgserver

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// start skips only when PostgreSQL is not installed (make setup installs it).
func start(t *testing.T) *Server {
	t.Helper()
	if _, err := BinDir(); err != nil {
		t.Skipf("PostgreSQL is not installed: %v", err)
	}
	s, err := Start(context.Background(), filepath.Join(t.TempDir(), "a", "pg"))
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	return s
}

// query runs a script as the superuser; psql -q prints no command tags.
func query(t *testing.T, s *Server, db, q string) string {
	t.Helper()
	out, err := s.SQLAs(context.Background(), db, "postgres", q)
	require.NoError(t, err)
	return strings.TrimSpace(out)
}

func TestStartRunStop(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a", "pg")
	if _, err := BinDir(); err != nil {
		t.Skipf("PostgreSQL is not installed: %v", err)
	}
	s, err := Start(ctx, dir)
	require.NoError(t, err)
	t.Cleanup(s.Stop)

	real, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	assert.Equal(t, real, s.Dir(), "the server lives in the directory it was given, also as root")
	fi, err := os.Stat(filepath.Join(s.Dir(), "data", "PG_VERSION"))
	require.NoError(t, err)
	if os.Geteuid() == 0 {
		assert.NotEqual(t, uint32(0), fi.Sys().(*syscall.Stat_t).Uid, "as root the server runs as the postgres user")
	}
	assert.Equal(t, "127.0.0.1", s.Host())
	assert.Contains(t, s.Env(), "PGPORT="+strconv.Itoa(s.Port()))
	assert.Equal(t, "1", query(t, s, "postgres", "SELECT 1"))
	assert.Equal(t, "off", query(t, s, "postgres", "SHOW fsync"), "tuned for tests")

	for _, tc := range []struct {
		name   string
		argv   []string
		stdin  string
		code   int
		stdout string
		stderr string
	}{
		{"psql reaches this server", []string{"psql", "-U", "postgres", "-d", "postgres", "-At", "-c", "SHOW port"}, "", 0, strconv.Itoa(s.Port()), ""},
		{"environment", []string{"sh", "-c", "echo $PGHOST:$PGPORT"}, "", 0, "127.0.0.1:" + strconv.Itoa(s.Port()), ""},
		{"stdin is streamed", []string{"sh", "-c", "wc -c"}, "hello", 0, "5", ""},
		{"exit status", []string{"sh", "-c", "echo no >&2; exit 3"}, "", 3, "", "no"},
		{"missing command", []string{"no-such-command-here"}, "", 127, "", "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code, err := s.Run(ctx, tc.argv, strings.NewReader(tc.stdin), &out, &errb)
			require.NoError(t, err)
			assert.Equal(t, tc.code, code)
			assert.Equal(t, tc.stdout, strings.TrimSpace(out.String()))
			assert.Contains(t, errb.String(), tc.stderr)
		})
	}

	pid := s.postmasterPID()
	require.Positive(t, pid)
	s.Stop()
	s.Stop() // twice is fine
	assert.False(t, s.isOurPostmaster(pid), "the postmaster is gone")
	_, err = net.Dial("tcp", net.JoinHostPort(s.Host(), strconv.Itoa(s.Port())))
	assert.Error(t, err, "nothing listens on the port any more")
}

func TestStopKillsThePostmasterWhenPgCtlCannot(t *testing.T) {
	s := start(t)
	pid := s.postmasterPID()
	require.Positive(t, pid)
	s.bin = t.TempDir() // no pg_ctl here: Stop must fall back to signals
	s.Stop()
	assert.False(t, s.isOurPostmaster(pid), "the postmaster is gone")
	_, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/cmdline")
	assert.True(t, os.IsNotExist(err) || !s.isOurPostmaster(pid))
}

func TestStartWithoutDirUsesATempDirAndRemovesIt(t *testing.T) {
	if _, err := BinDir(); err != nil {
		t.Skipf("PostgreSQL is not installed: %v", err)
	}
	s, err := Start(context.Background(), "")
	require.NoError(t, err)
	dir := s.Dir()
	assert.DirExists(t, dir)
	s.Stop()
	assert.NoDirExists(t, dir)
}

func TestCreateMeshDBAndSeed(t *testing.T) {
	ctx := context.Background()
	s := start(t)
	require.NoError(t, s.CreateMeshDB(ctx, "meshdb", "meshdb"))
	assert.Equal(t, "meshdb", query(t, s, "postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'meshdb'"))
	assert.Equal(t, "14", query(t, s, "meshdb", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = 'meshdb'"))
	assert.Equal(t, "[]", string(must(s.MapdataJSON(ctx, "meshdb", "nodes"))), "an empty database has an empty map")

	require.Error(t, s.Seed(ctx, "meshdb", "meshdb", 5), "too small to shape the other tables")
	require.NoError(t, s.Seed(ctx, "meshdb", "meshdb", 200))
	counts := query(t, s, "meshdb", `SELECT (SELECT count(*) FROM meshapi_install) || ' ' || (SELECT count(*) FROM meshapi_member) || ' ' ||
		(SELECT count(*) FROM meshapi_historicalinstall) || ' ' || (SELECT count(*) FROM meshapi_accesspoint) || ' ' ||
		(SELECT count(*) FROM meshapi_sector) || ' ' || (SELECT count(*) FROM meshapi_link)`)
	assert.Equal(t, "200 180 600 12 12 60", counts)
	assert.Equal(t, "False", query(t, s, "meshdb", "SELECT value FROM flags_flagstate WHERE name = 'MAINTENANCE_MODE'"))
	assert.Equal(t, "200", query(t, s, "meshdb", "SELECT max(install_number) FROM meshapi_install"))

	// The identity column carries on after the seeded numbers, as MeshDB's join form needs.
	assert.Equal(t, "201", query(t, s, "meshdb", `INSERT INTO meshapi_install (status, request_date, member_id, building_id)
		SELECT 'Request Received', now(), (SELECT id FROM meshapi_member LIMIT 1), (SELECT id FROM meshapi_building LIMIT 1)
		RETURNING install_number`))
	// meshdb_ro reads every table and writes none.
	assert.Equal(t, "201", query(t, s, "meshdb", "SET ROLE meshdb_ro; SELECT count(*) FROM meshapi_install"))
	_, err := s.SQL(ctx, "meshdb", "SET ROLE meshdb_ro; DELETE FROM flags_flagstate")
	assert.ErrorContains(t, err, "permission denied")

	require.NoError(t, s.DropRole(ctx, "nobody_here"))
	assert.Error(t, s.CreateMeshDB(ctx, "x; DROP DATABASE meshdb", "meshdb"), "names are checked")
	assert.Error(t, s.DropRole(ctx, "a b"))
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestMapdataJSONHasThePublicAPIShape(t *testing.T) {
	ctx := context.Background()
	s := start(t)
	require.NoError(t, s.CreateMeshDB(ctx, "meshdb", "meshdb"))
	require.NoError(t, s.Seed(ctx, "meshdb", "meshdb", 300))

	decode := func(kind string) []map[string]any {
		raw, err := s.MapdataJSON(ctx, "meshdb", kind)
		require.NoError(t, err)
		var objs []map[string]any
		require.NoError(t, json.Unmarshal(raw, &objs), string(raw[:min(len(raw), 300)]))
		for _, o := range objs {
			for k, v := range o {
				require.NotNil(t, v, "%s: key %q is null; absent keys mean null", kind, k)
			}
		}
		return objs
	}
	keysOf := func(objs []map[string]any, required, optional []string) map[string]int {
		allowed := map[string]bool{}
		for _, k := range append(required, optional...) {
			allowed[k] = true
		}
		seen := map[string]int{}
		for _, o := range objs {
			for _, k := range required {
				require.Contains(t, o, k)
			}
			for k := range o {
				require.True(t, allowed[k], "unexpected key %q", k)
				seen[k]++
			}
		}
		return seen
	}

	nodes := decode("nodes")
	seen := keysOf(nodes, []string{"id", "coordinates", "requestDate", "roofAccess", "panoramas"}, []string{"name", "status", "installDate", "notes"})
	assert.Less(t, seen["installDate"], len(nodes), "some nodes have no installDate: the key is left out")
	assert.Less(t, seen["notes"], len(nodes))
	installs, aps := 0, 0
	for _, n := range nodes {
		id := n["id"].(float64)
		if id >= 1_000_000 {
			aps++
		} else {
			installs++
			assert.LessOrEqual(t, id, 300.0)
		}
		assert.Len(t, n["coordinates"], 3, "[lon, lat, alt]")
		assert.Less(t, n["coordinates"].([]any)[0].(float64), -73.0, "longitude first")
	}
	assert.Equal(t, 300, installs)
	assert.Equal(t, 18, aps, "access points have ids from 1,000,000")

	links := decode("links")
	assert.Len(t, links, 90)
	keysOf(links, []string{"from", "to", "status"}, []string{"installDate"})
	sectors := decode("sectors")
	assert.Len(t, sectors, 18)
	keysOf(sectors, []string{"nodeId", "radius", "azimuth", "width", "status"}, []string{"installDate"})

	_, err := s.MapdataJSON(ctx, "meshdb", "kiosks")
	assert.ErrorContains(t, err, "no mapdata kind")
}

func TestBinDirFindsTheServerTools(t *testing.T) {
	bin, err := BinDir()
	if err != nil {
		assert.Contains(t, err.Error(), "install Debian's postgresql package")
		t.Skipf("PostgreSQL is not installed: %v", err)
	}
	assert.FileExists(t, filepath.Join(bin, "initdb"))
	assert.FileExists(t, filepath.Join(bin, "pg_ctl"))
	assert.Equal(t, 15, version("/usr/lib/postgresql/15/bin/initdb"))
}
