package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cutoverbot "github.com/nycmeshnet/cutoverbot"
	"github.com/nycmeshnet/cutoverbot/buildinfo"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
)

// testKubeconfig has a context per example cluster. Nothing here dials it: New
// connects to no cluster until a step runs.
const testKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: not-a-real-token}
contexts:
- name: prod1
  context: {cluster: c, user: u, namespace: meshdb}
- name: prod2
  context: {cluster: c, user: u, namespace: meshdb}
current-context: prod1
`

// newTestServer assembles the bot from the example configuration with its state and
// kubeconfig in a temporary directory.
func newTestServer(t *testing.T) *Server {
	t.Helper()
	return newTestServerWith(t, testKubeconfig, "", Options{})
}

func newTestServerWith(t *testing.T, kubeconfig, slackURL string, opts Options) *Server {
	t.Helper()
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kc, []byte(kubeconfig), 0o600))
	src := strings.ReplaceAll(string(cutoverbot.ExampleConfig), "/etc/cutoverbot/kubeconfig", kc)
	src = strings.Replace(src, "dir: /var/lib/cutoverbot", "dir: "+filepath.Join(dir, "state"), 1)
	if slackURL != "" {
		const empty = `api_url: ""                   # Slack`
		require.Contains(t, src, empty)
		src = strings.Replace(src, empty, `api_url: "`+slackURL+`" # Slack`, 1)
	}
	path := filepath.Join(dir, "cutover.yaml")
	require.NoError(t, os.WriteFile(path, []byte(src), 0o600))
	env := map[string]string{"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_APP_TOKEN": "xapp-test", "GITHUB_TOKEN": "ghp_test"}
	cfg, _, err := config.Load(path, config.Options{RequireTokens: true, Getenv: func(k string) string { return env[k] }})
	require.NoError(t, err)
	opts.Logger = discard()
	s, err := New(context.Background(), cfg, opts)
	require.NoError(t, err)
	t.Cleanup(func() { s.store.Close() })
	return s
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestMetricsNameTheBuild(t *testing.T) {
	s := newTestServer(t)
	web := httptest.NewServer(s.routes())
	t.Cleanup(web.Close)
	code, body := get(t, web.URL+"/metrics")
	require.Equal(t, http.StatusOK, code)
	b := buildinfo.Read()
	assert.Contains(t, body, `cutoverbot_build_info{commit="`+b.Commit+`",date="`+b.Date+`",goversion="`+b.GoVersion+`",version="`+b.Version+`"} 1`)
}

func TestHistoryAPI(t *testing.T) {
	s := newTestServer(t)
	web := httptest.NewServer(s.routes())
	t.Cleanup(web.Close)
	c, err := NewHistoryClient(web.URL + "/")
	require.NoError(t, err)
	ctx := context.Background()

	list, err := c.List(ctx, 20)
	require.NoError(t, err)
	assert.Empty(t, list.Runs)
	code, body := get(t, web.URL+"/api/v1/runs")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"runs":[],"spool":null}`, body, "an empty list, not null; nothing in the spool")

	t0 := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	r1 := &engine.Run{ID: "20261201-0200-ab12", Origin: "prod2", Destination: "prod1", Initiator: "U01ALICE", Created: t0, State: engine.Active, Version: 1,
		Steps: []engine.StepRun{{State: engine.Awaiting, Attempt: 1}}}
	require.NoError(t, s.Store().Create(context.Background(), r1, []engine.AuditEntry{{RunID: r1.ID, At: t0, Event: "run.started", User: "U01ALICE"}}))
	r1.Version, r1.State = 2, engine.Aborted
	r1.Decisions = []engine.Decision{{Step: 1, StepID: "preflight", Attempt: 1, User: "U02BOB", Action: engine.Abort, Reason: "wrong night", At: t0.Add(time.Minute)}}
	require.NoError(t, s.Store().Save(context.Background(), r1, []engine.AuditEntry{{RunID: r1.ID, At: t0.Add(time.Minute), Step: 1, StepID: "preflight", Attempt: 1,
		User: "U02BOB", Event: "decision.abort", Reason: "wrong night"}}))
	r2 := &engine.Run{ID: "20261202-0200-cd34", Origin: "prod1", Destination: "prod2", Initiator: "U02BOB", Created: t0.Add(24 * time.Hour), State: engine.Active, Version: 1}
	require.NoError(t, s.Store().Create(context.Background(), r2, nil))

	spool := filepath.Join(s.cfg.State.Dir, "spool", r1.ID)
	require.NoError(t, os.MkdirAll(spool, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(spool, "dump-origin.dump"), make([]byte, 1234), 0o600))
	list, err = c.List(ctx, 20)
	require.NoError(t, err)
	require.Len(t, list.Runs, 2)
	assert.Equal(t, r2.ID, list.Runs[0].ID, "newest first")
	assert.Equal(t, []steps.SpoolRun{{RunID: r1.ID, Bytes: 1234, Files: 1}}, list.Spool, "what the spool holds")
	list, err = c.List(ctx, 1)
	require.NoError(t, err)
	assert.Len(t, list.Runs, 1)

	page, err := c.Run(ctx, r1.ID)
	require.NoError(t, err)
	assert.Equal(t, engine.Aborted, page.Run.State)
	require.Len(t, page.Run.Decisions, 1)
	assert.Equal(t, "wrong night", page.Run.Decisions[0].Reason)
	require.Len(t, page.Audit, 2)
	assert.Equal(t, "decision.abort", page.Audit[1].Event)
	assert.Equal(t, "U02BOB", page.Audit[1].User)

	_, err = c.Run(ctx, "20261203-0000-none")
	assert.ErrorIs(t, err, engine.ErrNotFound)
	assert.ErrorContains(t, err, `no run "20261203-0000-none"`)

	cases := []struct {
		method, path string
		code         int
		says         string
	}{
		{http.MethodGet, "/api/v1/runs?limit=0", http.StatusBadRequest, "limit must be a number from 1 to 500"},
		{http.MethodGet, "/api/v1/runs?limit=lots", http.StatusBadRequest, "limit must be a number"},
		{http.MethodPost, "/api/v1/runs", http.StatusMethodNotAllowed, ""},
		{http.MethodDelete, "/api/v1/runs/" + r1.ID, http.StatusMethodNotAllowed, ""},
	}
	for _, tc := range cases {
		req, err := http.NewRequest(tc.method, web.URL+tc.path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, tc.code, resp.StatusCode, "%s %s", tc.method, tc.path)
		if tc.says != "" {
			var e apiError
			require.NoError(t, json.Unmarshal(b, &e))
			assert.Contains(t, e.Error, tc.says)
		}
	}
	after, err := s.Store().Get(context.Background(), r1.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(2), after.Version, "the API changed nothing")
}

func TestHistoryClientRefusesWhatIsNotAHealthPort(t *testing.T) {
	for _, u := range []string{"", "localhost:8080", "ftp://host/", "http://"} {
		_, err := NewHistoryClient(u)
		assert.ErrorContains(t, err, "http://HOST:PORT", u)
	}
	other := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(other.Close)
	c, err := NewHistoryClient(other.URL)
	require.NoError(t, err)
	_, err = c.List(context.Background(), 5)
	assert.ErrorContains(t, err, "404 Not Found: is this a cutoverbot health port?")
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
