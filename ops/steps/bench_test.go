package steps_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/pg/pgserver"
	"github.com/nycmeshnet/cutoverbot/sandbox"
)

// peakRSS reads this process's high-water mark of resident memory.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.Fields(sc.Text())[1], 10, 64)
			return kb * 1024
		}
	}
	return -1
}

// resetPeak lets VmHWM start again from the current RSS (Linux: write 5 to clear_refs).
func resetPeak() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func sh(ctx context.Context, script string, env ...string) error {
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", script, err, out)
	}
	return nil
}

// TestBenchmarkDumpRestore measures the bot's dump+restore path through client-go and
// the local Kubernetes API against the floor (a raw pg_dump | pg_restore pipe), the
// manual runbook (dump to a file, copy to a laptop, copy to the destination, restore)
// and pgcopydb when installed. It prints a table of ratios; it asserts no times.
// CUTOVERBOT_BENCH=1 runs it; CUTOVERBOT_BENCH_INSTALLS sets the size.
func TestBenchmarkDumpRestore(t *testing.T) {
	if os.Getenv("CUTOVERBOT_BENCH") == "" {
		t.Skip("set CUTOVERBOT_BENCH=1 (make bench)")
	}
	installs := 130000
	if v, err := strconv.Atoi(os.Getenv("CUTOVERBOT_BENCH_INSTALLS")); err == nil {
		installs = v
	}
	ctx := context.Background()
	dir := t.TempDir()
	origin, err := sandbox.NewCluster(ctx, "prod2", filepath.Join(dir, "prod2"), sandbox.Options{Installs: installs})
	require.NoError(t, err)
	t.Cleanup(origin.Close)
	dest, err := sandbox.NewCluster(ctx, "prod1", filepath.Join(dir, "prod1"), sandbox.Options{Installs: 1000})
	require.NoError(t, err)
	t.Cleanup(dest.Close)
	jobs := 2 // pg_restore -j works from a file: the copy into the pod makes it possible
	if v, err := strconv.Atoi(os.Getenv("CUTOVERBOT_BENCH_JOBS")); err == nil {
		jobs = v
	}
	w := worldFromConfig(t, dir, origin, dest, func(c *config.Config) { c.Database.RestoreJobs = jobs })
	size, _ := origin.PG.SQL(ctx, "meshdb", "SELECT pg_size_pretty(pg_database_size('meshdb'))")

	type row struct {
		name string
		d    time.Duration
		rss  int64
		note string
	}
	var rows []row
	check := func() {
		db := pg.DB{Name: "meshdb", User: "meshdb", ExcludeTables: []string{"flags_flagstate"}}
		a, err := pg.Fingerprints(ctx, origin.Execer(), db)
		require.NoError(t, err)
		b, err := pg.Fingerprints(ctx, dest.Execer(), db)
		require.NoError(t, err)
		require.Empty(t, pg.CompareFingerprints(a, b), "every path must restore the same data")
	}

	// The bot: the dump step and the restore step, as the engine runs them.
	resetPeak()
	start := time.Now()
	out, err := w.step(t, "dump-origin")
	require.NoError(t, err)
	dumpSize, _ := strconv.ParseInt(out.Values["size"], 10, 64)
	_, err = w.step(t, "restore-destination")
	require.NoError(t, err)
	rows = append(rows, row{fmt.Sprintf("bot: dump + restore (-j %d) through client-go exec", jobs), time.Since(start), peakRSS(), "includes the destination backup, the copy into the pod and its sha256"})
	check()

	env := func(s *pgserver.Server) string { return fmt.Sprintf("PGHOST=127.0.0.1 PGPORT=%d", s.Port()) }
	bin, err := pgserver.BinDir()
	require.NoError(t, err)
	start = time.Now()
	require.NoError(t, sh(ctx, fmt.Sprintf("%s %s/pg_dump -d meshdb -U meshdb -Fc | %s %s/pg_restore -d meshdb -U meshdb -c --if-exists", env(origin.PG), bin, env(dest.PG), bin)))
	rows = append(rows, row{"raw pipe: pg_dump -Fc | pg_restore -c --if-exists", time.Since(start), 0, "the floor: no file, no checks"})
	check()

	laptop := filepath.Join(dir, "laptop")
	require.NoError(t, os.MkdirAll(laptop, 0o700))
	start = time.Now()
	require.NoError(t, sh(ctx, fmt.Sprintf("%[1]s %[2]s/pg_dump -d meshdb -U meshdb -Fc -f %[3]s/origin.dump && cp %[3]s/origin.dump %[4]s/ && cp %[4]s/origin.dump %[3]s/dest.dump && %[5]s %[2]s/pg_restore -d meshdb -U meshdb -c --if-exists %[3]s/dest.dump",
		env(origin.PG), bin, dir, laptop, env(dest.PG))))
	rows = append(rows, row{"manual runbook: dump, copy to laptop, copy to dest, restore", time.Since(start), 0, "kubectl cp/scp hops as local copies"})
	check()

	if p, err := exec.LookPath("pgcopydb"); err == nil {
		start = time.Now()
		err := sh(ctx, fmt.Sprintf("%s clone --source 'postgres://meshdb@127.0.0.1:%d/meshdb' --target 'postgres://meshdb@127.0.0.1:%d/meshdb' --dir %s/pgcopydb --drop-if-exists --no-owner --no-acl >/dev/null 2>&1", p, origin.PG.Port(), dest.PG.Port(), dir))
		note := "Debian's pgcopydb"
		if err != nil {
			note = "failed: " + strings.SplitN(err.Error(), "\n", 2)[0]
		}
		rows = append(rows, row{"pgcopydb clone", time.Since(start), 0, note})
	} else {
		rows = append(rows, row{"pgcopydb clone", 0, 0, "not installed (apt-get install pgcopydb)"})
	}

	raw := rows[1].d
	fmt.Printf("\nDump and restore, %d installs (database %s, custom-format dump %.1f MB), 2 cores:\n", installs, strings.TrimSpace(size), float64(dumpSize)/1e6)
	fmt.Printf("%-62s %10s %8s %12s  %s\n", "path", "time", "x raw", "peak RSS", "note")
	for _, r := range rows {
		rss := "-"
		if r.rss > 0 {
			rss = fmt.Sprintf("%.0f MB", float64(r.rss)/1e6)
		}
		ratio := "-"
		if r.d > 0 {
			ratio = fmt.Sprintf("%.2f", float64(r.d)/float64(raw))
		}
		fmt.Printf("%-62s %10s %8s %12s  %s\n", r.name, r.d.Round(10*time.Millisecond), ratio, rss, r.note)
	}
	fmt.Printf("bot vs manual: %.2fx\n", float64(rows[0].d)/float64(rows[2].d))
}
