package server

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cutoverbot "github.com/nycmeshnet/cutoverbot"
	"github.com/nycmeshnet/cutoverbot/bot/slackfake"
	"github.com/nycmeshnet/cutoverbot/ops/config"
)

// closedURL is an http URL on which nothing listens: calls fail at once.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	u := "http://" + l.Addr().String() + "/"
	require.NoError(t, l.Close())
	return u
}

// checkConfig is the example configuration against a local Slack, with no cluster,
// resolver or state backend to try and GitHub and the service where nothing listens.
func checkConfig(t *testing.T, slackURL string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cutover.yaml")
	require.NoError(t, os.WriteFile(path, cutoverbot.ExampleConfig, 0o600))
	env := map[string]string{"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_APP_TOKEN": "xapp-test", "GITHUB_TOKEN": "ghp_test"}
	cfg, _, err := config.Load(path, config.Options{RequireTokens: true, Getenv: func(k string) string { return env[k] }})
	require.NoError(t, err)
	cfg.Slack.APIURL = slackURL
	cfg.GitHub.APIURL = closedURL(t)
	cfg.Service.URL = closedURL(t)
	cfg.Clusters = nil
	cfg.DNS.Resolvers = nil
	return cfg
}

// Slack-go gives no auth.test answer at all when the call fails on the way (a cut
// connection, a 5xx, a 429): check reports that on the Slack line and goes on with the
// rest.
func TestCheckGoesOnWhenSlackCannotAnswer(t *testing.T) {
	cases := []struct {
		name   string
		fault  func(*slackfake.Server)
		want   []string
		reinst bool
	}{
		{"connection cut", func(s *slackfake.Server) { s.CutNext("auth.test", 1) }, []string{"cannot be reached", "slack.api_url"}, false},
		{"500", func(s *slackfake.Server) { s.FailNext("auth.test", 1, http.StatusInternalServerError) }, []string{"HTTP 500", "try again"}, false},
		{"429", func(s *slackfake.Server) { s.RateLimitNext("auth.test", 1, 30*time.Second) }, []string{"rate-limiting", "30s"}, false},
		{"token refused", func(s *slackfake.Server) {}, []string{"SLACK_BOT_TOKEN refused", "invalid_auth"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bot := "xoxb-test"
			if tc.reinst {
				bot = "xoxb-other"
			}
			s, err := slackfake.Start(slackfake.Options{BotToken: bot, AppToken: "xapp-test", Channels: map[string]string{"C0123MESHDB": "meshdb"}})
			require.NoError(t, err)
			t.Cleanup(s.Close)
			tc.fault(s)
			results := map[string]CheckResult{}
			var order []string
			for _, r := range Check(context.Background(), checkConfig(t, s.APIURL())) {
				results[r.Name] = r
				order = append(order, r.Name)
			}
			bot1 := results["slack bot token"]
			require.Equal(t, "slack bot token", order[0], "the Slack line comes first")
			assert.False(t, bot1.OK)
			for _, w := range tc.want {
				assert.Contains(t, bot1.Msg, w)
			}
			if !tc.reinst {
				assert.NotContains(t, bot1.Msg, "reinstall", "a Slack that did not answer says nothing about the token")
			}
			// The other lines still ran.
			assert.True(t, results["slack app token"].OK, results["slack app token"].Msg)
			assert.Contains(t, results, "github nycmeshnet/nycmesh-dns")
			assert.Contains(t, results, "service url")
			for _, r := range results {
				assert.NotContains(t, r.Msg, "xoxb-", "no token in %s", r.Name)
			}
		})
	}
}
