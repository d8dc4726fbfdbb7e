package pg_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// failed is the first failure of ours err carries: what a person reads is worded
// from its facts, so tests hold the facts rather than text.
func failed(t *testing.T, err error) *report.Failed {
	t.Helper()
	var f *report.Failed
	require.ErrorAs(t, err, &f)
	return f
}

// A backup refuses to replace a file, before it dumps and when the file appears while
// it dumps; the refusal is a failure with the path as data (the transport words it),
// and the file there is left as it was.
func TestBackupRefusesToOverwriteAsData(t *testing.T) {
	db := pg.DB{Name: "meshdb", User: "meshdb"}
	for _, tc := range []struct {
		name     string
		before   bool // the file is there before the backup starts
		dumped   bool // pg_dump ran
		appeared bool // the file appears while pg_dump runs
	}{
		{name: "already there", before: true},
		{name: "appears while dumping", dumped: true, appeared: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "b.dump")
			old := []byte("PGDMP the backup an earlier attempt took")
			if tc.before {
				require.NoError(t, os.WriteFile(path, old, 0o600))
			}
			dumped := false
			ex := pg.ExecFunc(func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
				dumped = true
				if tc.appeared {
					require.NoError(t, os.WriteFile(path, old, 0o600))
				}
				_, err := io.WriteString(stdout, "PGDMP a newer state")
				return err
			})
			_, err := pg.Backup(context.Background(), ex, db, path, nil)
			require.Error(t, err)
			assert.ErrorIs(t, err, pg.ErrExists)
			var f *report.Failed
			require.True(t, errors.As(err, &f), "%v", err)
			assert.Equal(t, report.BackupExists{Path: path}, f.Facts)
			assert.Equal(t, tc.dumped, dumped)
			got, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			assert.Equal(t, old, got, "the file there is left as it was")
		})
	}
}
