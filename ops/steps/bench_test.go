package steps_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/pg/pgserver"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
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
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

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
// and pgcopydb when installed. Every path starts from the same destination (its
// original 1,000 installs are restored, untimed, before each), and the paths run in
// interleaved rounds so that a burst of load on the shared machine hits one round, not
// one path. It prints a table of ratios; it asserts no times.
// CUTOVERBOT_BENCH=1 runs it; CUTOVERBOT_BENCH_INSTALLS sets the size,
// CUTOVERBOT_BENCH_JOBS the bot's restore_jobs (2), CUTOVERBOT_BENCH_ROUNDS the rounds (2).
func TestBenchmarkDumpRestore(t *testing.T) {
	if os.Getenv("CUTOVERBOT_BENCH") == "" {
		t.Skip("set CUTOVERBOT_BENCH=1 (make bench)")
	}
	installs := 80000 // about 50 MB of dump, the small size
	if v, err := strconv.Atoi(os.Getenv("CUTOVERBOT_BENCH_INSTALLS")); err == nil {
		installs = v
	}
	rounds := 2
	if v, err := strconv.Atoi(os.Getenv("CUTOVERBOT_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
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
	// The same bot at pg_dump's own compression level (6, what the raw pipe and the
	// manual runbook use), to show what database.dump_compression buys.
	dir6 := filepath.Join(dir, "z6")
	require.NoError(t, os.MkdirAll(dir6, 0o700))
	level6 := 6
	w6 := worldFromConfig(t, dir6, origin, dest, func(c *config.Config) {
		c.Database.RestoreJobs, c.Database.DumpCompression = jobs, &level6
	})
	size, _ := origin.PG.SQL(ctx, "meshdb", "SELECT pg_size_pretty(pg_database_size('meshdb'))")

	check := func() {
		db := pg.DB{Name: "meshdb", User: "meshdb", ExcludeTables: []string{"flags_flagstate"}}
		a, err := pg.Fingerprints(ctx, origin.Execer(), db)
		require.NoError(t, err)
		b, err := pg.Fingerprints(ctx, dest.Execer(), db)
		require.NoError(t, err)
		require.Empty(t, pg.CompareFingerprints(a, b), "every path must restore the same data")
	}
	env := func(s *pgserver.Server) string { return fmt.Sprintf("PGHOST=127.0.0.1 PGPORT=%d", s.Port()) }
	bin, err := pgserver.BinDir()
	require.NoError(t, err)
	destOrig := filepath.Join(dir, "dest-original.dump")
	require.NoError(t, sh(ctx, fmt.Sprintf("%s %s/pg_dump -d meshdb -U meshdb -Fc -f %s", env(dest.PG), bin, destOrig)))
	// The reset ends with VACUUM ANALYZE and a checkpoint so that neither autovacuum nor
	// the checkpointer works on the freshly restored tables during the next path.
	reset := func() {
		require.NoError(t, sh(ctx, fmt.Sprintf("%s %s/pg_restore -d meshdb -U meshdb -c --if-exists %s", env(dest.PG), bin, destOrig)))
		_, err := dest.PG.SQL(ctx, "meshdb", "VACUUM ANALYZE")
		require.NoError(t, err)
		_, err = dest.PG.SQL(ctx, "meshdb", "CHECKPOINT") // its dirty pages written now, not during the next path
		require.NoError(t, err)
	}
	laptop := filepath.Join(dir, "laptop")
	require.NoError(t, os.MkdirAll(laptop, 0o700))

	type path struct {
		name, note string
		run        func() error
		times      []time.Duration
		rss        int64
	}
	var timeline strings.Builder
	dumpSize := map[*world]int64{}
	botPath := func(w *world, name string) *path {
		p := &path{name: name, note: "includes the destination backup, the copy into the pod and its sha256"}
		p.run = func() error {
			w.progress, w.progressAt = nil, nil
			resetPeak()
			start := time.Now()
			out, err := w.step(t, "dump-origin")
			if err != nil {
				return err
			}
			dumpDone := time.Now()
			dumpSize[w] = result[steps.DumpResult](t, out).Spool.Size
			rout, err := w.step(t, "restore-destination")
			if err != nil {
				return err
			}
			end := time.Now()
			p.rss = max(p.rss, peakRSS())
			fmt.Fprintf(&timeline, "%s, round %d: dump step %s, restore step %s\n", name, len(p.times)+1, dumpDone.Sub(start).Round(10*time.Millisecond), end.Sub(dumpDone).Round(10*time.Millisecond))
			for i, m := range w.progress {
				fmt.Fprintf(&timeline, "  +%-8s %s\n", w.progressAt[i].Sub(start).Round(10*time.Millisecond), m)
			}
			fmt.Fprintf(&timeline, "  dump:    %s\n  restore: %s\n", out.Summary, rout.Summary)
			return nil
		}
		return p
	}
	bot := botPath(w, fmt.Sprintf("bot: dump -Z %d + restore -j %d, client-go exec", *w.cfg.Database.DumpCompression, jobs))
	bot6 := botPath(w6, fmt.Sprintf("bot at pg_dump's default -Z 6, restore -j %d", jobs))
	raw := &path{name: "raw pipe: pg_dump -Fc | pg_restore -c --if-exists", note: "the floor: no file, no checks", run: func() error {
		return sh(ctx, fmt.Sprintf("%s %s/pg_dump -d meshdb -U meshdb -Fc | %s %s/pg_restore -d meshdb -U meshdb -c --if-exists", env(origin.PG), bin, env(dest.PG), bin))
	}}
	manual := &path{name: "manual runbook: dump, copy to laptop, copy to dest, restore", note: "kubectl cp/scp hops as local copies", run: func() error {
		return sh(ctx, fmt.Sprintf("%[1]s %[2]s/pg_dump -d meshdb -U meshdb -Fc -f %[3]s/origin.dump && cp %[3]s/origin.dump %[4]s/ && cp %[4]s/origin.dump %[3]s/dest.dump && %[5]s %[2]s/pg_restore -d meshdb -U meshdb -c --if-exists %[3]s/dest.dump",
			env(origin.PG), bin, dir, laptop, env(dest.PG)))
	}}
	paths := []*path{bot, bot6, raw, manual}
	for range rounds {
		for _, p := range paths {
			reset()
			start := time.Now()
			require.NoError(t, p.run(), p.name)
			p.times = append(p.times, time.Since(start))
			check()
		}
	}
	copydb := &path{name: "pgcopydb clone", note: "not installed (apt-get install pgcopydb)"}
	if p, err := exec.LookPath("pgcopydb"); err == nil {
		reset()
		start := time.Now()
		err := sh(ctx, fmt.Sprintf("%s clone --source 'postgres://meshdb@127.0.0.1:%d/meshdb' --target 'postgres://meshdb@127.0.0.1:%d/meshdb' --dir %s/pgcopydb --drop-if-exists --no-owner --no-acl >/dev/null 2>&1", p, origin.PG.Port(), dest.PG.Port(), dir))
		copydb.times, copydb.note = []time.Duration{time.Since(start)}, "Debian's pgcopydb"
		if err != nil {
			copydb.note = "failed: " + strings.SplitN(err.Error(), "\n", 2)[0]
		}
	}

	best := func(p *path) time.Duration {
		if len(p.times) == 0 {
			return 0
		}
		return slices.Min(p.times)
	}
	fmt.Printf("\nDump and restore, %d installs (database %s, custom-format dump %.1f MB at -Z %d, %.1f MB at -Z 6), 2 cores, %d round(s):\n",
		installs, strings.TrimSpace(size), float64(dumpSize[w])/1e6, *w.cfg.Database.DumpCompression, float64(dumpSize[w6])/1e6, rounds)
	fmt.Printf("%-62s %-24s %8s %8s %10s  %s\n", "path", "time per round", "best", "x raw", "peak RSS", "note")
	for _, p := range append(paths, copydb) {
		var each []string
		for _, d := range p.times {
			each = append(each, d.Round(10*time.Millisecond).String())
		}
		rss, ratio := "-", "-"
		if p.rss > 0 {
			rss = fmt.Sprintf("%.0f MB", float64(p.rss)/1e6)
		}
		if b := best(p); b > 0 {
			ratio = fmt.Sprintf("%.2f", float64(b)/float64(best(raw)))
		}
		fmt.Printf("%-62s %-24s %8s %8s %10s  %s\n", p.name, strings.Join(each, " "), best(p).Round(10*time.Millisecond), ratio, rss, p.note)
	}
	for _, b := range []*path{bot, bot6} {
		var perRound []string
		var vsManual, vsRaw []float64
		for i := range rounds {
			vsManual = append(vsManual, float64(b.times[i])/float64(manual.times[i]))
			vsRaw = append(vsRaw, float64(b.times[i])/float64(raw.times[i]))
			perRound = append(perRound, fmt.Sprintf("%.2f/%.2f", vsManual[i], vsRaw[i]))
		}
		fmt.Printf("%s vs manual / vs raw, per round: %s; median of rounds: %.2fx manual, %.2fx raw; best vs best: %.2fx manual, %.2fx raw\n",
			strings.SplitN(b.name, ":", 2)[0], strings.Join(perRound, "  "), median(vsManual), median(vsRaw),
			float64(best(b))/float64(best(manual)), float64(best(b))/float64(best(raw)))
	}
	fmt.Print(timeline.String())
}
