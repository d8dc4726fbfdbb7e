package pg_test

import (
	"bytes"
	"context"
	"errors"
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

	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/pg/pgserver"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

var db = pg.DB{Name: "meshdb", User: "meshdb"}

// local runs commands against a server as if in its postgres pod.
func local(s *pgserver.Server) pg.Execer {
	return pg.ExecFunc(func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
		code, err := s.Run(ctx, argv, stdin, stdout, stderr)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("%s exited %d", argv[0], code)
		}
		return nil
	})
}

// server starts an empty server; it skips the test only when PostgreSQL is not
// installed (make setup installs it, so CI runs these tests).
func server(t *testing.T) *pgserver.Server {
	t.Helper()
	if _, err := pgserver.BinDir(); err != nil {
		t.Skipf("PostgreSQL is not installed, skipping a test that needs a real server: %v", err)
	}
	s, err := pgserver.Start(context.Background(), filepath.Join(t.TempDir(), "pg"))
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	return s
}

// start starts a server with a MeshDB of that many installs (0: schema only).
func start(t *testing.T, installs int) *pgserver.Server {
	t.Helper()
	ctx := context.Background()
	s := server(t)
	require.NoError(t, s.CreateMeshDB(ctx, "meshdb", "meshdb"))
	require.NoError(t, s.Seed(ctx, "meshdb", "meshdb", installs))
	return s
}

// startPair starts an origin of 2,000 installs and a destination of 300, at once.
func startPair(t *testing.T) (origin, dest *pgserver.Server) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); origin = start(t, 2000) }()
	go func() { defer wg.Done(); dest = start(t, 300) }()
	wg.Wait()
	return origin, dest
}

func fingerprints(t *testing.T, s *pgserver.Server) []pg.Fingerprint {
	t.Helper()
	fps, err := pg.Fingerprints(context.Background(), local(s), db)
	require.NoError(t, err)
	return fps
}

func sql(t *testing.T, s *pgserver.Server, q string) string {
	t.Helper()
	out, err := s.SQL(context.Background(), "meshdb", q)
	require.NoError(t, err)
	return strings.TrimSpace(out)
}

func TestArgv(t *testing.T) {
	assert.Equal(t, "pg_dump -d meshdb -U meshdb -Fc", strings.Join(pg.DumpArgv(db), " "))
	z1 := db
	z1.Compress = "1"
	assert.Equal(t, "pg_dump -d meshdb -U meshdb -Fc -Z 1", strings.Join(pg.DumpArgv(z1), " "))
	assert.Equal(t, "pg_restore -d meshdb -U meshdb -c --if-exists /tmp/x.dump", strings.Join(pg.RestoreArgv(db, "/tmp/x.dump", 1), " "))
	assert.Equal(t, "pg_restore -d meshdb -U meshdb -c --if-exists -j 4 /tmp/x.dump", strings.Join(pg.RestoreArgv(db, "/tmp/x.dump", 4), " "))
}

func TestDumpRestoreRoundTripProvenByFingerprints(t *testing.T) {
	ctx := context.Background()
	origin, dest := startPair(t)
	require.NotEmpty(t, pg.CompareFingerprints(fingerprints(t, origin), fingerprints(t, dest)))

	path := filepath.Join(t.TempDir(), "origin.dump")
	res, err := pg.Dump(ctx, local(origin), db, path)
	require.NoError(t, err)
	assert.Greater(t, res.Size, int64(100_000))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "PGDMP", string(raw[:5]))
	assert.Len(t, res.SHA256, 64)

	remote := filepath.Join(t.TempDir(), "in-pod.dump")
	rr, err := pg.Restore(ctx, local(dest), db, res, remote, 2)
	require.NoError(t, err)
	assert.Equal(t, 0, rr.IgnoredErrors)
	_, err = os.Stat(remote)
	assert.True(t, os.IsNotExist(err), "the copy in the pod is removed")

	a, b := fingerprints(t, origin), fingerprints(t, dest)
	assert.Empty(t, pg.CompareFingerprints(a, b))
	assert.Len(t, a, 14, "every MeshDB table is fingerprinted")

	// A single changed row, and a deleted row, are detected and named.
	sql(t, dest, "UPDATE meshapi_member SET notes = 'x' WHERE id = (SELECT id FROM meshapi_member ORDER BY id LIMIT 1)")
	diffs := pg.CompareFingerprints(a, fingerprints(t, dest))
	require.Len(t, diffs, 1)
	assert.Equal(t, "meshapi_member", diffs[0].Table)
	assert.Contains(t, diffs[0].String(), "different content")
	sql(t, dest, "DELETE FROM meshapi_los WHERE id = (SELECT id FROM meshapi_los ORDER BY id LIMIT 1)")
	diffs = pg.CompareFingerprints(a, fingerprints(t, dest))
	require.Len(t, diffs, 2)
	assert.Contains(t, diffs[0].String()+diffs[1].String(), "rows on the origin")

	// exclude_tables leaves a table out on both sides.
	ex := pg.DB{Name: "meshdb", User: "meshdb", ExcludeTables: []string{"meshapi_member", "meshapi_los"}}
	x1, err := pg.Fingerprints(ctx, local(origin), ex)
	require.NoError(t, err)
	x2, err := pg.Fingerprints(ctx, local(dest), ex)
	require.NoError(t, err)
	assert.Empty(t, pg.CompareFingerprints(x1, x2))
	assert.Len(t, x1, 12)

	// Sequences travel too: the destination's next install number follows the origin's.
	next, err := dest.SQLAs(ctx, "meshdb", "meshdb", `INSERT INTO meshapi_install (status, request_date, member_id, building_id)
		SELECT 'Request Received', now(), (SELECT id FROM meshapi_member LIMIT 1), (SELECT id FROM meshapi_building LIMIT 1)
		RETURNING install_number`)
	require.NoError(t, err)
	assert.Equal(t, "2001", strings.TrimSpace(next))
}

func TestRestoreOntoEmptyDatabaseAndWithoutTheReadOnlyRole(t *testing.T) {
	ctx := context.Background()
	origin := start(t, 500)
	res, err := pg.Dump(ctx, local(origin), db, filepath.Join(t.TempDir(), "o.dump"))
	require.NoError(t, err)

	for _, tc := range []struct {
		name    string
		prepare func(*testing.T, *pgserver.Server)
		ignored bool
	}{
		{"empty database", func(t *testing.T, s *pgserver.Server) {
			emptyDB(t, s, true)
		}, false},
		{"no meshdb_ro role", func(t *testing.T, s *pgserver.Server) {
			emptyDB(t, s, false)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := server(t)
			tc.prepare(t, s)
			rr, err := pg.Restore(ctx, local(s), db, res, filepath.Join(t.TempDir(), "x.dump"), 1)
			require.NoError(t, err, "the data is restored even when pg_restore ignores errors")
			if tc.ignored {
				assert.Greater(t, rr.IgnoredErrors, 0)
				assert.Contains(t, strings.Join(rr.Messages, "\n"), "meshdb_ro")
			} else {
				assert.Equal(t, 0, rr.IgnoredErrors)
			}
			assert.Empty(t, pg.CompareFingerprints(fingerprints(t, origin), fingerprints(t, s)))
		})
	}
}

// cutAfter passes n bytes of stdout through, then fails like a dropped stream.
func cutAfter(ex pg.Execer, n int) pg.Execer {
	return pg.ExecFunc(func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
		w := &limited{w: stdout, left: n}
		err := ex.Exec(ctx, argv, stdin, w, stderr)
		if w.cut {
			return errors.New("stream closed: connection reset")
		}
		return err
	})
}

type limited struct {
	w    io.Writer
	left int
	cut  bool
}

func (l *limited) Write(p []byte) (int, error) {
	if len(p) > l.left {
		l.cut = true
		_, _ = l.w.Write(p[:l.left])
		l.left = 0
		return 0, errors.New("cut")
	}
	l.left -= len(p)
	return l.w.Write(p)
}

func TestCutDumpLeavesNothingAndBadMagicIsRefused(t *testing.T) {
	ctx := context.Background()
	s := start(t, 300)
	dir := t.TempDir()
	path := filepath.Join(dir, "cut.dump")
	_, err := pg.Dump(ctx, cutAfter(local(s), 50_000), db, path)
	exit, ok := failed(t, err).Facts.(report.DumpExit)
	require.True(t, ok, "%v", err)
	assert.Equal(t, strings.Join(pg.DumpArgv(db), " "), exit.Command)
	assert.Positive(t, exit.Bytes, "the bytes that came before the cut")
	assert.LessOrEqual(t, exit.Bytes, int64(50_000))
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries, "no file, not even a partial one")

	notDump := pg.ExecFunc(func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
		_, err := io.WriteString(stdout, "-- plain SQL, not custom format\n")
		return err
	})
	_, err = pg.Dump(ctx, notDump, db, path)
	assert.ErrorIs(t, err, pg.ErrBadMagic)
	assert.Equal(t, report.BadMagic{Head: "-- pl", Cut: true}, failed(t, err).Facts, "the stream is cut at its first bytes")
	entries, _ = os.ReadDir(dir)
	assert.Empty(t, entries)

	failing := pg.ExecFunc(func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
		fmt.Fprintln(stderr, `pg_dump: error: connection to server at "127.0.0.1", port 1 failed`)
		return errors.New("exit 1")
	})
	_, err = pg.Dump(ctx, failing, db, path)
	exit, ok = failed(t, err).Facts.(report.DumpExit)
	require.True(t, ok, "%v", err)
	assert.Contains(t, exit.Stderr, "connection to server", "the failure keeps pg_dump's stderr")
	assert.EqualError(t, failed(t, err).Err, "exit 1")
}

func TestChecksumMismatchRefusesTheRestore(t *testing.T) {
	ctx := context.Background()
	origin := start(t, 300)
	dest := start(t, 100)
	before := fingerprints(t, dest)
	res, err := pg.Dump(ctx, local(origin), db, filepath.Join(t.TempDir(), "o.dump"))
	require.NoError(t, err)

	// The copy arrives damaged in the pod.
	damaging := pg.ExecFunc(func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
		if argv[0] == "sh" {
			var b bytes.Buffer
			_, _ = io.Copy(&b, stdin)
			data := b.Bytes()
			data[len(data)/2] ^= 0xff
			return local(dest).Exec(ctx, argv, bytes.NewReader(data), stdout, stderr)
		}
		return local(dest).Exec(ctx, argv, stdin, stdout, stderr)
	})
	remote := filepath.Join(t.TempDir(), "x.dump")
	_, err = pg.Restore(ctx, damaging, db, res, remote, 1)
	require.ErrorIs(t, err, pg.ErrChecksum)
	var f *report.Failed
	require.ErrorAs(t, err, &f)
	assert.Equal(t, report.Checksum{Of: report.ChecksumCopy, Got: f.Facts.(report.Checksum).Got, Want: res.SHA256}, f.Facts, "the copy in the pod is not the dump")
	assert.NotEqual(t, res.SHA256, f.Facts.(report.Checksum).Got)
	assert.Empty(t, pg.CompareFingerprints(before, fingerprints(t, dest)), "the destination is untouched")
	_, err = os.Stat(remote)
	assert.True(t, os.IsNotExist(err), "the damaged copy is removed")

	// The spool file changed after the dump.
	bad := res
	bad.SHA256 = strings.Repeat("0", 64)
	_, err = pg.Restore(ctx, local(dest), db, bad, remote, 1)
	require.ErrorIs(t, err, pg.ErrChecksum)
	assert.Empty(t, pg.CompareFingerprints(before, fingerprints(t, dest)))

	_, err = pg.Restore(ctx, local(dest), db, res, "/tmp/x'; rm -rf /", 1)
	assert.Equal(t, report.RemotePath{Path: "/tmp/x'; rm -rf /"}, failed(t, err).Facts)
}

func TestMaintenanceFlagBothWays(t *testing.T) {
	ctx := context.Background()
	s := start(t, 50)
	on, err := pg.MaintenanceState(ctx, local(s), db)
	require.NoError(t, err)
	assert.False(t, on)
	require.NoError(t, pg.SetMaintenanceSQL(ctx, local(s), db, true))
	on, err = pg.MaintenanceState(ctx, local(s), db)
	require.NoError(t, err)
	assert.True(t, on)
	assert.Equal(t, "1", sql(t, s, "SELECT count(*) FROM flags_flagstate WHERE name='MAINTENANCE_MODE'"), "one row, not one per change")
	require.NoError(t, pg.SetMaintenanceSQL(ctx, local(s), db, false))
	on, _ = pg.MaintenanceState(ctx, local(s), db)
	assert.False(t, on)
	sql(t, s, "DELETE FROM flags_flagstate")
	on, err = pg.MaintenanceState(ctx, local(s), db)
	require.NoError(t, err)
	assert.False(t, on, "no row means off")

	// The table has no unique key: django-flags turns the flag on when any row says so
	// (strtobool, any case), and setting it leaves one row.
	sql(t, s, "INSERT INTO flags_flagstate (name, condition, value, required) VALUES ('MAINTENANCE_MODE', 'boolean', 'False', false), ('MAINTENANCE_MODE', 'boolean', 'true', false)")
	on, err = pg.MaintenanceState(ctx, local(s), db)
	require.NoError(t, err)
	assert.True(t, on)
	require.NoError(t, pg.SetMaintenanceSQL(ctx, local(s), db, false))
	assert.Equal(t, "False", sql(t, s, "SELECT string_agg(value, ',') FROM flags_flagstate WHERE name='MAINTENANCE_MODE'"))
	sql(t, s, "UPDATE flags_flagstate SET value = 'maybe'")
	_, err = pg.MaintenanceState(ctx, local(s), db)
	assert.Equal(t, report.UnexpectedAnswer{Of: report.AnswerMaintenance, Said: "maybe", Database: "meshdb"}, failed(t, err).Facts)

	_, err = pg.MaintenanceState(ctx, local(s), pg.DB{Name: "nosuchdb", User: "meshdb"})
	cmd, ok := failed(t, err).Facts.(report.PodCommand)
	require.True(t, ok, "%v", err)
	assert.Equal(t, report.CommandMaintenanceRead, cmd.Of)
	assert.Contains(t, cmd.Stderr, "nosuchdb", "psql's complaint is kept")
}

// Two servers seeded alike fingerprint alike; and fingerprints compare rows, not how a
// server prints or sorts them: another TimeZone, DateStyle or collation, or rows
// inserted in another order into a table without a key, change nothing.
func TestSeedingIsDeterministicAndFingerprintsIgnoreServerSettings(t *testing.T) {
	a, b := start(t, 400), start(t, 400)
	assert.Empty(t, pg.CompareFingerprints(fingerprints(t, a), fingerprints(t, b)))
	assert.Equal(t, "400", sql(t, a, "SELECT count(*) FROM meshapi_install"))

	sql(t, b, "ALTER DATABASE meshdb SET TimeZone = 'America/New_York'")
	sql(t, b, "ALTER DATABASE meshdb SET DateStyle = 'SQL, DMY'")
	sql(t, b, "ALTER DATABASE meshdb SET extra_float_digits = 0")
	for _, tc := range []struct {
		s         *pgserver.Server
		collation string
		order     string
	}{{a, `"C"`, "ASC"}, {b, `"und-x-icu"`, "DESC"}} {
		_, err := tc.s.SQLAs(context.Background(), "meshdb", "meshdb", "CREATE TABLE extra_textkey (k text COLLATE "+tc.collation+" PRIMARY KEY, at timestamptz);\n"+
			"INSERT INTO extra_textkey VALUES ('a', '2024-01-02 03:04:05+00'), ('B', '2024-06-01 00:00:00+00'), ('c', NULL);\n"+
			"CREATE TABLE extra_nokey (n int, f float8);\n"+
			"INSERT INTO extra_nokey SELECT i % 7, i / 3.0 FROM generate_series(1, 50) i ORDER BY i "+tc.order+";\n")
		require.NoError(t, err)
	}
	require.Equal(t, "B", sql(t, a, "SELECT k FROM extra_textkey ORDER BY k LIMIT 1"), "the collations do sort differently")
	require.Equal(t, "a", sql(t, b, "SELECT k FROM extra_textkey ORDER BY k LIMIT 1"))
	fa, fb := fingerprints(t, a), fingerprints(t, b)
	assert.Empty(t, pg.CompareFingerprints(fa, fb))
	assert.Len(t, fa, 16)

	sql(t, b, "UPDATE extra_nokey SET f = f + 1 WHERE n = 3 AND f < 2")
	diffs := pg.CompareFingerprints(fa, fingerprints(t, b))
	require.Len(t, diffs, 1)
	assert.Equal(t, "extra_nokey", diffs[0].Table)
}

func TestParseRealRestoreLogs(t *testing.T) {
	ctx := context.Background()
	origin := start(t, 100)
	res, err := pg.Dump(ctx, local(origin), db, filepath.Join(t.TempDir(), "o.dump"))
	require.NoError(t, err)
	s := server(t)
	emptyDB(t, s, false)
	var stderr bytes.Buffer
	code, err := s.Run(ctx, []string{"pg_restore", "-d", "meshdb", "-U", "meshdb", "-c", res.Path}, nil, io.Discard, &stderr)
	require.NoError(t, err)
	assert.Equal(t, 1, code, "plain -c on an empty database exits 1")
	ignored, msgs, fatal := pg.ParseRestoreLog(stderr.String())
	assert.Greater(t, ignored, 5, stderr.String())
	assert.NotEmpty(t, msgs)
	assert.False(t, fatal)

	stderr.Reset()
	code, _ = s.Run(ctx, []string{"pg_restore", "-d", "nosuchdb", "-U", "meshdb", "-c", "--if-exists", res.Path}, nil, io.Discard, &stderr)
	assert.NotEqual(t, 0, code)
	_, _, fatal = pg.ParseRestoreLog(stderr.String())
	assert.True(t, fatal, stderr.String())
}

// TestSeedTime measures, at MeshDB's size (CUTOVERBOT_BENCH_INSTALLS, default 20,000),
// seeding, the dump and the fingerprints. It asserts no times.
func TestSeedTime(t *testing.T) {
	if os.Getenv("CUTOVERBOT_BENCH") == "" {
		t.Skip("set CUTOVERBOT_BENCH=1 to measure seeding at MeshDB's size")
	}
	installs := 20000
	if n, err := strconv.Atoi(os.Getenv("CUTOVERBOT_BENCH_INSTALLS")); err == nil && n > 0 {
		installs = n
	}
	ctx := context.Background()
	s := start(t, 0)
	t0 := time.Now()
	require.NoError(t, s.Seed(ctx, "meshdb", "meshdb", installs))
	seed := time.Since(t0)
	t0 = time.Now()
	res, err := pg.Dump(ctx, local(s), db, filepath.Join(t.TempDir(), "o.dump"))
	require.NoError(t, err)
	dump := time.Since(t0)
	t0 = time.Now()
	fps := fingerprints(t, s)
	fp := time.Since(t0)
	require.Len(t, fps, 14)
	t.Logf("%d installs: seeded in %s, database %s, dump %.1f MB in %s, fingerprints in %s",
		installs, seed.Round(time.Millisecond), sql(t, s, "SELECT pg_size_pretty(pg_database_size('meshdb'))"),
		float64(res.Size)/1e6, dump.Round(time.Millisecond), fp.Round(time.Millisecond))
}

// emptyDB makes the meshdb role and an empty database, with or without meshdb_ro.
func emptyDB(t *testing.T, s *pgserver.Server, readOnlyRole bool) {
	stmts := []string{"CREATE ROLE meshdb LOGIN", "CREATE DATABASE meshdb OWNER meshdb"}
	if readOnlyRole {
		stmts = append(stmts, "CREATE ROLE meshdb_ro")
	}
	for _, q := range stmts {
		_, err := s.SQL(context.Background(), "postgres", q)
		require.NoError(t, err)
	}
}
