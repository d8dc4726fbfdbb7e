package pg_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// fakeDump is a pod whose pg_dump writes "PGDMP" and then size-5 bytes, 32 KiB at a
// time (as an exec stream does).
func fakeDump(size int) pg.Execer {
	return pg.ExecFunc(func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 2048)
		if _, err := stdout.Write([]byte(pg.Magic)); err != nil {
			return err
		}
		for left := size - len(pg.Magic); left > 0; {
			n := min(left, len(chunk))
			if _, err := stdout.Write(chunk[:n]); err != nil {
				return err
			}
			left -= n
		}
		return nil
	})
}

// fakePod is the destination pod: `sh -c 'cat > f && wc -c < f'` runs read(stdin,
// file) and prints the file's size; rm removes the file.
type fakePod struct {
	mu      sync.Mutex
	file    *bytes.Buffer
	removed []string
	read    func(ctx context.Context, stdin io.Reader, file io.Writer) error
	size    func(n int) int // what wc -c says
}

func (p *fakePod) Exec(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	switch argv[0] {
	case "sh":
		var f bytes.Buffer
		read := p.read
		if read == nil {
			read = func(_ context.Context, in io.Reader, out io.Writer) error { _, err := io.Copy(out, in); return err }
		}
		if err := read(ctx, stdin, &f); err != nil {
			return err
		}
		p.mu.Lock()
		p.file = &f
		p.mu.Unlock()
		n := f.Len()
		if p.size != nil {
			n = p.size(n)
		}
		fmt.Fprintln(stdout, n)
		return nil
	case "rm":
		p.mu.Lock()
		p.removed = append(p.removed, argv[len(argv)-1])
		p.mu.Unlock()
		return nil
	}
	return fmt.Errorf("fake pod: %s not found", argv[0])
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

const remote = "/tmp/cutoverbot-test.dump"

func TestStageStreamCopiesTheDumpAsItComesAndFollowsASlowPod(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		read func(ctx context.Context, in io.Reader, out io.Writer) error
	}{
		{"fast pod", nil},
		{"slow pod: the dump waits, nothing piles up", func(_ context.Context, in io.Reader, out io.Writer) error {
			buf := make([]byte, 64<<10)
			for {
				time.Sleep(5 * time.Millisecond)
				n, err := in.Read(buf)
				out.Write(buf[:n])
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &fakePod{read: tc.read}
			st, err := pg.StartStage(ctx, pod, remote, pg.StageOptions{Buffer: 1 << 20, Stall: 2 * time.Second})
			require.NoError(t, err)
			res, err := pg.DumpTee(ctx, fakeDump(6<<20), db, filepath.Join(t.TempDir(), "d.dump"), st)
			require.NoError(t, err)
			require.NoError(t, st.Finish(ctx, res.Size))
			assert.Equal(t, res.SHA256, sum(pod.file.Bytes()), "the pod holds the dump")
			assert.Empty(t, pod.removed)
		})
	}
}

func TestStageStreamGivesUpWithoutFailingTheDump(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		pod  *fakePod
		want func(t *testing.T, f *report.Failed)
	}{
		{"stalled pod", &fakePod{read: func(ctx context.Context, in io.Reader, out io.Writer) error {
			<-ctx.Done() // takes nothing until the copy is given up
			return ctx.Err()
		}}, func(t *testing.T, f *report.Failed) {
			assert.Equal(t, report.StageStalled{Stall: 200 * time.Millisecond}, f.Facts)
		}},
		{"pod dies halfway", &fakePod{read: func(_ context.Context, in io.Reader, out io.Writer) error {
			_, _ = io.CopyN(out, in, 1<<20)
			return errors.New("command terminated with exit code 137")
		}}, func(t *testing.T, f *report.Failed) {
			// The writer or Finish sees the end first: either way the command's failure.
			c, ok := f.Facts.(report.PodCommand)
			require.True(t, ok, "%v", f)
			assert.Contains(t, []report.PodCommandOf{report.CommandStageEnded, report.CommandStageStream}, c.Of)
			assert.Equal(t, remote, c.Path)
			assert.EqualError(t, f.Err, "command terminated with exit code 137")
		}},
		{"pod stores fewer bytes", &fakePod{size: func(n int) int { return n - 1 }}, func(t *testing.T, f *report.Failed) {
			assert.Equal(t, report.StageShort{Path: remote, Got: 4<<20 - 1, Sent: 4 << 20, Size: 4 << 20}, f.Facts)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := pg.StartStage(ctx, tc.pod, remote, pg.StageOptions{Buffer: 1 << 20, Stall: 200 * time.Millisecond})
			require.NoError(t, err)
			path := filepath.Join(t.TempDir(), "d.dump")
			res, err := pg.DumpTee(ctx, fakeDump(4<<20), db, path, st)
			require.NoError(t, err, "the dump does not depend on the copy")
			assert.Equal(t, int64(4<<20), res.Size)
			err = st.Finish(ctx, res.Size)
			require.Error(t, err)
			tc.want(t, failed(t, err))
			assert.Equal(t, []string{remote}, tc.pod.removed, "what reached the pod is removed")
			if tc.name == "stalled pod" {
				assert.LessOrEqual(t, st.Sent(), int64(1<<20), "no more than the buffer waits for the pod")
			}
		})
	}

	// A failed dump removes what reached the pod.
	pod := &fakePod{}
	st, err := pg.StartStage(ctx, pod, remote, pg.StageOptions{})
	require.NoError(t, err)
	_, err = pg.DumpTee(ctx, cutAfter(fakeDump(4<<20), 1<<20), db, filepath.Join(t.TempDir(), "d.dump"), st)
	require.Error(t, err)
	require.NoError(t, st.Abort(ctx, err))
	assert.Equal(t, []string{remote}, pod.removed)

	_, err = pg.StartStage(ctx, pod, "/tmp/x'; rm -rf /", pg.StageOptions{})
	assert.Equal(t, report.RemotePath{Path: "/tmp/x'; rm -rf /"}, failed(t, err).Facts)
}

func TestStateMovesWithEveryKindOfWrite(t *testing.T) {
	ctx := context.Background()
	s := server(t)
	emptyDB(t, s, false)
	_, err := s.SQLAs(ctx, "meshdb", "meshdb", "CREATE TABLE item (id serial PRIMARY KEY, notes text);\n"+
		"INSERT INTO item (notes) SELECT 'n' || i FROM generate_series(1, 500) i;\n")
	require.NoError(t, err)
	sql(t, s, "ANALYZE")
	sql(t, s, "VACUUM") // after ANALYZE: the next reader would prune its dead rows in pg_statistic
	sql(t, s, "CHECKPOINT")
	read := func() pg.State {
		st, err := pg.ReadState(ctx, local(s), db)
		require.NoError(t, err)
		return st
	}
	a := read()
	assert.True(t, a.Quiet())
	_, err = pg.Dump(ctx, local(s), db, filepath.Join(t.TempDir(), "b.dump"))
	require.NoError(t, err)
	assert.Equal(t, a.String(), read().String(), "reading, dumping included, changes nothing")
	sql(t, s, "CHECKPOINT")
	sql(t, s, "SELECT pg_switch_wal()")
	assert.Equal(t, a.String(), read().String(), "WAL that carries no transaction changes nothing")

	// A write rolled back is counted too: the rule may only err towards "changed".
	_, err = s.SQLAs(ctx, "meshdb", "meshdb", "BEGIN; UPDATE item SET notes = 'z' WHERE id = 3; ROLLBACK;")
	require.NoError(t, err)
	rolled := read()
	assert.NotEqual(t, a.NextXid, rolled.NextXid)
	a = rolled

	sql(t, s, "UPDATE item SET notes = 'x' WHERE id = 1")
	b := read()
	assert.NotEqual(t, a.NextXid, b.NextXid)
	assert.Greater(t, b.RowChanges, a.RowChanges)

	// nextval logs 32 values at a time: the next ones write no WAL, the sequences tell.
	sql(t, s, "SELECT nextval('item_id_seq')")
	c := read()
	sql(t, s, "SELECT nextval('item_id_seq')")
	d := read()
	assert.NotEqual(t, c.Sequences, d.Sequences)
	assert.NotEqual(t, c.String(), d.String())

	// A write transaction still open is counted, whoever runs it.
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = s.SQLAs(ctx, "meshdb", "meshdb", "BEGIN; UPDATE item SET notes = 'y' WHERE id = 2; SELECT pg_sleep(1); COMMIT;")
	}()
	require.Eventually(t, func() bool { return !read().Quiet() }, 10*time.Second, 20*time.Millisecond)
	<-done
	assert.True(t, read().Quiet())

	_, err = pg.ParseState("740|x|0|abc")
	assert.Error(t, err)
	_, err = pg.ParseState("0/16B3D48|12|0|none")
	assert.Error(t, err, "a WAL position is not an xid")
	st, err := pg.ParseState("740|12|0|none")
	require.NoError(t, err)
	assert.Equal(t, "next xid 740, 12 row changes, 0 open writes, sequences none", st.String())
}
