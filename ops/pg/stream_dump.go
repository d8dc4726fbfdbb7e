package pg

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// DumpResult describes a finished dump file.
type DumpResult struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Magic starts every custom-format dump.
const Magic = "PGDMP"

// ErrBadMagic says the stream is not a custom-format dump.
var ErrBadMagic = errors.New("not a pg_dump custom-format archive (no PGDMP magic)")

// magicCheck remembers the first bytes of the stream and stops it as soon as they are
// not the magic: a wrong stream is not worth spooling to the end.
type magicCheck struct{ head []byte }

func (m *magicCheck) Write(p []byte) (int, error) {
	if need := len(Magic) - len(m.head); need > 0 {
		m.head = append(m.head, p[:min(need, len(p))]...)
	}
	if m.bad() {
		return 0, ErrBadMagic
	}
	return len(p), nil
}

func (m *magicCheck) ok() bool { return string(m.head) == Magic }

// bad: what came so far already differs from the magic (a short stream is not bad yet).
func (m *magicCheck) bad() bool { return !strings.HasPrefix(Magic, string(m.head)) }

// Dump streams `pg_dump -Fc` out of the pod into path, hashing as it goes, so memory
// stays flat whatever the size. The file appears at path only when the dump is whole:
// exit status 0, the PGDMP magic, fsynced. On any failure nothing is left behind.
func Dump(ctx context.Context, ex Execer, db DB, path string) (DumpResult, error) {
	return DumpTee(ctx, ex, db, path, nil)
}

// DumpTee is Dump that also writes the stream to tee as it comes, after the magic
// check (a wrong stream is cut before it reaches tee). tee must not buffer without
// bound (a StageStream does not); an error from it is ignored and tee gets nothing
// more: the dump does not depend on it. Whether tee got the whole dump is for the
// caller to check against the result's size.
func DumpTee(ctx context.Context, ex Execer, db DB, path string, tee io.Writer) (DumpResult, error) {
	// A file left at path by an earlier attempt must not pass for this dump.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return DumpResult{}, report.Fail(report.SpoolFile{Of: report.SpoolRemoveOld, Path: path}, err)
	}
	return dumpTo(ctx, ex, db, path, tee, os.Rename)
}

// ErrExists says a backup would have replaced a file.
var ErrExists = errors.New("a file is already there")

// Backup is DumpTee for a backup: it never replaces or removes a file already at path
// (a backup of a run is never overwritten), and fails with ErrExists instead.
func Backup(ctx context.Context, ex Execer, db DB, path string, tee io.Writer) (DumpResult, error) {
	if _, err := os.Lstat(path); err == nil {
		return DumpResult{}, &report.Failed{Facts: report.BackupExists{Path: path}, Sentinel: ErrExists}
	}
	// link(2) fails if path appeared meanwhile: nothing is replaced.
	return dumpTo(ctx, ex, db, path, tee, func(partial, path string) error {
		if err := os.Link(partial, path); err != nil {
			if errors.Is(err, os.ErrExist) {
				return &report.Failed{Facts: report.BackupExists{Path: path}, Sentinel: ErrExists}
			}
			return err
		}
		return os.Remove(partial)
	})
}

func dumpTo(ctx context.Context, ex Execer, db DB, path string, tee io.Writer, place func(partial, path string) error) (DumpResult, error) {
	partial := path + ".partial"
	f, err := os.OpenFile(partial, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return DumpResult{}, report.Fail(report.SpoolFile{Of: report.SpoolCreate, Path: partial}, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(partial)
		}
	}()
	h := sha256.New()
	magic := &magicCheck{}
	buf := bufio.NewWriterSize(f, 1<<20)
	counter := &countWriter{}
	stderr := newTail(4096)
	// The magic check goes first so a wrong stream is cut before it reaches the file.
	out := io.MultiWriter(magic, buf, h, counter)
	if tee != nil {
		out = io.MultiWriter(out, &bestEffort{w: tee})
	}
	err = ex.Exec(ctx, track(ex, DumpArgv(db), "dump-"+filepath.Base(path)), nil, out, stderr)
	if magic.bad() {
		return DumpResult{}, &report.Failed{Facts: report.BadMagic{Head: string(magic.head), Cut: true}, Sentinel: ErrBadMagic}
	}
	if err != nil {
		return DumpResult{}, report.Fail(report.DumpExit{Command: strings.Join(DumpArgv(db), " "), Bytes: counter.n, Stderr: strings.TrimSpace(stderr.String())}, err)
	}
	if err := ctx.Err(); err != nil {
		return DumpResult{}, report.Fail(report.DumpStopped{Bytes: counter.n}, err)
	}
	if !magic.ok() {
		return DumpResult{}, &report.Failed{Facts: report.BadMagic{Head: string(magic.head), Bytes: counter.n}, Sentinel: ErrBadMagic}
	}
	if err := buf.Flush(); err != nil {
		return DumpResult{}, report.Fail(report.SpoolFile{Of: report.SpoolWrite, Path: partial}, err)
	}
	if err := f.Sync(); err != nil {
		return DumpResult{}, report.Fail(report.SpoolFile{Of: report.SpoolFsync, Path: partial}, err)
	}
	if err := f.Close(); err != nil {
		return DumpResult{}, report.Fail(report.SpoolFile{Of: report.SpoolClose, Path: partial}, err)
	}
	if err := place(partial, path); err != nil {
		// A refusal of ours (a backup is never overwritten) says it all.
		var refused *report.Failed
		if errors.As(err, &refused) {
			return DumpResult{}, err
		}
		return DumpResult{}, report.Fail(report.SpoolFile{Of: report.SpoolMove, Path: partial, To: path}, err)
	}
	ok = true
	// Best effort: the rename is durable once the directory is synced; a failure here
	// leaves a whole file anyway.
	syncDir(filepath.Dir(path))
	return DumpResult{Path: path, Size: counter.n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// bestEffort passes writes on until the first error, then drops them.
type bestEffort struct {
	w   io.Writer
	err error
}

func (b *bestEffort) Write(p []byte) (int, error) {
	if b.err == nil {
		if n, err := b.w.Write(p); err != nil || n != len(p) {
			b.err = errors.Join(err, io.ErrShortWrite)
		}
	}
	return len(p), nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// inPod is a command in the pod that failed (cause), with its stderr's last words.
func inPod(c report.PodCommand, cause error, stderr *tailWriter) error {
	c.Stderr = strings.TrimSpace(stderr.String())
	return report.Fail(c, cause)
}
