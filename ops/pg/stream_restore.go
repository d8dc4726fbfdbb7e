package pg

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// RestoreResult is what pg_restore said.
type RestoreResult struct {
	IgnoredErrors int
	Messages      []string
	LogTail       string
	RemoteFile    string
}

// ErrChecksum says the copy in the pod is not the dump that was taken.
var ErrChecksum = errors.New("sha256 mismatch")

// checksumErr is a sha256 that did not match, as a failure (errors.Is ErrChecksum).
func checksumErr(c report.Checksum) error {
	return &report.Failed{Facts: c, Sentinel: ErrChecksum}
}

var safePath = regexp.MustCompile(`^/[A-Za-z0-9/._,-]+$`)

// checkRemotePath keeps the path safe inside the single quotes of `sh -c` and as an
// argument of rm: absolute, plain characters, no "..".
func checkRemotePath(p string) error {
	if !safePath.MatchString(p) || strings.Contains(p, "..") {
		return report.Fail(report.RemotePath{Path: p}, nil)
	}
	return nil
}

// Restore copies the dump into the pod, proves the copy is the same bytes (sha256sum
// there against the local sum), and runs pg_restore -c --if-exists on it (-j needs a
// file, not stdin). The copy in the pod is removed whatever happens.
func Restore(ctx context.Context, ex Execer, db DB, local DumpResult, remoteFile string, jobs int) (RestoreResult, error) {
	if err := checkRemotePath(remoteFile); err != nil {
		return RestoreResult{RemoteFile: remoteFile}, err
	}
	defer func() { _ = Unstage(ctx, ex, remoteFile) }()
	if err := Stage(ctx, ex, local, remoteFile); err != nil {
		return RestoreResult{RemoteFile: remoteFile}, err
	}
	return RestoreStaged(ctx, ex, db, local, remoteFile, RestoreOptions{Jobs: jobs})
}

// Unstage removes the copy in the pod, even when ctx is done (with a fresh, short
// deadline): a dump of the whole database must not stay behind in /tmp of a pod.
// Callers that defer it may ignore the error; it says which file is left.
func Unstage(ctx context.Context, ex Execer, remoteFile string) error {
	if err := checkRemotePath(remoteFile); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	stderr := newTail(1024)
	if err := ex.Exec(rctx, []string{"rm", "-f", remoteFile}, nil, io.Discard, stderr); err != nil {
		return inPod(report.PodCommand{Of: report.CommandRemove, Path: remoteFile}, err, stderr)
	}
	return nil
}

// Stage copies the dump into the pod and checks that the copy there is the dump.
func Stage(ctx context.Context, ex Execer, local DumpResult, remoteFile string) error {
	if err := checkRemotePath(remoteFile); err != nil {
		return err
	}
	f, err := os.Open(local.Path)
	if err != nil {
		return report.Fail(report.SpoolFile{Of: report.SpoolOpen, Path: local.Path}, err)
	}
	defer f.Close()
	// Copy, hashing what is sent: the spool file itself must still be the dump.
	h := sha256.New()
	stderr := newTail(4096)
	if err := ex.Exec(ctx, track(ex, StageArgv(remoteFile), "stage-"+path.Base(remoteFile)), io.TeeReader(f, h), io.Discard, stderr); err != nil {
		return inPod(report.PodCommand{Of: report.CommandStage, Path: remoteFile}, err, stderr)
	}
	if sent := hex.EncodeToString(h.Sum(nil)); sent != local.SHA256 {
		return checksumErr(report.Checksum{Of: report.ChecksumSent, Got: sent, Want: local.SHA256})
	}
	return CheckStaged(ctx, ex, local, remoteFile)
}

// CheckStaged runs sha256sum on the copy in the pod and compares it with the dump's
// sha256: ErrChecksum when they differ, another error when the file cannot be read
// (it is gone: the pod restarted).
func CheckStaged(ctx context.Context, ex Execer, local DumpResult, remoteFile string) error {
	if err := checkRemotePath(remoteFile); err != nil {
		return err
	}
	if len(local.SHA256) != 64 {
		return checksumErr(report.Checksum{Of: report.ChecksumNone, Want: local.SHA256})
	}
	var out bytes.Buffer
	stderr := newTail(4096)
	if err := ex.Exec(ctx, track(ex, []string{"sha256sum", remoteFile}, "sha256sum-"+path.Base(remoteFile)), nil, &out, stderr); err != nil {
		return inPod(report.PodCommand{Of: report.CommandSHA256, Path: remoteFile}, err, stderr)
	}
	fields := strings.Fields(out.String())
	if len(fields) == 0 || fields[0] != local.SHA256 {
		got := "(nothing)"
		if len(fields) > 0 {
			got = fields[0]
		}
		return checksumErr(report.Checksum{Of: report.ChecksumCopy, Got: got, Want: local.SHA256})
	}
	return nil
}

// RestoreOptions tune pg_restore.
type RestoreOptions struct {
	Jobs int // pg_restore -j; 1 or less: one
	// MaintenanceWorkMemKB is the maintenance_work_mem of the restore's sessions
	// (RestoreEnv); 0 leaves the server's.
	MaintenanceWorkMemKB int64
}

// RestoreStaged runs pg_restore on a staged copy, reading what it says rather than
// trusting its exit code.
func RestoreStaged(ctx context.Context, ex Execer, db DB, local DumpResult, remoteFile string, opts RestoreOptions) (RestoreResult, error) {
	res := RestoreResult{RemoteFile: remoteFile}
	log := newTail(256 << 10)
	argv := WithEnv(RestoreArgv(db, remoteFile, opts.Jobs), RestoreEnv(opts.MaintenanceWorkMemKB)...)
	err := ex.Exec(ctx, track(ex, argv, "restore"), nil, io.Discard, log)
	res.LogTail = log.String()
	ignored, msgs, fatal := ParseRestoreLog(res.LogTail)
	res.IgnoredErrors, res.Messages = ignored, msgs
	// A lost server is said first: with -j, a worker that lost it ends pg_restore
	// without the "errors ignored on restore" summary.
	if (fatal || err != nil) && lostServer(strings.ToLower(res.LogTail)) {
		return res, report.Fail(report.PgRestore{Database: db.Name, How: report.RestoreLostServer, Log: lastLines(res.LogTail, 15)}, nil)
	}
	if err != nil && ignored == 0 {
		return res, report.Fail(report.PgRestore{Database: db.Name, How: report.RestoreUnfinished, Log: lastLines(res.LogTail, 15)}, err)
	}
	if fatal {
		return res, report.Fail(report.PgRestore{Database: db.Name, How: report.RestoreFatal, Log: lastLines(res.LogTail, 15)}, nil)
	}
	return res, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
