package pg_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// shell runs commands on this machine, as a pod's shell would.
type shell struct{}

func (shell) Exec(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	return cmd.Run()
}

// tracked is an execer that tracks its long commands, as a pod exec bound to an attempt.
type tracked struct {
	pg.Execer
	tag     pg.Tag
	pidFile string
}

func (x tracked) Track(argv []string, _ string) []string { return pg.Tracked(argv, x.tag, x.pidFile) }

// What a pod says of its cores and memory, and what the restore makes of it.
func TestPodResourcesChooseJobsAndMemory(t *testing.T) {
	const gib = int64(1 << 30)
	for _, tc := range []struct {
		name     string
		out      string
		cores    int
		memory   int64
		jobs     int
		memKB    int64 // maintenance_work_mem for those jobs; 0: the server's
		describe string
	}{
		{"no cgroup files (a VM)", "nproc 2\nMemTotal:       24683784 kB\n", 2, 24683784 * 1024, 2, 1 << 20, "2 cores (nproc), 23.5 GiB (node)"},
		{"cgroup v2 limits", "nproc 16\ncpu.max 150000 100000\nmemory.max 2147483648\nMemTotal: 65536000 kB\n", 2, 2 * gib, 2, 128 << 10, "2 cores (CPU limit 1.50), 2.0 GiB (memory limit)"},
		{"cgroup v2 without limits", "nproc 8\ncpu.max max 100000\nmemory.max max\nMemTotal: 16384000 kB\n", 8, 16384000 * 1024, 4, 500 << 10, "8 cores (nproc), 15.6 GiB (node)"},
		{"cgroup v1 limits", "nproc 4\ncpu.cfs 100000 100000\nmemory.limit 1073741824\nMemTotal: 8000000 kB\n", 1, gib, 1, 128 << 10, "1 cores (CPU limit 1.00), 1.0 GiB (memory limit)"},
		{"cgroup v1 without limits", "nproc 4\ncpu.cfs -1 100000\nmemory.limit 9223372036854771712\nMemTotal: 8000000 kB\n", 4, 8000000 * 1024, 4, 244 << 10, "4 cores (nproc), 7.6 GiB (node)"},
		{"a small pod", "nproc 2\ncpu.max 50000 100000\nmemory.max 536870912\nMemTotal: 8000000 kB\n", 1, gib / 2, 1, 0, "1 cores (CPU limit 0.50), 0.5 GiB (memory limit)"},
		{"quota a hair above a core", "nproc 4\ncpu.max 102000 100000\n", 1, 0, 1, 0, "1 cores (CPU limit 1.02), memory unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := pg.ParsePodResources(tc.out)
			assert.Equal(t, tc.cores, r.Cores())
			assert.Equal(t, tc.memory, r.Memory())
			assert.Equal(t, tc.jobs, r.AutoJobs())
			assert.Equal(t, tc.memKB, r.RestoreMaintenanceWorkMemKB(r.AutoJobs()))
			assert.Equal(t, tc.describe, r.String())
		})
	}
}

// The script runs in a shell as the pod's would, and finds this machine's cores.
func TestReadPodResourcesHere(t *testing.T) {
	r, err := pg.ReadPodResources(context.Background(), shell{})
	require.NoError(t, err)
	assert.Equal(t, runtime.NumCPU(), r.CPUs)
	assert.Positive(t, r.Memory())

	_, err = pg.ReadPodResources(context.Background(), pg.ExecFunc(func(context.Context, []string, io.Reader, io.Writer, io.Writer) error { return nil }))
	assert.Equal(t, report.UnexpectedAnswer{Of: report.AnswerNproc}, failed(t, err).Facts, "a pod that says nothing")
}

// The restore's maintenance_work_mem reaches every session it opens, tracked or not:
// a value the server refuses fails the restore before anything is restored, and one
// it takes restores everything.
func TestRestoreSessionsGetTheirMaintenanceWorkMem(t *testing.T) {
	ctx := context.Background()
	origin, dest := startPair(t)
	res, err := pg.Dump(ctx, local(origin), db, filepath.Join(t.TempDir(), "origin.dump"))
	require.NoError(t, err)
	before := fingerprints(t, dest)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		ex   pg.Execer
	}{
		{"untracked", local(dest)},
		{"tracked", tracked{local(dest), pg.Tag{Run: "20261207-0300-feed", Step: "restore-destination", Attempt: 1}, filepath.Join(dir, "restore.pid")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			remote := filepath.Join(t.TempDir(), "in-pod.dump")
			require.NoError(t, pg.Stage(ctx, tc.ex, res, remote))
			_, err := pg.RestoreStaged(ctx, tc.ex, db, res, remote, pg.RestoreOptions{Jobs: 2, MaintenanceWorkMemKB: 1})
			require.Error(t, err, "1kB is below the server's minimum")
			assert.Contains(t, err.Error(), "maintenance_work_mem")
			assert.Empty(t, pg.CompareFingerprints(before, fingerprints(t, dest)), "nothing was restored")

			rr, err := pg.RestoreStaged(ctx, tc.ex, db, res, remote, pg.RestoreOptions{Jobs: 2, MaintenanceWorkMemKB: 300 << 10})
			require.NoError(t, err)
			assert.Zero(t, rr.IgnoredErrors)
			assert.Empty(t, pg.CompareFingerprints(fingerprints(t, origin), fingerprints(t, dest)))
			require.NoError(t, pg.Unstage(ctx, tc.ex, remote))
			sql(t, dest, "TRUNCATE meshapi_los") // the next row starts from a destination unlike the origin
			before = fingerprints(t, dest)
		})
	}
	pid, err := os.ReadFile(filepath.Join(dir, "restore.pid"))
	require.NoError(t, err, "the tracked restore wrote its pid")
	_, err = strconv.Atoi(strings.TrimSpace(string(pid)))
	assert.NoError(t, err)
}
