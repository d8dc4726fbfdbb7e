package pg_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Small fakes of a pod: what Dump and Restore do with what comes back.

func TestDumpFailuresLeaveNoFile(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		stream func(w io.Writer) error
		wantIs error
		want   report.Facts
		cause  string // the cause's text, "" none
	}{
		{"error after a whole-looking stream", func(w io.Writer) error {
			_, _ = io.WriteString(w, "PGDMP"+strings.Repeat("x", 1000))
			return errors.New("exit code 137")
		}, nil, report.DumpExit{Command: strings.Join(pg.DumpArgv(db), " "), Bytes: 1005}, "exit code 137"},
		{"stream shorter than the magic", func(w io.Writer) error {
			_, err := io.WriteString(w, "PGD")
			return err
		}, pg.ErrBadMagic, report.BadMagic{Head: "PGD", Bytes: 3}, ""},
		{"empty stream", func(w io.Writer) error { return nil }, pg.ErrBadMagic, report.BadMagic{}, ""},
		{"cut inside the magic", func(w io.Writer) error {
			_, _ = io.WriteString(w, "PG")
			return errors.New("connection reset")
		}, nil, report.DumpExit{Command: strings.Join(pg.DumpArgv(db), " "), Bytes: 2}, "connection reset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "d.dump")
			// A file from an earlier attempt must not survive as if it were this dump.
			require.NoError(t, os.WriteFile(path, []byte("PGDMP old and complete"), 0o600))
			ex := pg.ExecFunc(func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
				return tc.stream(stdout)
			})
			_, err := pg.Dump(ctx, ex, db, path)
			require.Error(t, err)
			if tc.wantIs != nil {
				assert.ErrorIs(t, err, tc.wantIs)
			} else {
				assert.NotErrorIs(t, err, pg.ErrBadMagic)
			}
			f := failed(t, err)
			assert.Equal(t, tc.want, f.Facts)
			if tc.cause == "" {
				assert.NoError(t, f.Err)
			} else {
				assert.EqualError(t, f.Err, tc.cause)
			}
			entries, _ := os.ReadDir(dir)
			assert.Empty(t, entries, "neither the dump nor a partial file")
		})
	}
}

func TestDumpStopsAWrongStreamAtOnce(t *testing.T) {
	written := 0
	ex := pg.ExecFunc(func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
		chunk := bytes.Repeat([]byte("-- SQL "), 10_000)
		for i := 0; i < 1000; i++ { // 70 MB if nobody stops it
			n, err := stdout.Write(chunk)
			written += n
			if err != nil {
				return err
			}
		}
		return nil
	})
	dir := t.TempDir()
	_, err := pg.Dump(context.Background(), ex, pg.DB{Name: "meshdb", User: "meshdb"}, filepath.Join(dir, "d.dump"))
	assert.ErrorIs(t, err, pg.ErrBadMagic)
	assert.Equal(t, 0, written, "the first write is refused")
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries)
}

func TestRestoreRefusesUnsafeRemotePathsBeforeRunningAnything(t *testing.T) {
	for _, p := range []string{"/tmp/x'; rm -rf /", "relative.dump", "/tmp/../etc/passwd", "/tmp/a b", "-rf", ""} {
		t.Run(p, func(t *testing.T) {
			calls := 0
			ex := pg.ExecFunc(func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
				calls++
				return nil
			})
			_, err := pg.Restore(context.Background(), ex, pg.DB{Name: "meshdb", User: "meshdb"}, pg.DumpResult{Path: "/nonexistent", SHA256: "x"}, p, 1)
			assert.Equal(t, report.RemotePath{Path: p}, failed(t, err).Facts)
			assert.Equal(t, report.RemotePath{Path: p}, failed(t, pg.Unstage(context.Background(), ex, p)).Facts)
			assert.Zero(t, calls, "no command runs in the pod")
		})
	}
}

func TestRestoreCleansUpEvenWhenTheContextIsDone(t *testing.T) {
	dump := filepath.Join(t.TempDir(), "d.dump")
	require.NoError(t, os.WriteFile(dump, []byte("PGDMP..."), 0o600))
	var ran []string
	rmCtxErr := errors.New("rm did not run")
	ex := pg.ExecFunc(func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
		ran = append(ran, argv[0])
		if argv[0] == "rm" {
			rmCtxErr = ctx.Err()
		}
		return ctx.Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := pg.Restore(ctx, ex, pg.DB{Name: "meshdb", User: "meshdb"}, pg.DumpResult{Path: dump, SHA256: "abc"}, "/tmp/cutoverbot-x.dump", 1)
	require.Error(t, err)
	assert.Equal(t, []string{"sh", "rm"}, ran)
	assert.NoError(t, rmCtxErr, "the removal gets a live context of its own")
}

func TestRestoreReadsThePgRestoreLog(t *testing.T) {
	dump := filepath.Join(t.TempDir(), "d.dump")
	require.NoError(t, os.WriteFile(dump, []byte("PGDMP fake"), 0o600))
	sum := sha256File(t, dump)
	for _, tc := range []struct {
		name    string
		log     string
		exit    error
		ok      bool
		ignored int
		lost    bool // the error says the server was lost part-way
	}{
		{"clean", "", nil, true, 0, false},
		{"ignored errors", "pg_restore: error: could not execute query: ERROR:  role \"meshdb_ro\" does not exist\nCommand was: GRANT SELECT ON TABLE public.x TO meshdb_ro;\npg_restore: warning: errors ignored on restore: 1\n", errors.New("exit 1"), true, 1, false},
		{"error without summary", "pg_restore: error: could not read input file: end of file\n", errors.New("exit 1"), false, 0, false},
		{"non-zero exit, nothing said", "", errors.New("exit 137"), false, 0, false},
		{"error lines but exit 0", "pg_restore: error: something\n", nil, false, 0, false},
		// pg_restore -j: a worker that lost the server ends it without the summary.
		{"server lost under -j", "pg_restore: error: could not execute query: no connection to the server\nCommand was: ALTER TABLE public.x OWNER TO meshdb;\n" +
			"pg_restore: error: reconnection failed: connection to server at \"127.0.0.1\", port 5432 failed: server closed the connection unexpectedly\n" +
			"pg_restore: error: a worker process died unexpectedly\n", errors.New("exit 1"), false, 0, true},
		{"server lost, one job", "pg_restore: error: could not execute query: server closed the connection unexpectedly\npg_restore: warning: errors ignored on restore: 3\n", errors.New("exit 1"), false, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var removed bool
			ex := pg.ExecFunc(func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
				switch argv[0] {
				case "sh":
					_, err := io.Copy(io.Discard, stdin)
					return err
				case "sha256sum":
					_, err := io.WriteString(stdout, sum+"  "+argv[1]+"\n")
					return err
				case "pg_restore":
					_, _ = io.WriteString(stderr, tc.log)
					return tc.exit
				case "rm":
					removed = true
				}
				return nil
			})
			res, err := pg.Restore(context.Background(), ex, pg.DB{Name: "meshdb", User: "meshdb"}, pg.DumpResult{Path: dump, SHA256: sum}, "/tmp/cutoverbot-r.dump", 1)
			assert.True(t, removed, "the copy in the pod is removed")
			assert.Equal(t, tc.ignored, res.IgnoredErrors)
			if tc.ok {
				require.NoError(t, err)
				assert.Len(t, res.Messages, tc.ignored)
				return
			}
			r, isRestore := failed(t, err).Facts.(report.PgRestore)
			require.True(t, isRestore, "%v", err)
			assert.Equal(t, "meshdb", r.Database)
			assert.Contains(t, r.Log, strings.TrimSpace(strings.SplitN(tc.log, "\n", 2)[0]), "the failure keeps the log")
			assert.Equal(t, tc.lost, r.How == report.RestoreLostServer, r.How)
		})
	}
}

func sha256File(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestParseRestoreLog(t *testing.T) {
	for _, tc := range []struct {
		name     string
		log      string
		ignored  int
		messages int
		fatal    bool
	}{
		{"nothing", "", 0, 0, false},
		{"warnings only", "pg_restore: warning: could not find where to insert IF EXISTS in statement\n", 0, 0, false},
		{"ignored", "pg_restore: error: could not execute query: ERROR:  role \"meshdb_ro\" does not exist\nCommand was: GRANT ...\npg_restore: error: could not execute query: ERROR:  table \"x\" does not exist\npg_restore: warning: errors ignored on restore: 2\n", 2, 2, false},
		{"connection refused", "pg_restore: error: connection to server at \"127.0.0.1\", port 5432 failed: Connection refused\n", 0, 1, true},
		{"before PostgreSQL 15", "pg_restore: fatal: could not open input file \"/tmp/x.dump\": No such file or directory\n", 0, 1, true},
		{"server gone mid-restore, errors ignored", "pg_restore: error: could not execute query: FATAL:  terminating connection due to administrator command\npg_restore: warning: errors ignored on restore: 1\n", 1, 1, true},
		// As seen in the reliability suite: the server stopped (immediate) while pg_restore
		// waited on a lock; it failed every item left and called them ignored.
		{"no connection to the server, errors ignored", "pg_restore: error: could not execute query: server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\npg_restore: error: could not execute query: no connection to the server\npg_restore: error: could not execute query: no connection to the server\npg_restore: warning: errors ignored on restore: 171\n", 171, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ignored, msgs, fatal := pg.ParseRestoreLog(tc.log)
			assert.Equal(t, tc.ignored, ignored)
			assert.Len(t, msgs, tc.messages)
			assert.Equal(t, tc.fatal, fatal)
		})
	}
}

func TestCompareFingerprints(t *testing.T) {
	origin := []pg.Fingerprint{{"a", 1, "aaaaaaaaaa"}, {"b", 2, "bbbbbbbbbb"}, {"c", 3, "cccccccccc"}, {"d", 4, "dddddddddd"}}
	dest := []pg.Fingerprint{{"e", 5, "eeeeeeeeee"}, {"d", 4, "dddddddddd"}, {"c", 3, "cccccccccx"}, {"b", 1, "bbbbbbbbbb"}}
	var got []string
	for _, d := range pg.CompareFingerprints(origin, dest) {
		got = append(got, d.String())
	}
	assert.Equal(t, []string{
		"a: missing on the destination (1 rows on the origin)",
		"b: 2 rows on the origin, 1 on the destination",
		"c: same 3 rows, different content (md5 cccccccc vs cccccccc)",
		"e: only on the destination (5 rows)",
	}, got)
	assert.Empty(t, pg.CompareFingerprints(origin, origin))
	assert.Empty(t, pg.CompareFingerprints(nil, nil))
}
