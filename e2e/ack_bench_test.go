package e2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fire sends n slash commands and n clicks at once and returns their ack latencies as
// the local Slack measured them.
func fire(t *testing.T, w *world, n int) []time.Duration {
	t.Helper()
	ts := w.header().TS
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			id, err := w.slack.SlashCommand(carol, channel, "status")
			if err == nil {
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}
		}()
		go func(i int) {
			defer wg.Done()
			// Stale clicks: each is refused privately, which is real work for the bot.
			id, err := w.slack.ClickStale(eve, channel, ts, "approve", "20200101-0000-"+strconv.Itoa(i)+"|1|1")
			if err == nil {
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	require.Len(t, ids, 2*n)
	var lat []time.Duration
	w.waitFor("every ack", func() bool {
		lat = lat[:0]
		for _, id := range ids {
			a, ok := w.slack.AckFor(id)
			if !ok {
				return false
			}
			lat = append(lat, a.Latency())
		}
		return true
	})
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat
}

func pct(l []time.Duration, p float64) time.Duration { return l[int(float64(len(l)-1)*p)] }

// TestBenchmarkAckLatency measures acknowledgement latency at the local Slack for 200
// concurrent commands and 200 concurrent clicks, with the bot idle and while a dump
// streams. It prints the figures; it asserts no times. CUTOVERBOT_BENCH=1 runs it.
func TestBenchmarkAckLatency(t *testing.T) {
	if os.Getenv("CUTOVERBOT_BENCH") == "" {
		t.Skip("set CUTOVERBOT_BENCH=1 (make bench)")
	}
	w := newWorld(t, worldOptions{installs: 60000})
	dumping := make(chan struct{})
	var once sync.Once
	w.origin.SetExecHook(func(_ context.Context, container string, argv []string) error {
		if len(argv) > 0 && argv[0] == "pg_dump" {
			once.Do(func() { close(dumping) })
		}
		return nil
	})
	w.startBot(nil)
	w.command(alice, "start prod2 prod1")
	w.waitFor("the run header", func() bool { return w.header().TS != "" })
	idle := fire(t, w, 100)
	for step := 2; step <= 6; step++ {
		w.click(bob, "Approve")
		want := "✅ " + strconv.Itoa(step) + "."
		w.waitFor(want, func() bool { return strings.Contains(w.headerText(), want) })
	}
	w.click(bob, "Approve") // the dump
	<-dumping
	busy := fire(t, w, 100)
	stillDumping := !strings.Contains(w.headerText(), "✅ 7.")
	fmt.Printf("\nAck latency at the local Slack, 200 concurrent envelopes (100 commands + 100 clicks):\n%-28s %8s %8s %8s\n", "", "p50", "p99", "max")
	for _, r := range []struct {
		name string
		l    []time.Duration
	}{{"bot idle", idle}, {"while the dump streams", busy}} {
		fmt.Printf("%-28s %8s %8s %8s\n", r.name, pct(r.l, 0.5).Round(100*time.Microsecond), pct(r.l, 0.99).Round(100*time.Microsecond), r.l[len(r.l)-1].Round(100*time.Microsecond))
	}
	fmt.Printf("(the dump was still streaming when the last ack arrived: %v)\n", stillDumping)
}
