package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/bot/slackfake"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/store"
)

const testKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: not-a-real-token}
contexts:
- {name: prod1, context: {cluster: c, user: u, namespace: meshdb}}
- {name: prod2, context: {cluster: c, user: u, namespace: meshdb}}
`

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// TestHistoryWhileTheBotRuns runs `cutoverbot serve` against a local Slack, with a run
// already in its store: the bot holds the bbolt file, so `history --config` is refused
// with the way round it, and `history --server` reads the runs and audit log through
// the health port.
func TestHistoryWhileTheBotRuns(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	t0 := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	st, err := store.Open(state)
	require.NoError(t, err)
	r := &engine.Run{ID: "20261201-0200-ab12", Origin: "prod2", Destination: "prod1", Initiator: "U01ALICE", Created: t0, State: engine.Aborted, Version: 1}
	require.NoError(t, st.Create(context.Background(), r, []engine.AuditEntry{
		{RunID: r.ID, At: t0, Event: "run.started", User: "U01ALICE"},
		{RunID: r.ID, At: t0.Add(time.Minute), Step: 1, StepID: "preflight", Attempt: 1, User: "U02BOB", Event: "decision.abort", Reason: "wrong night"},
	}))
	require.NoError(t, st.Close())

	slack, err := slackfake.Start(slackfake.Options{BotToken: "xoxb-test", AppToken: "xapp-test",
		Channels: map[string]string{"C0123MESHDB": "meshdb"}, Users: map[string]string{"U01ALICE": "alice", "U02BOB": "bob"}})
	require.NoError(t, err)
	t.Cleanup(slack.Close)
	kc := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kc, []byte(testKubeconfig), 0o600))
	src, err := os.ReadFile(example)
	require.NoError(t, err)
	addr := freeAddr(t)
	cfg := strings.NewReplacer("/etc/cutoverbot/kubeconfig", kc, "dir: /var/lib/cutoverbot", "dir: "+state,
		`listen: ":8080"`, `listen: "`+addr+`"`, `api_url: ""                   # Slack`, `api_url: "`+slack.APIURL()+`" # Slack`).Replace(string(src))
	path := filepath.Join(dir, "cutover.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	c, _, err := config.Load(path, config.Options{Getenv: func(string) string { return "" }})
	require.NoError(t, err)
	require.Equal(t, slack.APIURL(), c.Slack.APIURL, "the test's replacements took")
	require.Equal(t, addr, c.HTTP.Listen)

	t.Setenv("SLACK_BOT_TOKEN", "xoxb-test")
	t.Setenv("SLACK_APP_TOKEN", "xapp-test")
	t.Setenv("GITHUB_TOKEN", "ghp_test")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- run(ctx, []string{"serve", "--config", path, "--log-format", "text"}, &strings.Builder{}, &strings.Builder{})
	}()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-served)
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "the bot connects to the local Slack")

	_, errOut, code := runCLI("history", "--config", path)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "another cutoverbot process holds it")
	assert.Contains(t, errOut, "history --server http://localhost:8080")

	out, _, code := runCLI("history", "--server", "http://"+addr, "-v")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "20261201-0200-ab12  prod2 -> prod1  by U01ALICE  2026-12-01 07:00 UTC")
	assert.Contains(t, out, "2026-12-01T07:01:00Z 20261201-0200-ab12 decision.abort step 1 (preflight) attempt 1 by U02BOB: wrong night")

	out, _, code = runCLI("history", "--server", "http://"+addr, "--run", r.ID)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "decision.abort")

	_, errOut, code = runCLI("history", "--server", "http://"+addr, "--run", "20261202-0000-none")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `no run "20261202-0000-none"`)

	_, errOut, code = runCLI("history", "--server", "http://"+addr, "--config", path)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "not both")
}
