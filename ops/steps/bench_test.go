package steps_test

import (
	"bufio"
	"context"
	"errors"
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
func resetPeak() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func sh(ctx context.Context, script string, env ...string) error {
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", script, err, out)
	}
	return nil
}

// loadAvg is the 1-minute load average of the machine, as uptime shows it.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// cpuStat is the machine's CPU time from /proc/stat, in clock ticks: busy (user, nice,
// system, irq, softirq) and all of it (idle and iowait too), summed over its cores (the
// cpuN lines: every online core, whatever this process may run on).
type cpuStat struct {
	busy, all int64
	cores     int
}

func readCPU() (cpuStat, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuStat{}, err
	}
	var st cpuStat
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] != "cpu" && strings.HasPrefix(f[0], "cpu"):
			st.cores++
		case len(f) >= 8 && f[0] == "cpu":
			for i, v := range f[1:8] {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return cpuStat{}, fmt.Errorf("/proc/stat: %q: %w", line, err)
				}
				st.all += n
				if i != 3 && i != 4 { // idle, iowait
					st.busy += n
				}
			}
		}
	}
	if st.all == 0 || st.cores == 0 {
		return cpuStat{}, fmt.Errorf("/proc/stat has no cpu totals")
	}
	return st, nil
}

// busySince is the CPU-seconds the whole machine spent busy since prev, wall ago (both
// servers, pg_dump, pg_restore, pgcopydb, the bot, whatever else ran): the busy share
// of the ticks between the two reads, times the cores, times wall.
func (st cpuStat) busySince(prev cpuStat, wall time.Duration) float64 {
	if st.all <= prev.all {
		return 0
	}
	return float64(st.busy-prev.busy) / float64(st.all-prev.all) * float64(st.cores) * wall.Seconds()
}

// benchVariants are bot configurations the benchmark can add beside the defaults
// (CUTOVERBOT_BENCH_VARIANTS, comma-separated), to measure what a setting buys.
var benchVariants = map[string]struct {
	note   string
	mutate func(*config.Config)
	serial bool // the dump step neither copies into the destination nor backs it up
}{
	"jobs1":  {note: "restore_jobs: 1 (the default before auto)", mutate: func(c *config.Config) { c.Database.RestoreJobs = config.NJobs(1) }},
	"z6":     {note: "dump_compression: 6 (pg_dump's own level)", mutate: func(c *config.Config) { six := 6; c.Database.DumpCompression = &six }},
	"z0":     {note: "dump_compression: 0", mutate: func(c *config.Config) { zero := 0; c.Database.DumpCompression = &zero }},
	"server": {note: "restore_maintenance_work_mem: server", mutate: func(c *config.Config) { c.Database.RestoreMaintenanceWorkMem = "server" }},
	"serial": {note: "nothing overlaps the dump: the restore step backs up and copies", serial: true},
}

// TestBenchmarkDumpRestore measures the bot's dump and restore steps at their default
// configuration, through client-go and the local Kubernetes API, beside a raw
// pg_dump | pg_restore pipe, the manual runbook (dump to a file, copy to a laptop, copy
// to the destination, restore) and pgcopydb clone (make bench installs Debian's). Every
// path starts from the same destination (its original 1,000 installs are restored,
// untimed, before each), and the paths run in interleaved rounds so that a burst of
// load on the shared machine hits one round, not one path. It prints tables of
// ratios; it asserts no times.
// CUTOVERBOT_BENCH=1 runs it; CUTOVERBOT_BENCH_INSTALLS sets the sizes (installs,
// space- or comma-separated; 80000 is about 50 MB of dump, 800000 about 500 MB),
// CUTOVERBOT_BENCH_ROUNDS the rounds (2), CUTOVERBOT_BENCH_VARIANTS extra bot
// configurations (benchVariants).
func TestBenchmarkDumpRestore(t *testing.T) {
	if os.Getenv("CUTOVERBOT_BENCH") == "" {
		t.Skip("set CUTOVERBOT_BENCH=1 (make bench)")
	}
	sizes := []int{80000}
	if v := strings.FieldsFunc(os.Getenv("CUTOVERBOT_BENCH_INSTALLS"), func(r rune) bool { return r == ',' || r == ' ' }); len(v) > 0 {
		sizes = nil
		for _, s := range v {
			n, err := strconv.Atoi(s)
			require.NoError(t, err, "CUTOVERBOT_BENCH_INSTALLS")
			sizes = append(sizes, n)
		}
	}
	rounds := 2
	if v, err := strconv.Atoi(os.Getenv("CUTOVERBOT_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	var variants []string
	for _, v := range strings.FieldsFunc(os.Getenv("CUTOVERBOT_BENCH_VARIANTS"), func(r rune) bool { return r == ',' || r == ' ' }) {
		_, ok := benchVariants[v]
		require.True(t, ok, "CUTOVERBOT_BENCH_VARIANTS: no variant %q", v)
		variants = append(variants, v)
	}
	for _, n := range sizes {
		benchDumpRestore(t, n, rounds, variants)
	}
}

type benchPath struct {
	name, note string
	run        func() error
	times      []time.Duration
	loads      []string  // the 1-minute load average as each round started
	cpu        []float64 // CPU-seconds the machine was busy during each round (busySince)
	rss        int64
	size       int64 // the dump's size (the bot's paths)
	floor      bool  // restores nothing: the destination is not checked after it
}

func (p *benchPath) best() time.Duration {
	if len(p.times) == 0 {
		return 0
	}
	return slices.Min(p.times)
}

func benchDumpRestore(t *testing.T, installs, rounds int, variants []string) {
	ctx := context.Background()
	dir := t.TempDir()
	seedStart := time.Now()
	origin, err := sandbox.NewCluster(ctx, "prod2", filepath.Join(dir, "prod2"), sandbox.Options{Installs: installs})
	require.NoError(t, err)
	defer origin.Close()
	dest, err := sandbox.NewCluster(ctx, "prod1", filepath.Join(dir, "prod1"), sandbox.Options{Installs: 1000})
	require.NoError(t, err)
	defer dest.Close()
	// The origin as a real one is: analyzed, its pages all-visible (pg_dump then
	// reads no pages it must also write).
	_, err = origin.PG.SQL(ctx, "meshdb", "VACUUM ANALYZE")
	require.NoError(t, err)
	seeded := time.Since(seedStart)
	size, _ := origin.PG.SQL(ctx, "meshdb", "SELECT pg_size_pretty(pg_database_size('meshdb'))")

	check := func(name string) {
		db := pg.DB{Name: "meshdb", User: "meshdb", ExcludeTables: []string{"flags_flagstate"}}
		a, err := pg.Fingerprints(ctx, origin.Execer(), db)
		require.NoError(t, err)
		b, err := pg.Fingerprints(ctx, dest.Execer(), db)
		require.NoError(t, err)
		require.Empty(t, pg.CompareFingerprints(a, b), "every path must restore the same data: %s", name)
	}
	env := func(s *pgserver.Server) string { return fmt.Sprintf("PGHOST=127.0.0.1 PGPORT=%d", s.Port()) }
	bin, err := pgserver.BinDir()
	require.NoError(t, err)
	destOrig := filepath.Join(dir, "dest-original.dump")
	require.NoError(t, sh(ctx, fmt.Sprintf("%s %s/pg_dump -d meshdb -U meshdb -Fc -f %s", env(dest.PG), bin, destOrig)))
	// The reset drops what the last path restored (a whole database of tables), then
	// restores the destination's own 1,000 installs; it ends with VACUUM ANALYZE and a
	// checkpoint so that neither autovacuum nor the checkpointer works on the freshly
	// restored tables during the next path.
	reset := func() {
		require.NoError(t, sh(ctx, fmt.Sprintf("%s %s/pg_restore -d meshdb -U meshdb -c --if-exists %s", env(dest.PG), bin, destOrig)))
		for _, q := range []string{"VACUUM ANALYZE", "CHECKPOINT"} {
			_, err := dest.PG.SQL(ctx, "meshdb", q)
			require.NoError(t, err)
		}
	}
	laptop := filepath.Join(dir, "laptop")
	require.NoError(t, os.MkdirAll(laptop, 0o700))

	var timeline strings.Builder
	botPath := func(name, note string, w *world, serial bool) *benchPath {
		p := &benchPath{name: name, note: note}
		p.run = func() error {
			w.progress, w.progressAt = nil, nil
			if serial {
				// The backup of the destination and the copy into its pod fail during the
				// dump step: the dump goes on alone, and the restore step backs up and
				// copies. (The sweep of leftovers before a second attempt still runs.)
				dest.SetExecHook(func(_ context.Context, _ string, argv []string) error {
					if cmd := strings.Join(argv, " "); strings.Contains(cmd, "pg_dump") || strings.Contains(cmd, "cat >") {
						return errors.New("not during the dump")
					}
					return nil
				})
			}
			resetPeak()
			start := time.Now()
			out, err := w.step(t, "dump-origin")
			dest.SetExecHook(nil)
			if err != nil {
				return err
			}
			dumpDone := time.Now()
			p.size = result[steps.DumpResult](t, out).Spool.Size
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
			fmt.Fprintf(&timeline, "  dump:    %s\n  restore: %s\n", said(out), said(rout))
			return nil
		}
		return p
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bot"), 0o700))
	bot := botPath("bot at its defaults", "dump step + restore step: backup of the destination, copy into its pod, sha256 there",
		worldFromConfig(t, filepath.Join(dir, "bot"), origin, dest, nil), false)
	paths := []*benchPath{bot}
	for _, v := range variants {
		bv := benchVariants[v]
		vdir := filepath.Join(dir, "bot-"+v)
		require.NoError(t, os.MkdirAll(vdir, 0o700))
		paths = append(paths, botPath("bot, "+v, bv.note, worldFromConfig(t, vdir, origin, dest, bv.mutate), bv.serial))
	}
	raw := &benchPath{name: "raw pipe: pg_dump -Fc | pg_restore -c --if-exists", note: "the floor of the runbook's tools: no file, no checks", run: func() error {
		return sh(ctx, fmt.Sprintf("%s %s/pg_dump -d meshdb -U meshdb -Fc | %s %s/pg_restore -d meshdb -U meshdb -c --if-exists", env(origin.PG), bin, env(dest.PG), bin))
	}}
	manual := &benchPath{name: "manual runbook: dump, copy to laptop, to dest, restore", note: "kubectl cp/scp hops as local copies", run: func() error {
		return sh(ctx, fmt.Sprintf("%[1]s %[2]s/pg_dump -d meshdb -U meshdb -Fc -f %[3]s/origin.dump && cp %[3]s/origin.dump %[4]s/ && cp %[4]s/origin.dump %[3]s/dest.dump && %[5]s %[2]s/pg_restore -d meshdb -U meshdb -c --if-exists %[3]s/dest.dump",
			env(origin.PG), bin, dir, laptop, env(dest.PG)))
	}}
	// The floor of the bot's shape: its two steps run one after the other (the restore
	// waits for an approval), so it cannot take less than pg_dump alone plus pg_restore
	// alone, whatever it does around them. floorRestore restores what floorDump wrote.
	floorFile := filepath.Join(dir, "floor.dump")
	floorDump := &benchPath{name: "floor: pg_dump -Fc -Z 1 alone, to a file", note: "no restore: the dump step's floor", floor: true, run: func() error {
		return sh(ctx, fmt.Sprintf("%s %s/pg_dump -d meshdb -U meshdb -Fc -Z 1 -f %s", env(origin.PG), bin, floorFile))
	}}
	// pg_restore as the bot runs it at its defaults: the jobs and maintenance_work_mem
	// it chooses from what the destination's pod reports.
	res, err := pg.ReadPodResources(ctx, dest.Execer())
	require.NoError(t, err)
	jobs := res.AutoJobs()
	restoreEnv := ""
	for _, kv := range pg.RestoreEnv(res.RestoreMaintenanceWorkMemKB(jobs)) {
		k, v, _ := strings.Cut(kv, "=")
		restoreEnv += fmt.Sprintf(" %s='%s'", k, v)
	}
	floorRestore := &benchPath{name: fmt.Sprintf("floor: pg_restore -j %d alone, of that file", jobs), note: "no dump: the restore step's floor", run: func() error {
		return sh(ctx, fmt.Sprintf("%s %s %s/pg_restore -d meshdb -U meshdb -c --if-exists -j %d %s", env(dest.PG), restoreEnv, bin, jobs, floorFile))
	}}
	// The same floor with a directory-format dump: pg_dump -Fd -j N compresses on N
	// cores, and pg_restore -j N reads each table from its own file. At -Z 0 nothing is
	// compressed: the least work a dump kept as a file can cost, for about three times
	// the bytes to keep, check and send.
	dirFloor := func(z int) (*benchPath, *benchPath) {
		d := filepath.Join(dir, fmt.Sprintf("floor-Z%d.dir", z))
		dump := &benchPath{name: fmt.Sprintf("floor: pg_dump -Fd -j %d -Z %d alone, to a directory", jobs, z), note: "a parallel dump (not what the bot does)", floor: true, run: func() error {
			return sh(ctx, fmt.Sprintf("rm -rf %[3]s && %[1]s %[2]s/pg_dump -d meshdb -U meshdb -Fd -j %[4]d -Z %[5]d -f %[3]s", env(origin.PG), bin, d, jobs, z))
		}}
		restore := &benchPath{name: fmt.Sprintf("floor: pg_restore -j %d alone, of that directory", jobs), note: "its restore", run: func() error {
			return sh(ctx, fmt.Sprintf("%s %s %s/pg_restore -d meshdb -U meshdb -c --if-exists -j %d %s", env(dest.PG), restoreEnv, bin, jobs, d))
		}}
		return dump, restore
	}
	dirDump1, dirRestore1 := dirFloor(1)
	dirDump0, dirRestore0 := dirFloor(0)
	paths = append(paths, raw, manual, floorDump, floorRestore, dirDump1, dirRestore1, dirDump0, dirRestore0)
	var copydb *benchPath
	if p, err := exec.LookPath("pgcopydb"); err == nil {
		copydb = &benchPath{name: "pgcopydb clone", note: "Debian's pgcopydb, its default jobs; no file, no backup, no undo"}
		copydb.run = func() error {
			work := filepath.Join(dir, fmt.Sprintf("pgcopydb-%d", len(copydb.times)))
			return sh(ctx, fmt.Sprintf("%s clone --source 'postgres://meshdb@127.0.0.1:%d/meshdb' --target 'postgres://meshdb@127.0.0.1:%d/meshdb' --dir %s --drop-if-exists --no-owner --no-acl >%s.log 2>&1 || { tail -5 %s.log; exit 1; }",
				p, origin.PG.Port(), dest.PG.Port(), work, work, work))
		}
		paths = append(paths, copydb)
	} else {
		fmt.Println("pgcopydb is not installed (make bench installs Debian's pgcopydb): its row is left out")
	}
	cores := 0 // the machine's, as /proc/stat counts them
	for range rounds {
		for _, p := range paths {
			reset()
			p.loads = append(p.loads, loadAvg())
			before, err := readCPU()
			require.NoError(t, err)
			start := time.Now()
			require.NoError(t, p.run(), p.name)
			wall := time.Since(start)
			after, err := readCPU()
			require.NoError(t, err)
			cores = after.cores
			p.times = append(p.times, wall)
			p.cpu = append(p.cpu, after.busySince(before, wall))
			if !p.floor {
				check(p.name)
			}
		}
	}

	fmt.Printf("\nDump and restore, %d installs (database %s, seeded in %s; the bot's dump %.1f MB), %d round(s), load average at each path's start in brackets:\n",
		installs, strings.TrimSpace(size), seeded.Round(time.Second), float64(bot.size)/1e6, rounds)
	fmt.Printf("%-56s %-40s %-22s %8s %7s %9s %9s  %s\n", "path", "time per round [load]", "busy CPU-s per round", "best", "x raw", "x pgcopydb", "peak RSS", "note")
	for _, p := range paths {
		var each, cpu []string
		for i, d := range p.times {
			each = append(each, fmt.Sprintf("%s [%s]", d.Round(10*time.Millisecond), p.loads[i]))
			cpu = append(cpu, fmt.Sprintf("%.1f", p.cpu[i]))
		}
		rss, vsCopy := "-", "-"
		if p.rss > 0 {
			rss = fmt.Sprintf("%.0f MB", float64(p.rss)/1e6)
		}
		if copydb != nil {
			vsCopy = fmt.Sprintf("%.2f", float64(p.best())/float64(copydb.best()))
		}
		fmt.Printf("%-56s %-40s %-22s %8s %7.2f %9s %9s  %s\n", p.name, strings.Join(each, " "), strings.Join(cpu, " "), p.best().Round(10*time.Millisecond),
			float64(p.best())/float64(raw.best()), vsCopy, rss, p.note)
	}
	others := []*benchPath{raw, manual}
	if copydb != nil {
		others = append(others, copydb)
	}
	for _, b := range paths[:1+len(variants)] {
		var parts []string
		for _, o := range others {
			var per []float64
			var each []string
			for i := range rounds {
				per = append(per, float64(b.times[i])/float64(o.times[i]))
				each = append(each, fmt.Sprintf("%.2f", per[i]))
			}
			parts = append(parts, fmt.Sprintf("vs %s: %s (median %.2f, best vs best %.2f)", strings.SplitN(o.name, ":", 2)[0], strings.Join(each, " "), median(per), float64(b.best())/float64(o.best())))
		}
		fmt.Printf("%s, per round: %s\n", b.name, strings.Join(parts, "; "))
	}
	// A dump, then a restore that waits for an approval: whatever the bot does around
	// them, its data move takes at least the two alone, and at least the CPU-seconds
	// they keep the machine busy divided by its cores.
	floor := func(name string, dump, restore *benchPath) {
		var each []string
		for i := range rounds {
			sum := dump.times[i] + restore.times[i]
			work := dump.cpu[i] + restore.cpu[i]
			line := fmt.Sprintf("%s, busy CPU %.1f s (at least %.1f s on %d cores)", sum.Round(10*time.Millisecond), work, work/float64(cores), cores)
			if dump == floorDump {
				line += fmt.Sprintf("; the bot %.2fx it", float64(bot.times[i])/float64(sum))
			}
			if copydb != nil {
				line += fmt.Sprintf("; it is %.2fx pgcopydb (%s, busy CPU %.1f s)", float64(sum)/float64(copydb.times[i]), copydb.times[i].Round(10*time.Millisecond), copydb.cpu[i])
			}
			each = append(each, line)
		}
		fmt.Printf("%s, per round: %s\n", name, strings.Join(each, "; round: "))
	}
	floor("floor of the bot's shape (pg_dump -Fc -Z 1 alone + pg_restore alone)", floorDump, floorRestore)
	floor("floor with a directory-format dump at -Z 1", dirDump1, dirRestore1)
	floor("floor with a directory-format dump at -Z 0", dirDump0, dirRestore0)
	fmt.Print(timeline.String())
}
