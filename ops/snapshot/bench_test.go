package snapshot_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/snapshot"
)

// nodes makes n mapdata-shaped node entries; changed marks 1% of them altered.
func nodes(n int, changed bool, shuffle bool) []map[string]any {
	out := make([]map[string]any, n)
	for i := 0; i < n; i++ {
		e := map[string]any{"id": i + 1, "name": fmt.Sprintf("Node %d", i+1), "status": "Active",
			"coordinates": []float64{-73.9 + float64(i%1000)/10000, 40.7 + float64(i%777)/10000, float64(i % 90)},
			"requestDate": 1500000000000 + int64(i)*1000, "roofAccess": i%3 == 0, "panoramas": []string{}}
		if i%5 == 0 {
			e["notes"] = "rooftop access through the back door"
		}
		if changed && i%100 == 7 {
			e["status"] = "Inactive"
		}
		out[i] = e
	}
	if shuffle {
		r := rand.New(rand.NewPCG(1, 2))
		r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	}
	return out
}

func writeJSON(t *testing.T, path string, v any, pretty bool) {
	var b []byte
	var err error
	if pretty {
		b, err = json.MarshalIndent(v, "", "    ") // sorted keys, as json.tool --sort-keys
	} else {
		b, err = json.Marshal(v)
	}
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

// TestBenchmarkDiff compares the structural diff with the runbook's way (`diff` of the
// two files pretty-printed with sorted keys, after sorting by id so the order matches).
// CUTOVERBOT_BENCH=1 runs it; CUTOVERBOT_BENCH_DIFF_MAX sets the largest size.
func TestBenchmarkDiff(t *testing.T) {
	if os.Getenv("CUTOVERBOT_BENCH") == "" {
		t.Skip("set CUTOVERBOT_BENCH=1 (make bench)")
	}
	sizes := []int{20000, 1000000}
	if v, err := strconv.Atoi(os.Getenv("CUTOVERBOT_BENCH_DIFF_MAX")); err == nil {
		sizes = []int{20000, v}
	}
	fmt.Printf("\nSnapshot diff, 1%% changed, shuffled order:\n%-10s %12s %14s %16s %14s %8s\n", "entries", "bot diff", "bot peak heap", "diff(1) sorted", "bot / diff(1)", "changes")
	for _, n := range sizes {
		dir := t.TempDir()
		before, after := filepath.Join(dir, "before.json"), filepath.Join(dir, "after.json")
		writeJSON(t, before, nodes(n, false, false), false)
		writeJSON(t, after, nodes(n, true, true), false)

		runtime.GC()
		var peak uint64
		stop := make(chan struct{})
		go func() {
			var m runtime.MemStats
			for {
				select {
				case <-stop:
					return
				default:
				}
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak {
					peak = m.HeapAlloc
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		start := time.Now()
		r, err := snapshot.DiffFiles("nodes", before, after, snapshot.DiffPath("/api/v1/mapdata/nodes/"))
		took := time.Since(start)
		close(stop)
		require.NoError(t, err)
		require.Len(t, r.Changed, n/100)

		// The runbook: pretty-print with sorted keys (and, to be fair to diff, sort by id
		// since the access points come in unstable order), then diff.
		pa, pb := filepath.Join(dir, "a.pretty"), filepath.Join(dir, "b.pretty")
		b := nodes(n, true, false) // sorted by id again
		writeJSON(t, pa, nodes(n, false, false), true)
		writeJSON(t, pb, b, true)
		start = time.Now()
		var out bytes.Buffer
		cmd := exec.Command("diff", pa, pb)
		cmd.Stdout = &out
		_ = cmd.Run() // exit 1 means "different"
		diffTook := time.Since(start)
		require.NotZero(t, out.Len())
		fmt.Printf("%-10d %12s %11.0f MB %16s %14.2f %8d\n", n, took.Round(time.Millisecond), float64(peak)/1e6, diffTook.Round(time.Millisecond), float64(took)/float64(diffTook), len(r.Changed))
	}
}
